package stack

import (
	corev1 "k8s.io/api/core/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/metrics"
)

// recordTransitions emits an event for each phase change between two statuses of a Stack and
// counts finished upgrades (readiness is read from status at each scrape: internal/metrics).
func (r *Reconciler) recordTransitions(before, after *canopyv1alpha1.Stack) {
	ready := conditions.IsTrue(after, componentsv1alpha1.ConditionReady)
	if ready && !conditions.IsTrue(before, componentsv1alpha1.ConditionReady) {
		r.Recorder.Eventf(after, corev1.EventTypeNormal, "Ready", "version %s is serving", after.Status.Version)
	}
	if step := rolloutStep(after); step != "" && step != rolloutStep(before) {
		r.Recorder.Eventf(after, corev1.EventTypeNormal, "Step", "rollout step %s started", step)
	}
	if c := conditions.Get(after, componentsv1alpha1.ConditionStalled); c != nil {
		if old := conditions.Get(before, componentsv1alpha1.ConditionStalled); old == nil || old.Reason != c.Reason {
			r.Recorder.Event(after, corev1.EventTypeWarning, c.Reason, c.Message)
		}
	}
	if after.Spec.Paused && !conditions.IsTrue(before, canopyv1alpha1.ConditionPaused) {
		r.Recorder.Event(after, corev1.EventTypeNormal, "Paused", "spec.paused is true: no changes are made")
	}

	if rs := after.Status.Restore; rs != nil {
		if old := before.Status.Restore; old == nil || old.ID != rs.ID || old.Step != rs.Step {
			kind := corev1.EventTypeNormal
			if rs.Step == canopyv1alpha1.StepFailed {
				kind = corev1.EventTypeWarning
			}
			r.Recorder.Eventf(after, kind, "Restore"+string(rs.Step), "in-place restore %s of %s: %s %s", rs.ID, rs.BackupName, rs.Step, rs.Message)
		}
	}

	u, old := after.Status.Upgrade, before.Status.Upgrade
	if u == nil || (old != nil && old.Phase == u.Phase && old.ToVersion == u.ToVersion && old.FromVersion == u.FromVersion) {
		return
	}
	switch u.Phase {
	case canopyv1alpha1.UpgradeBackingUp:
		r.Recorder.Eventf(after, corev1.EventTypeNormal, "UpgradeStarted", "upgrading from %s to %s: taking a pre-upgrade backup", u.FromVersion, u.ToVersion)
	case canopyv1alpha1.UpgradeRollingOut:
		if old != nil && old.Phase == canopyv1alpha1.UpgradeBackingUp && old.ToVersion == u.ToVersion {
			r.Recorder.Eventf(after, corev1.EventTypeNormal, "PreUpgradeBackupCompleted", "backup %s taken; rolling out %s", u.BackupName, u.ToVersion)
		} else {
			r.Recorder.Eventf(after, corev1.EventTypeNormal, "UpgradeStarted", "upgrading from %s to %s", u.FromVersion, u.ToVersion)
		}
	case canopyv1alpha1.UpgradeSucceeded:
		metrics.StackUpgrades.WithLabelValues("succeeded").Inc()
		r.Recorder.Eventf(after, corev1.EventTypeNormal, "UpgradeSucceeded", "version %s is serving", u.ToVersion)
	case canopyv1alpha1.UpgradeCancelled:
		r.Recorder.Eventf(after, corev1.EventTypeNormal, "UpgradeCancelled", "%s", u.Message)
	case canopyv1alpha1.UpgradeFailed:
		metrics.StackUpgrades.WithLabelValues("failed").Inc()
		if old != nil && old.Phase == canopyv1alpha1.UpgradeRollingOut {
			metrics.StackRollbacks.Inc()
		}
		r.Recorder.Eventf(after, corev1.EventTypeWarning, componentsv1alpha1.ReasonUpgradeFailed,
			"upgrade from %s to %s failed, back to %s: %s", u.FromVersion, u.ToVersion, u.FromVersion, u.Message)
	}
}

func rolloutStep(s *canopyv1alpha1.Stack) canopyv1alpha1.RolloutStep {
	if s.Status.Rollout == nil {
		return ""
	}
	return s.Status.Rollout.Step
}
