package stack

import (
	"context"
	"fmt"
	"sort"
	"strings"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
)

// maxGateStacks bounds how many Stacks the gate's message names.
const maxGateStacks = 5

// dataOperation describes the operation on data or versions that the Stack runs, or returns ""
// when it runs none. A Stack being deleted runs none: its operations will not resume.
func dataOperation(s *canopyv1alpha1.Stack) string {
	if !s.DeletionTimestamp.IsZero() {
		return ""
	}
	st := &s.Status
	return describeOperation(runningOperation(s), st.Upgrade, st.Restore, st.DatabaseUpgrade)
}

// describeOperation says what the data operation op does ("" for none), as the Upgradeable
// conditions (the Stack's and OLM's) name it.
func describeOperation(op string, u *canopyv1alpha1.UpgradeStatus, r *canopyv1alpha1.RestoreProgress, m *canopyv1alpha1.DatabaseUpgradeProgress) string {
	switch op {
	case opUpgrade:
		return fmt.Sprintf("upgrading the application from %s to %s", u.FromVersion, u.ToVersion)
	case opMajor:
		return fmt.Sprintf("upgrading PostgreSQL from %s to %s (step %s)", m.FromVersion, m.ToVersion, m.Step)
	case opRestore:
		return fmt.Sprintf("restoring %s in place (step %s)", r.BackupName, r.Step)
	}
	return ""
}

// gateState is OLM's Upgradeable condition for a set of Stacks: false while any of them runs a
// data operation, naming them (sorted, at most maxGateStacks).
func gateState(stacks []*canopyv1alpha1.Stack) (upgradeable bool, reason, message string) {
	var busy []string
	for _, s := range stacks {
		if op := dataOperation(s); op != "" {
			busy = append(busy, fmt.Sprintf("Stack %s/%s is %s", s.Namespace, s.Name, op))
		}
	}
	if len(busy) == 0 {
		return true, canopyv1alpha1.ReasonNoDataOperation, "no Stack is upgrading or restoring"
	}
	sort.Strings(busy)
	msg := strings.Join(busy[:min(len(busy), maxGateStacks)], "; ")
	if n := len(busy) - maxGateStacks; n > 0 {
		msg += fmt.Sprintf("; and %d more", n)
	}
	return false, canopyv1alpha1.ReasonDataOperationInProgress, msg
}

// updateGate tells OLM that Canopy may be upgraded only while no Stack runs an application upgrade,
// an in-place restore or a PostgreSQL major upgrade. current is the Stack just reconciled: its
// in-memory status is newer than the cache's.
func (r *Reconciler) updateGate(ctx context.Context, current *canopyv1alpha1.Stack) error {
	if r.UpgradeGate == nil {
		return nil
	}
	var list canopyv1alpha1.StackList
	if err := r.List(ctx, &list); err != nil {
		return fmt.Errorf("listing Stacks: %w", err)
	}
	stacks := make([]*canopyv1alpha1.Stack, 0, len(list.Items))
	for i := range list.Items {
		st := &list.Items[i]
		if current != nil && st.UID == current.UID {
			st = current
		}
		stacks = append(stacks, st)
	}
	upgradeable, reason, msg := gateState(stacks)
	return r.UpgradeGate.SetUpgradeable(ctx, upgradeable, reason, msg)
}
