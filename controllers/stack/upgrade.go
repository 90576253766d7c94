package stack

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// upgradeDecision is what the upgrade orchestration decides for one reconcile.
type upgradeDecision struct {
	// frontendVersion goes into the Frontend's spec.
	frontendVersion string
	// backupRequest goes into the BackupPolicy's spec (kept after the backup, so that it is not
	// taken again).
	backupRequest string
	// serving becomes status.version: the version that actually serves.
	serving string
	// upgrade becomes status.upgrade.
	upgrade *canopyv1alpha1.UpgradeStatus
}

// inFlight reports whether an upgrade is between its start and its end.
func inFlight(u *canopyv1alpha1.UpgradeStatus) bool {
	return u != nil && (u.Phase == canopyv1alpha1.UpgradeBackingUp || u.Phase == canopyv1alpha1.UpgradeRollingOut)
}

// decideUpgrade is the upgrade state machine. From the Stack (spec.version, status.version and
// status.upgrade) and the children's statuses it decides the Frontend's version, the pre-upgrade
// backup request, and the new upgrade status. Pure: the same inputs give the same decision.
//
// serving == "" is the first rollout, which is not an upgrade. A new target starts an upgrade:
// backup first (when backups are configured and beforeUpgrade holds), then the Frontend moves to
// the target; when the Frontend reports that target failed, it returns to the serving version and
// the upgrade is Failed until spec.version changes.
func decideUpgrade(s *canopyv1alpha1.Stack, fe *componentsv1alpha1.Frontend, bp *componentsv1alpha1.BackupPolicy, now metav1.Time) upgradeDecision {
	serving, target := s.Status.Version, s.Spec.Version
	var up *canopyv1alpha1.UpgradeStatus
	if s.Status.Upgrade != nil {
		up = s.Status.Upgrade.DeepCopy()
	}
	d := upgradeDecision{serving: serving, upgrade: up}
	if up != nil {
		d.backupRequest = up.BackupRequest
	}

	switch serving {
	case "":
		d.frontendVersion = target
		if frontendServes(fe, target) {
			d.serving = target
		}
		return d
	case target:
		d.frontendVersion = target
		if inFlight(up) || (up != nil && up.Phase == canopyv1alpha1.UpgradeFailed) {
			// spec.version went back to the serving version: the upgrade is over, and the same
			// version may be tried again later.
			up.Phase, up.Message = canopyv1alpha1.UpgradeCancelled, fmt.Sprintf("upgrade to %s cancelled: spec.version returned to %s", up.ToVersion, serving)
		}
		return d
	}

	if up == nil || up.ToVersion != target || up.FromVersion != serving ||
		up.Phase == canopyv1alpha1.UpgradeSucceeded || up.Phase == canopyv1alpha1.UpgradeCancelled {
		up = &canopyv1alpha1.UpgradeStatus{FromVersion: serving, ToVersion: target, Phase: canopyv1alpha1.UpgradeRollingOut, StartTime: &now}
		// What the spec asks decides, not what the cache holds: a BackupPolicy created in the same
		// edit, or recreated, is awaited rather than skipped.
		if s.BackupBeforeUpgrade() {
			up.Phase = canopyv1alpha1.UpgradeBackingUp
			// One token per spec generation: a retry or a restart never asks for a second backup.
			up.BackupRequest = fmt.Sprintf("pre-upgrade-g%d", s.Generation)
		}
		d.upgrade = up
	}

	switch up.Phase {
	case canopyv1alpha1.UpgradeBackingUp:
		d.frontendVersion = serving
		switch req := lastRequest(bp); {
		case s.Spec.Backup == nil:
			up.Phase = canopyv1alpha1.UpgradeRollingOut // backups were turned off meanwhile
		case req != nil && req.ID == up.BackupRequest && req.Phase == componentsv1alpha1.PhaseSucceeded:
			up.Phase, up.BackupName = canopyv1alpha1.UpgradeRollingOut, req.BackupName
		case req != nil && req.ID == up.BackupRequest && req.Phase == componentsv1alpha1.PhaseFailed:
			up.Phase, up.Message = canopyv1alpha1.UpgradeFailed, "pre-upgrade backup failed: "+req.Message
		}
	}
	if up.Phase == canopyv1alpha1.UpgradeRollingOut {
		d.frontendVersion = target
		if failed, msg := frontendFailed(fe, target); failed {
			up.Phase, up.Message = canopyv1alpha1.UpgradeFailed, msg
		} else if frontendServes(fe, target) {
			up.Phase, up.Message = canopyv1alpha1.UpgradeSucceeded, ""
			d.serving = target
		}
	}
	if up.Phase == canopyv1alpha1.UpgradeFailed {
		// Roll back: the Frontend returns to the version that served before.
		d.frontendVersion = serving
	}
	d.backupRequest = up.BackupRequest
	return d
}

// newlyFailed reports whether this decision fails an upgrade that status does not show failed yet.
func newlyFailed(before *canopyv1alpha1.Stack, d upgradeDecision) bool {
	return d.upgrade != nil && d.upgrade.Phase == canopyv1alpha1.UpgradeFailed &&
		(before.Status.Upgrade == nil || before.Status.Upgrade.Phase != canopyv1alpha1.UpgradeFailed || before.Status.Upgrade.ToVersion != d.upgrade.ToVersion)
}

func lastRequest(bp *componentsv1alpha1.BackupPolicy) *componentsv1alpha1.BackupRequestStatus {
	if bp == nil {
		return nil
	}
	return bp.Status.LastRequest
}

// frontendServes reports whether the Frontend has rolled out version and is Ready, as observed for
// its current spec.
func frontendServes(fe *componentsv1alpha1.Frontend, version string) bool {
	return fe != nil && fe.Status.ObservedGeneration == fe.Generation && fe.Status.Version == version &&
		conditions.IsTrue(fe, componentsv1alpha1.ConditionReady)
}

// frontendFailed reports whether the Frontend says that version failed (migration or rollout), with
// the Frontend's own explanation.
func frontendFailed(fe *componentsv1alpha1.Frontend, version string) (bool, string) {
	// Only a Frontend that runs this attempt, as observed by its controller, can report it failed;
	// anything else may be left over from an earlier attempt.
	if fe == nil || fe.Spec.Version != version || fe.Status.ObservedGeneration != fe.Generation {
		return false, ""
	}
	explain := func() string {
		for _, t := range []string{componentsv1alpha1.ConditionDegraded, componentsv1alpha1.ConditionStalled, componentsv1alpha1.ConditionReady} {
			if c := conditions.Get(fe,
				t); c != nil && c.Message != "" && (c.Reason == componentsv1alpha1.ReasonMigrationFailed ||
				c.Reason == componentsv1alpha1.ReasonRolloutFailed) {
				return fmt.Sprintf("version %s failed (%s): %s", version, c.Reason, c.Message)
			}
		}
		return fmt.Sprintf("version %s failed", version)
	}
	if fe.Status.FailedVersion == version {
		return true, explain()
	}
	if m := fe.Status.Migration; m != nil && m.Version == version && m.Phase == componentsv1alpha1.PhaseFailed {
		return true, explain()
	}
	return false, ""
}

// pausedDecision changes nothing while the Stack is paused: the Frontend keeps the version it has,
// no upgrade starts, and an upgrade in progress waits.
func pausedDecision(s *canopyv1alpha1.Stack, fe *componentsv1alpha1.Frontend) upgradeDecision {
	d := upgradeDecision{serving: s.Status.Version, upgrade: s.Status.Upgrade.DeepCopy(), frontendVersion: s.Status.Version}
	if fe != nil {
		d.frontendVersion = fe.Spec.Version
	}
	if d.upgrade != nil {
		d.backupRequest = d.upgrade.BackupRequest
	}
	return d
}
