package database

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestDeletedSecretsWhileTheDataExists: the generated Secrets deleted by hand while the data volume
// exists. Recreated blindly, they would hold passwords PostgreSQL does not know. The credentials
// Secret comes back with a new password, which the controller then sets inside PostgreSQL (and
// status records, which restarts the web tier); the superuser Secret is not made again, since
// nothing could set its password, and the Database says what to do.
func TestDeletedSecretsWhileTheDataExists(t *testing.T) {
	h := start(t)
	h.readyDatabase("lost", "17")
	claim := h.ownedClaim("lost", desired.DefaultDataVolume)
	ctx := context.Background()
	h.Eventually(func() bool {
		pvc := &corev1.PersistentVolumeClaim{}
		return h.Get(pvc, claim.Name) == nil && pvc.Labels[desired.LabelCurrentData] == "true"
	}, "PostgreSQL ran ready on its data volume")

	recreated := metrics.DriftCorrections.WithLabelValues("Secret", "recreated")
	before := testutil.ToFloat64(recreated)
	creds := &corev1.Secret{}
	require.NoError(t, h.Get(creds, "lost-db-credentials"))
	old := string(creds.Data["password"])
	require.NoError(t, h.C.Delete(ctx, creds))
	h.Eventually(func() bool {
		return h.Get(creds, "lost-db-credentials") == nil && string(creds.Data["password"]) != old && creds.Annotations[annotationPasswordUnapplied] == ""
	}, "the credentials Secret comes back with a new password, applied")
	h.Eventually(func() bool { return h.admin.password(desired.AppUser) == string(creds.Data["password"]) }, "PostgreSQL has the new password")
	h.Eventually(func() bool { return h.database("lost").Status.CredentialsRecreated != "" }, "status records it (the web tier restarts)")
	h.WaitEvent(h.database("lost"), "CredentialsRecreated")
	require.Equal(t, before+1, testutil.ToFloat64(recreated), "the remediation is counted")

	super := &corev1.Secret{}
	require.NoError(t, h.Get(super, "lost-db-superuser"))
	require.NoError(t, h.C.Delete(ctx, super))
	stalled := h.waitCondition("lost", componentsv1alpha1.ConditionStalled, metav1.ConditionTrue, componentsv1alpha1.ReasonSuperuserSecretLost)
	require.Contains(t, stalled.Message, "lost-db-superuser")
	require.True(t, apierrors.IsNotFound(h.Get(&corev1.Secret{}, "lost-db-superuser")), "no superuser Secret that would not work")
	requireNoReconcile(t, "waiting for a person costs nothing")

	// The person restores it: the Database recovers.
	super.ResourceVersion, super.UID = "", ""
	require.NoError(t, h.C.Create(ctx, super))
	h.Eventually(func() bool { return !conditions.IsTrue(h.database("lost"), componentsv1alpha1.ConditionStalled) }, "no longer Stalled")
	require.NotContains(t, testenv.EventReasons(t, h.C, h.database("lost")), "RotationFailed")
}

func (f *fakeAdmin) password(role string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.passwords[role]
}
