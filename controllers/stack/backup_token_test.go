package stack

import (
	"testing"

	"github.com/stretchr/testify/require"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// TestBackupToken: a step in progress sets the BackupPolicy's request token; once it is done the
// policy keeps the last token, never an older one (which it would take as a new request).
func TestBackupToken(t *testing.T) {
	policy := func(token string) *componentsv1alpha1.BackupPolicy {
		return &componentsv1alpha1.BackupPolicy{Spec: componentsv1alpha1.BackupPolicySpec{BackupRequest: token}}
	}
	upgrade := func(phase canopyv1alpha1.UpgradePhase) upgradeDecision {
		return upgradeDecision{backupRequest: "pre-upgrade-g3", upgrade: &canopyv1alpha1.UpgradeStatus{Phase: phase, BackupRequest: "pre-upgrade-g3"}}
	}
	for _, tc := range []struct {
		name string
		bp   *componentsv1alpha1.BackupPolicy
		d    upgradeDecision
		md   majorDecision
		rd   restoreDecision
		// active is the operation that runs (decide sets it).
		active string
		want   string
	}{
		{name: "no policy yet, nothing asked", want: ""},
		{name: "a pre-upgrade backup", bp: policy(""), d: upgrade(canopyv1alpha1.UpgradeBackingUp), active: opUpgrade, want: "pre-upgrade-g3"},
		{name: "a new policy during a pre-upgrade backup", d: upgrade(canopyv1alpha1.UpgradeBackingUp), active: opUpgrade, want: "pre-upgrade-g3"},
		{name: "the upgrade rolls out: its token stays", bp: policy("pre-upgrade-g3"), d: upgrade(canopyv1alpha1.UpgradeRollingOut), want: "pre-upgrade-g3"},
		{name: "a major upgrade's backup wins", bp: policy("pre-upgrade-g3"), d: upgrade(canopyv1alpha1.UpgradeSucceeded),
			md: majorDecision{backupRequest: "pre-major-ab12"}, active: opMajor, want: "pre-major-ab12"},
		{name: "after the major upgrade, not back to the app upgrade's token", bp: policy("pre-major-ab12"),
			d: upgrade(canopyv1alpha1.UpgradeSucceeded), want: "pre-major-ab12"},
		{name: "a restore's safety backup wins over everything", bp: policy("pre-major-ab12"), d: upgrade(canopyv1alpha1.UpgradeBackingUp),
			md: majorDecision{backupRequest: "pre-major-ab12"},
			rd: restoreDecision{backupRequest: "pre-restore-cd34"}, active: opRestore, want: "pre-restore-cd34"},
		{name: "a restore that failed in this reconcile asks nothing: the upgrade starting now asks for its backup", bp: policy("pre-restore-cd34"),
			d: upgrade(canopyv1alpha1.UpgradeBackingUp), rd: restoreDecision{backupRequest: "pre-restore-cd34"}, active: opUpgrade, want: "pre-upgrade-g3"},
		{name: "after the restore, its token stays", bp: policy("pre-restore-cd34"), d: upgrade(canopyv1alpha1.UpgradeSucceeded), want: "pre-restore-cd34"},
		{name: "a recreated policy after everything finished asks nothing", d: upgrade(canopyv1alpha1.UpgradeSucceeded), want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, backupToken(tc.bp, plan{upgrade: tc.d, major: tc.md, restore: tc.rd, active: tc.active}))
		})
	}
}
