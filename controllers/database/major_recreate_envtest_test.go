package database

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
)

// TestDatabaseRecreatedOnAnotherMajorsData: the claim holding the data says whose it is (16).
// A Database deleted and recreated by its Stack at 17 (the Stack's version bumped meanwhile, or a
// major upgrade interrupted by the deletion) used to start PostgreSQL 17 on 16's data, which it
// cannot read: a crash loop. It starts 16 on its data instead, and the upgrade waits for its
// backup as from any running 16.
func TestDatabaseRecreatedOnAnotherMajorsData(t *testing.T) {
	h := start(t)
	h.readyDatabase("back", "16")
	claim := h.ownedClaim("back", desired.DefaultDataVolume)
	h.Eventually(func() bool {
		pvc := &corev1.PersistentVolumeClaim{}
		return h.Get(pvc, claim.Name) == nil && pvc.Labels[desired.LabelCurrentData] == "true" && pvc.Labels[desired.LabelDataMajor] == "16"
	}, "the claim says it holds PostgreSQL 16's data")

	old := h.database("back")
	require.NoError(t, h.C.Delete(context.Background(), old))
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&componentsv1alpha1.Database{}, "back")) }, "the Database is gone")
	h.collectGarbage(old.UID)
	h.deletePod("back")

	h.create("back", "17", func(d *componentsv1alpha1.Database) { d.Spec.AllowMajorVersionUpgrade = true })
	sts := h.statefulSet("back", func(*appsv1.StatefulSet) bool { return true }, "the StatefulSet is recreated")
	require.Equal(t, "docker.io/library/postgres:16", sts.Spec.Template.Spec.Containers[0].Image, "the major whose data the claim holds")
	require.Equal(t, desired.DefaultDataVolume, sts.Spec.VolumeClaimTemplates[0].Name, "on that claim")
	h.runPod("back", true, "")
	stalled := h.waitCondition("back", componentsv1alpha1.ConditionStalled, metav1.ConditionTrue, componentsv1alpha1.ReasonMajorUpgradeBlocked)
	require.Contains(t, stalled.Message, "PostgreSQL 16 keeps running")
	// Stalled can be written by the pass that finds the claim's major, before the pod's version
	// reaches status: the version follows in a later pass.
	h.Eventually(func() bool { return h.database("back").Status.Version == "16" }, "status says 16 runs")
	require.False(t, conditions.IsTrue(h.database("back"), componentsv1alpha1.ConditionReady) &&
		h.database("back").Status.Version == "17", "never 17 on 16's data")
}
