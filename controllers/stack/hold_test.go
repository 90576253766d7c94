package stack

import (
	"testing"

	"github.com/stretchr/testify/require"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

func TestBackupHold(t *testing.T) {
	upgrade := func(phase canopyv1alpha1.UpgradePhase, backup string) upgradeDecision {
		return upgradeDecision{upgrade: &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "2.0", Phase: phase, BackupName: backup}}
	}
	major := func(step canopyv1alpha1.OperationStep, backup string) majorDecision {
		return majorDecision{progress: &canopyv1alpha1.DatabaseUpgradeProgress{FromVersion: "16.2", ToVersion: "17", Step: step, BackupName: backup}}
	}
	restore := func(step canopyv1alpha1.OperationStep) restoreDecision {
		return restoreDecision{progress: &canopyv1alpha1.RestoreProgress{ID: "r1", BackupName: "shop-20260101-020000", Step: step}}
	}
	cases := []struct {
		name       string
		bp         *componentsv1alpha1.BackupPolicy
		d          upgradeDecision
		md         majorDecision
		rd         restoreDecision
		wantReason string
		wantKeep   []string
	}{
		{name: "nothing runs"},
		{name: "upgrade backing up: held, nothing to protect yet", d: upgrade(canopyv1alpha1.UpgradeBackingUp, ""), wantReason: canopyv1alpha1.ReasonUpgrading},
		{name: "upgrade rolling out: the pre-upgrade backup is protected", d: upgrade(canopyv1alpha1.UpgradeRollingOut, "shop-req-1"),
			wantReason: canopyv1alpha1.ReasonUpgrading, wantKeep: []string{"shop-req-1"}},
		{name: "failed upgrade: not held, its backup still protected", d: upgrade(canopyv1alpha1.UpgradeFailed, "shop-req-1"),
			wantKeep: []string{"shop-req-1"}},
		{name: "succeeded upgrade releases its backup", d: upgrade(canopyv1alpha1.UpgradeSucceeded, "shop-req-1")},
		{name: "cancelled upgrade releases its backup", d: upgrade(canopyv1alpha1.UpgradeCancelled, "shop-req-1")},
		{name: "major upgrade stopping the web tier", md: major(canopyv1alpha1.StepStoppingFrontend, ""), wantReason: canopyv1alpha1.ReasonDatabaseUpgrading},
		{name: "major upgrade loading its backup", md: major(canopyv1alpha1.StepUpgrading, "shop-req-2"),
			wantReason: canopyv1alpha1.ReasonDatabaseUpgrading, wantKeep: []string{"shop-req-2"}},
		{name: "major upgrade over", md: major(canopyv1alpha1.StepSucceeded, "shop-req-2")},
		{name: "failed major upgrade: the old major runs on its volume", md: major(canopyv1alpha1.StepFailed, "shop-req-2")},
		{name: "restore: its source is protected", rd: restore(canopyv1alpha1.StepStoppingFrontend),
			wantReason: canopyv1alpha1.ReasonRestoring, wantKeep: []string{"shop-20260101-020000"}},
		{name: "restore: and its safety backup once taken", rd: restore(canopyv1alpha1.StepRestoring),
			bp:         policy(restoreToken("r1"), componentsv1alpha1.PhaseSucceeded, "shop-req-3", ""),
			wantReason: canopyv1alpha1.ReasonRestoring, wantKeep: []string{"shop-20260101-020000", "shop-req-3"}},
		{name: "restore: another request's backup is not the safety backup", rd: restore(canopyv1alpha1.StepRestoring),
			bp:         policy("pre-upgrade-g2", componentsv1alpha1.PhaseSucceeded, "shop-req-4", ""),
			wantReason: canopyv1alpha1.ReasonRestoring, wantKeep: []string{"shop-20260101-020000"}},
		{name: "restore over", rd: restore(canopyv1alpha1.StepSucceeded)},
		{name: "a major upgrade after a failed upgrade: both backups are protected", md: major(canopyv1alpha1.StepUpgrading, "shop-req-2"),
			d: upgrade(canopyv1alpha1.UpgradeFailed, "shop-req-1"), wantReason: canopyv1alpha1.ReasonDatabaseUpgrading,
			wantKeep: []string{"shop-req-2", "shop-req-1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hold, keep := backupHold(c.bp, planOf(c.d, c.rd, c.md))
			require.Equal(t, c.wantKeep, keep)
			if c.wantReason == "" {
				require.Nil(t, hold)
				return
			}
			require.NotNil(t, hold)
			require.Equal(t, c.wantReason, hold.Reason)
			require.NotEmpty(t, hold.Message)
		})
	}
}

// planOf is the plan of these decisions, with the first that runs active (as decide makes it).
func planOf(d upgradeDecision, rd restoreDecision, md majorDecision) plan {
	p := plan{upgrade: d, restore: rd, major: md}
	for _, op := range operationOrder {
		if p.runs(op) {
			p.active = op
			break
		}
	}
	return p
}
