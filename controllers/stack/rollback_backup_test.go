package stack

import (
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// TestRollbackOffersThePreUpgradeBackup: a rollback does not undo the new version's migration, so
// after a failed upgrade with backups the Stack keeps the pre-upgrade backup's name in status and
// its Stalled and Degraded messages say how to restore it.
func TestRollbackOffersThePreUpgradeBackup(t *testing.T) {
	h := start(t)
	h.readyStack("rbb", "1.0")
	h.updateStack("rbb", func(s *canopyv1alpha1.Stack) { s.Spec.Version = "2.0" })

	bp := &componentsv1alpha1.BackupPolicy{}
	h.Eventually(func() bool { return h.Get(bp, "rbb") == nil && bp.Spec.BackupRequest != "" }, "a pre-upgrade backup is requested")
	h.backupReady("rbb", &componentsv1alpha1.BackupRequestStatus{ID: bp.Spec.BackupRequest, Phase: componentsv1alpha1.PhaseSucceeded,
		BackupName: "rbb-pre-upgrade"})
	fe := &componentsv1alpha1.Frontend{}
	h.Eventually(func() bool { return h.Get(fe, "rbb") == nil && fe.Spec.Version == "2.0" }, "the Frontend moves to 2.0")

	setStatus(h, "rbb", func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, func(f *componentsv1alpha1.Frontend) {
		f.Status.ObservedGeneration = f.Generation
		f.Status.DesiredVersion, f.Status.Version, f.Status.FailedVersion = "2.0", "1.0", "2.0"
		msg := "the migration Job rbb-migrate-2-0 failed: BackoffLimitExceeded"
		f.Status.Conditions = []metav1.Condition{
			{Type: componentsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: componentsv1alpha1.ReasonMigrationFailed, Message: msg,
				LastTransitionTime: metav1.Now()},
			{Type: componentsv1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: componentsv1alpha1.ReasonMigrationFailed, Message: msg,
				LastTransitionTime: metav1.Now()},
		}
	})
	h.Eventually(func() bool { return h.Get(fe, "rbb") == nil && fe.Spec.Version == "1.0" }, "the Frontend returns to 1.0")
	h.Eventually(func() bool { return conditions.IsTrue(h.stack("rbb"), componentsv1alpha1.ConditionDegraded) }, "the Stack is Degraded")

	s := h.stack("rbb")
	require.Equal(t, canopyv1alpha1.UpgradeFailed, s.Status.Upgrade.Phase)
	require.Equal(t, "rbb-pre-upgrade", s.Status.Upgrade.BackupName, "the pre-upgrade backup is kept after the rollback")
	for _, c := range []string{componentsv1alpha1.ConditionStalled, componentsv1alpha1.ConditionDegraded} {
		msg := conditions.Get(s, c).Message
		require.Contains(t, msg, "rbb-pre-upgrade", c)
		require.Contains(t, msg, "spec.restoreRequest", c)
		require.Contains(t, msg, "kubectl canopy restore rbb --backup rbb-pre-upgrade", c)
	}
}
