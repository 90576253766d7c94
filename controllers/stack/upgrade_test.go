package stack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

var now = metav1.NewTime(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))

func testStack(target, serving string, backup bool, up *canopyv1alpha1.UpgradeStatus) *canopyv1alpha1.Stack {
	s := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "ns", Generation: 7}}
	s.Spec.Version = target
	s.Status.Version = serving
	s.Status.Upgrade = up
	if backup {
		s.Spec.Backup = &canopyv1alpha1.StackBackup{Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}}}
	}
	return s
}

// frontend returns a Frontend whose controller has observed its spec, serving version.
func frontend(version string, ready bool) *componentsv1alpha1.Frontend {
	fe := &componentsv1alpha1.Frontend{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	fe.Status.ObservedGeneration = 3
	fe.Status.Version = version
	st := metav1.ConditionFalse
	if ready {
		st = metav1.ConditionTrue
	}
	fe.Status.Conditions = []metav1.Condition{{Type: componentsv1alpha1.ConditionReady, Status: st, Reason: "R"}}
	return fe
}

func failedFrontend(serving, failed string) *componentsv1alpha1.Frontend {
	fe := frontend(serving, false)
	fe.Spec.Version = failed
	fe.Status.FailedVersion = failed
	fe.Status.Conditions = []metav1.Condition{
		{Type: componentsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: componentsv1alpha1.ReasonRolloutFailed,
			Message: "pods of 2.0 not available after 600s"},
		{Type: componentsv1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: componentsv1alpha1.ReasonRolloutFailed,
			Message: "pods of 2.0 not available after 600s"},
	}
	return fe
}

func policy(reqID string, phase componentsv1alpha1.RequestPhase, backupName, msg string) *componentsv1alpha1.BackupPolicy {
	bp := &componentsv1alpha1.BackupPolicy{}
	if reqID != "" {
		bp.Status.LastRequest = &componentsv1alpha1.BackupRequestStatus{ID: reqID, Phase: phase, BackupName: backupName, Message: msg}
	}
	return bp
}

func TestDecideUpgrade(t *testing.T) {
	backingUp := &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "2.0", Phase: canopyv1alpha1.UpgradeBackingUp,
		BackupRequest: "pre-upgrade-g7", StartTime: &now}
	rollingOut := &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "2.0", Phase: canopyv1alpha1.UpgradeRollingOut,
		BackupRequest: "pre-upgrade-g7", BackupName: "shop-1", StartTime: &now}
	failed := &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "2.0", Phase: canopyv1alpha1.UpgradeFailed,
		BackupRequest: "pre-upgrade-g7", Message: "boom", StartTime: &now}

	for _, tc := range []struct {
		name        string
		stack       *canopyv1alpha1.Stack
		fe          *componentsv1alpha1.Frontend
		bp          *componentsv1alpha1.BackupPolicy
		wantFE      string
		wantServing string
		wantPhase   canopyv1alpha1.UpgradePhase // "" when no upgrade status
		wantToken   string
		wantMsg     string
	}{
		{name: "first rollout before the frontend exists", stack: testStack("1.0", "", true, nil),
			wantFE: "1.0", wantServing: ""},
		{name: "first rollout completes when the frontend serves", stack: testStack("1.0", "", true, nil), fe: frontend("1.0", true),
			wantFE: "1.0", wantServing: "1.0"},
		{name: "first rollout: a stale frontend status is not trusted", stack: testStack("1.0", "", true, nil),
			fe:     func() *componentsv1alpha1.Frontend { f := frontend("1.0", true); f.Generation = 4; return f }(),
			wantFE: "1.0", wantServing: ""},
		{name: "steady state", stack: testStack("1.0", "1.0", true, nil), fe: frontend("1.0", true), bp: policy("", "", "", ""),
			wantFE: "1.0", wantServing: "1.0"},
		{name: "new version with backups starts with a backup", stack: testStack("2.0", "1.0", true, nil), fe: frontend("1.0", true),
			bp:     policy("", "", "", ""),
			wantFE: "1.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeBackingUp, wantToken: "pre-upgrade-g7"},
		{name: "new version without backups rolls out at once", stack: testStack("2.0", "1.0", false, nil), fe: frontend("1.0", true),
			wantFE: "2.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeRollingOut},
		{name: "new version with beforeUpgrade off rolls out at once", stack: func() *canopyv1alpha1.Stack {
			s := testStack("2.0", "1.0", true, nil)
			s.Spec.Backup.BeforeUpgrade = ptr.To(false)
			return s
		}(), fe: frontend("1.0", true), bp: policy("", "", "", ""), wantFE: "2.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeRollingOut},
		{name: "waits for its own backup request, not an older one", stack: testStack("2.0", "1.0", true, backingUp), fe: frontend("1.0", true),
			bp:     policy("pre-upgrade-g3", componentsv1alpha1.PhaseSucceeded, "old", ""),
			wantFE: "1.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeBackingUp, wantToken: "pre-upgrade-g7"},
		{name: "backup done: roll out", stack: testStack("2.0", "1.0", true, backingUp), fe: frontend("1.0", true),
			bp:     policy("pre-upgrade-g7", componentsv1alpha1.PhaseSucceeded, "shop-1", ""),
			wantFE: "2.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeRollingOut, wantToken: "pre-upgrade-g7"},
		{name: "backup failed: the upgrade fails, nothing rolls", stack: testStack("2.0", "1.0", true, backingUp), fe: frontend("1.0", true),
			bp:     policy("pre-upgrade-g7", componentsv1alpha1.PhaseFailed, "", "bucket unreachable"),
			wantFE: "1.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeFailed,
			wantToken: "pre-upgrade-g7", wantMsg: "pre-upgrade backup failed: bucket unreachable"},
		{name: "rollout succeeds", stack: testStack("2.0", "1.0", true, rollingOut), fe: frontend("2.0", true),
			bp:     policy("pre-upgrade-g7", componentsv1alpha1.PhaseSucceeded, "shop-1", ""),
			wantFE: "2.0", wantServing: "2.0", wantPhase: canopyv1alpha1.UpgradeSucceeded, wantToken: "pre-upgrade-g7"},
		{name: "rollout in progress", stack: testStack("2.0", "1.0", true, rollingOut), fe: frontend("1.0", false),
			bp:     policy("pre-upgrade-g7", componentsv1alpha1.PhaseSucceeded, "shop-1", ""),
			wantFE: "2.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeRollingOut, wantToken: "pre-upgrade-g7"},
		{name: "rollout failed: roll back and keep serving the old version", stack: testStack("2.0", "1.0", true, rollingOut), fe: failedFrontend("1.0", "2.0"),
			bp:     policy("pre-upgrade-g7", componentsv1alpha1.PhaseSucceeded, "shop-1", ""),
			wantFE: "1.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeFailed,
			wantToken: "pre-upgrade-g7", wantMsg: "version 2.0 failed (RolloutFailed): pods of 2.0 not available after 600s"},
		{name: "migration failed", stack: testStack("2.0", "1.0", false, rollingOut), fe: func() *componentsv1alpha1.Frontend {
			f := frontend("1.0", false)
			f.Spec.Version = "2.0"
			f.Status.Migration = &componentsv1alpha1.MigrationStatus{Version: "2.0", Phase: componentsv1alpha1.PhaseFailed}
			f.Status.Conditions[0].Reason, f.Status.Conditions[0].Message = componentsv1alpha1.ReasonMigrationFailed, "job failed: BackoffLimitExceeded"
			return f
		}(), wantFE: "1.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeFailed, wantToken: "pre-upgrade-g7", wantMsg: "MigrationFailed"},
		{name: "a failed upgrade is not retried while the spec is unchanged", stack: testStack("2.0", "1.0", true, failed), fe: frontend("1.0", true),
			bp:     policy("pre-upgrade-g7", componentsv1alpha1.PhaseSucceeded, "shop-1", ""),
			wantFE: "1.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeFailed, wantToken: "pre-upgrade-g7", wantMsg: "boom"},
		{name: "a new version after a failure starts a new upgrade", stack: func() *canopyv1alpha1.Stack {
			s := testStack("2.1", "1.0", true, failed)
			s.Generation = 9
			return s
		}(), fe: frontend("1.0", true), bp: policy("pre-upgrade-g7", componentsv1alpha1.PhaseSucceeded, "shop-1", ""),
			wantFE: "1.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeBackingUp, wantToken: "pre-upgrade-g9"},
		{name: "returning to the serving version cancels the upgrade", stack: testStack("1.0", "1.0", true, rollingOut), fe: frontend("1.0", true),
			bp:     policy("pre-upgrade-g7", componentsv1alpha1.PhaseSucceeded, "shop-1", ""),
			wantFE: "1.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeCancelled,
			wantToken: "pre-upgrade-g7", wantMsg: "cancelled"},
		{name: "returning to the serving version after a failure ends it", stack: testStack("1.0", "1.0", true, failed), fe: frontend("1.0", true),
			bp:     policy("pre-upgrade-g7", componentsv1alpha1.PhaseSucceeded, "shop-1", ""),
			wantFE: "1.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeCancelled,
			wantToken: "pre-upgrade-g7", wantMsg: "cancelled"},
		{name: "a cancelled version can be tried again", stack: func() *canopyv1alpha1.Stack {
			s := testStack("2.0", "1.0", true, &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "2.0",
				Phase: canopyv1alpha1.UpgradeCancelled, BackupRequest: "pre-upgrade-g7"})
			s.Generation = 11
			return s
		}(), fe: frontend("1.0", true), bp: policy("pre-upgrade-g7", componentsv1alpha1.PhaseSucceeded, "shop-1", ""),
			wantFE: "1.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeBackingUp, wantToken: "pre-upgrade-g11"},
		{name: "backups wanted but the BackupPolicy not yet observed: wait for it", stack: testStack("2.0", "1.0", true, nil), fe: frontend("1.0", true),
			wantFE: "1.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeBackingUp, wantToken: "pre-upgrade-g7"},
		{name: "a failure left from an earlier attempt is not trusted", stack: testStack("2.0", "1.0", false, rollingOut),
			fe: func() *componentsv1alpha1.Frontend {
				f := failedFrontend("1.0", "2.0")
				f.Spec.Version = "1.0" // the Stack's move to 2.0 has not reached the Frontend yet
				return f
			}(), wantFE: "2.0", wantServing: "1.0", wantPhase: canopyv1alpha1.UpgradeRollingOut, wantToken: "pre-upgrade-g7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideUpgrade(tc.stack, tc.fe, tc.bp, now)
			require.Equal(t, tc.wantFE, d.frontendVersion, "frontend version")
			require.Equal(t, tc.wantServing, d.serving, "serving version")
			require.Equal(t, tc.wantToken, d.backupRequest, "backup request")
			if tc.wantPhase == "" {
				require.Nil(t, d.upgrade)
				return
			}
			require.NotNil(t, d.upgrade)
			require.Equal(t, tc.wantPhase, d.upgrade.Phase)
			require.Contains(t, d.upgrade.Message, tc.wantMsg)
		})
	}
}

// TestDecideUpgradeDoesNotMutateInput: the decision is computed from a copy of the status.
func TestDecideUpgradeDoesNotMutateInput(t *testing.T) {
	up := &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "2.0", Phase: canopyv1alpha1.UpgradeRollingOut}
	s := testStack("2.0", "1.0", false, up)
	_ = decideUpgrade(s, failedFrontend("1.0", "2.0"), nil, now)
	require.Equal(t, canopyv1alpha1.UpgradeRollingOut, s.Status.Upgrade.Phase)
}
