package stack

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
)

func TestGateState(t *testing.T) {
	stack := func(name string, mutate func(*canopyv1alpha1.StackStatus)) *canopyv1alpha1.Stack {
		s := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}}
		if mutate != nil {
			mutate(&s.Status)
		}
		return s
	}
	upgrading := func(st *canopyv1alpha1.StackStatus) {
		st.Upgrade = &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "2.0", Phase: canopyv1alpha1.UpgradeBackingUp}
	}
	tests := []struct {
		name        string
		stacks      []*canopyv1alpha1.Stack
		upgradeable bool
		message     string
	}{
		{name: "no Stack", upgradeable: true, message: "no Stack is upgrading or restoring"},
		{name: "idle Stacks", upgradeable: true, message: "no Stack is upgrading or restoring", stacks: []*canopyv1alpha1.Stack{
			stack("a", nil),
			stack("done", func(st *canopyv1alpha1.StackStatus) {
				st.Upgrade = &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "2.0", Phase: canopyv1alpha1.UpgradeSucceeded}
				st.Restore = &canopyv1alpha1.RestoreProgress{ID: "r1", BackupName: "b", Step: canopyv1alpha1.StepSucceeded}
				st.DatabaseUpgrade = &canopyv1alpha1.DatabaseUpgradeProgress{FromVersion: "16.2", ToVersion: "17", Step: canopyv1alpha1.StepFailed}
			}),
			stack("failed", func(st *canopyv1alpha1.StackStatus) {
				st.Upgrade = &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "2.0", Phase: canopyv1alpha1.UpgradeFailed}
				st.Restore = &canopyv1alpha1.RestoreProgress{ID: "r1", BackupName: "b", Step: canopyv1alpha1.StepFailed}
			}),
		}},
		{name: "application upgrade", stacks: []*canopyv1alpha1.Stack{stack("web", upgrading)},
			message: "Stack shop/web is upgrading the application from 1.0 to 2.0"},
		{name: "application rollout after the backup", stacks: []*canopyv1alpha1.Stack{stack("web", func(st *canopyv1alpha1.StackStatus) {
			st.Upgrade = &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "2.0", Phase: canopyv1alpha1.UpgradeRollingOut}
		})}, message: "Stack shop/web is upgrading the application from 1.0 to 2.0"},
		{name: "PostgreSQL major upgrade", stacks: []*canopyv1alpha1.Stack{stack("db", func(st *canopyv1alpha1.StackStatus) {
			st.DatabaseUpgrade = &canopyv1alpha1.DatabaseUpgradeProgress{FromVersion: "16.2", ToVersion: "17", Step: canopyv1alpha1.StepBackup}
		})}, message: "Stack shop/db is upgrading PostgreSQL from 16.2 to 17 (step Backup)"},
		{name: "in-place restore", stacks: []*canopyv1alpha1.Stack{stack("rs", func(st *canopyv1alpha1.StackStatus) {
			st.Restore = &canopyv1alpha1.RestoreProgress{ID: "r1", BackupName: "rs-nightly", Step: canopyv1alpha1.StepRestoring}
		})}, message: "Stack shop/rs is restoring rs-nightly in place (step " + string(canopyv1alpha1.StepRestoring) + ")"},
		{name: "a Stack being deleted holds nothing back", upgradeable: true, message: "no Stack is upgrading or restoring",
			stacks: []*canopyv1alpha1.Stack{stack("gone", func(st *canopyv1alpha1.StackStatus) { upgrading(st) })}},
		{name: "several, sorted", stacks: []*canopyv1alpha1.Stack{stack("b", upgrading), stack("a", upgrading), stack("idle", nil)},
			message: "Stack shop/a is upgrading the application from 1.0 to 2.0; Stack shop/b is upgrading the application from 1.0 to 2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "a Stack being deleted holds nothing back" {
				now := metav1.Now()
				tt.stacks[0].DeletionTimestamp = &now
			}
			upgradeable, reason, msg := gateState(tt.stacks)
			require.Equal(t, tt.upgradeable, upgradeable)
			require.Equal(t, tt.message, msg)
			if upgradeable {
				require.Equal(t, canopyv1alpha1.ReasonNoDataOperation, reason)
			} else {
				require.Equal(t, canopyv1alpha1.ReasonDataOperationInProgress, reason)
			}
		})
	}
}

func TestGateStateNamesAtMostFiveStacks(t *testing.T) {
	var stacks []*canopyv1alpha1.Stack
	for i := range 7 {
		stacks = append(stacks, &canopyv1alpha1.Stack{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("s%d", i)},
			Status: canopyv1alpha1.StackStatus{Upgrade: &canopyv1alpha1.UpgradeStatus{FromVersion: "1", ToVersion: "2",
				Phase: canopyv1alpha1.UpgradeRollingOut}},
		})
	}
	upgradeable, _, msg := gateState(stacks)
	require.False(t, upgradeable)
	require.Contains(t, msg, "Stack shop/s4 ")
	require.NotContains(t, msg, "Stack shop/s5 ")
	require.Contains(t, msg, "; and 2 more")
}
