//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// TestUpgradeToFailingPodsRollsBack: the pods of version 2.0.0-broken never become ready (kwok
// Stage canopy-pod-crashloop); after the progress deadline the web tier returns to 1.0.0,
// status.version never leaves it, and the Stack is Stalled with the reason.
func TestUpgradeToFailingPodsRollsBack(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "rb", func(s *canopyv1alpha1.Stack) { s.Spec.Frontend.ProgressDeadlineSeconds = 30 })
	waitReady(t, ns, "rb", "1.0.0")

	update(t, ns, "rb", func(s *canopyv1alpha1.Stack) { s.Spec.Version = "2.0.0-broken" })
	start := time.Now()
	require.Eventually(t, func() bool {
		s := stack(t, ns, "rb")
		require.Equal(t, "1.0.0", s.Status.Version, "status.version never shows the failing version")
		st := conditions.Get(s, componentsv1alpha1.ConditionStalled)
		return st != nil && st.Reason == componentsv1alpha1.ReasonUpgradeFailed && s.Status.Upgrade != nil && s.Status.Upgrade.Phase == "Failed"
	}, wait, 200*time.Millisecond, "the failed upgrade is rolled back and reported")
	t.Logf("failing upgrade rolled back and reported after %s", time.Since(start).Round(100*time.Millisecond))
	t.Logf("Stalled: %s", conditions.Get(stack(t, ns, "rb"), componentsv1alpha1.ConditionStalled).Message)
	require.Eventually(t, func() bool {
		dep := &appsv1.Deployment{}
		return c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rb-web"}, dep) == nil &&
			dep.Spec.Template.Spec.Containers[0].Image == "ghcr.io/acme/shop:1.0.0" && dep.Status.ReadyReplicas == 2 && dep.Status.UpdatedReplicas == 2
	}, wait, 200*time.Millisecond, "the old version serves again")
}

// requirePluginStatus checks `kubectl canopy status` on the simulated cluster (kwok) with the real
// operator: the tree names the Stack's workloads as the controllers made them (and the lines in
// also), and -o json agrees that nothing needs attention.
func requirePluginStatus(t *testing.T, ns, name string, also ...string) {
	t.Helper()
	var out string
	require.Eventually(t, func() bool {
		var err error
		out, err = kubectlCanopy(t, ns, "status", name)
		return err == nil && strings.Contains(out, "Nothing needs your attention.")
	}, wait, time.Second, "kubectl canopy status shows a healthy Stack")
	for _, want := range append([]string{"Stack " + ns + "/" + name + "  Ready", "StatefulSet " + name + "-postgres",
		"Deployment " + name + "-web"}, also...) {
		require.Contains(t, out, want)
	}
	t.Logf("kubectl canopy status %s:\n%s", name, out)
	js, err := kubectlCanopy(t, ns, "status", name, "-o", "json")
	require.NoError(t, err)
	var r struct {
		Ready    bool
		Problems []any
	}
	require.NoError(t, json.Unmarshal([]byte(js), &r))
	require.True(t, r.Ready)
	require.Empty(t, r.Problems)

	// The manager runs as a process here, not in a pod: the report says where its log is not.
	out, err = kubectlCanopy(t, ns, "report", name, "-f", filepath.Join(t.TempDir(), "report.tar.gz"))
	require.NoError(t, err)
	require.Contains(t, out, "no Canopy manager pod in the cluster")
	t.Logf("kubectl canopy report %s:\n%s", name, out)
}

// TestDatabaseMajorUpgrade: PostgreSQL 16 → 17 on real StatefulSet and garbage collector: the web
// tier stops, a backup is taken, the StatefulSet is replaced on a new volume, the backup is
// loaded, and the web tier serves again; the old data volume is kept.
func TestDatabaseMajorUpgrade(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "pg", withBackups(""), func(s *canopyv1alpha1.Stack) {
		s.Spec.Database.Version, s.Spec.Database.AllowMajorVersionUpgrade = "16", true
	})
	waitReady(t, ns, "pg", "1.0.0")
	update(t, ns, "pg", func(s *canopyv1alpha1.Stack) { s.Spec.Database.Version = "17" })
	start := time.Now()
	require.Eventually(t, func() bool {
		u := stack(t, ns, "pg").Status.DatabaseUpgrade
		return u != nil && u.Step == "Succeeded"
	}, wait, 200*time.Millisecond, "the major upgrade succeeds")
	d := waitReady(t, ns, "pg", "1.0.0")
	t.Logf("major upgrade 16 → 17 done in %s (Ready after %s more)", time.Since(start).Round(100*time.Millisecond), d.Round(100*time.Millisecond))

	s := stack(t, ns, "pg")
	db := &componentsv1alpha1.Database{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pg"}, db))
	require.Equal(t, "17", componentsv1alpha1.MajorVersion(db.Status.Version))
	m := db.Status.MajorUpgrade
	require.Equal(t, componentsv1alpha1.PhaseSucceeded, m.Phase)
	require.Equal(t, s.Status.DatabaseUpgrade.BackupName, m.BackupName, "the backup the Stack took is the one loaded")
	requireCatalogued(t, ns, "pg", m.BackupName)
	for _, claim := range []string{m.PreviousVolumeClaim, m.VolumeClaim} {
		pvc := &corev1.PersistentVolumeClaim{}
		require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: claim}, pvc), "the volume %s exists", claim)
		require.Equal(t, corev1.ClaimBound, pvc.Status.Phase)
	}
	require.Equal(t, "data-pg-postgres-0", m.PreviousVolumeClaim, "the old data volume is kept")
	sts := &appsv1.StatefulSet{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pg-postgres"}, sts))
	require.Equal(t, fmt.Sprintf("%s-pg-postgres-0", sts.Spec.VolumeClaimTemplates[0].Name), m.VolumeClaim)
	dep := &appsv1.Deployment{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "pg-web"}, dep))
	require.Equal(t, ptr.To[int32](2), dep.Spec.Replicas, "the web tier runs again")
}
