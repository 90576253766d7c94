package testenv

import (
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// TestKstatusViolations: the check every envtest namespace gets at its end finds each broken rule.
func TestKstatusViolations(t *testing.T) {
	cond := func(t string, s metav1.ConditionStatus, gen int64) metav1.Condition {
		return metav1.Condition{Type: t, Status: s, Reason: "R", ObservedGeneration: gen}
	}
	const ready, reconciling, stalled = componentsv1alpha1.ConditionReady, componentsv1alpha1.ConditionReconciling, componentsv1alpha1.ConditionStalled
	for _, tc := range []struct {
		name     string
		obsGen   int64
		conds    []metav1.Condition
		breaches int
	}{
		{name: "Ready", obsGen: 2, conds: []metav1.Condition{cond(ready, metav1.ConditionTrue, 2)}},
		{name: "Reconciling", obsGen: 2, conds: []metav1.Condition{cond(ready, metav1.ConditionFalse, 2), cond(reconciling, metav1.ConditionTrue, 2)}},
		{name: "Stalled", obsGen: 2, conds: []metav1.Condition{cond(ready, metav1.ConditionFalse, 2), cond(stalled, metav1.ConditionTrue, 2)}},
		{name: "Reconciling and Stalled", obsGen: 2, breaches: 1,
			conds: []metav1.Condition{cond(ready, metav1.ConditionFalse, 2), cond(reconciling, metav1.ConditionTrue, 2),
				cond(stalled, metav1.ConditionTrue, 2)}},
		{name: "Ready and Stalled", obsGen: 2, breaches: 1,
			conds: []metav1.Condition{cond(ready, metav1.ConditionTrue, 2), cond(stalled, metav1.ConditionTrue, 2)}},
		{name: "a condition from the future", obsGen: 2, breaches: 1, conds: []metav1.Condition{cond(ready, metav1.ConditionTrue, 3)}},
		{name: "an observedGeneration from the future", obsGen: 3, breaches: 1, conds: []metav1.Condition{cond(ready, metav1.ConditionTrue, 2)}},
		{name: "not reconciled yet", obsGen: 0},
		{name: "Ready missing", obsGen: 2, breaches: 1, conds: []metav1.Condition{cond(reconciling, metav1.ConditionTrue, 2)}},
		{name: "Ready and Reconciling", obsGen: 2, breaches: 1,
			conds: []metav1.Condition{cond(ready, metav1.ConditionTrue, 2), cond(reconciling, metav1.ConditionTrue, 2)}},
		{name: "Ready for an older generation", obsGen: 2, breaches: 1, conds: []metav1.Condition{cond(ready, metav1.ConditionTrue, 1)}},
		{name: "a failed pass: Ready False ahead of observedGeneration", obsGen: 1,
			conds: []metav1.Condition{cond(ready, metav1.ConditionFalse, 2), cond(reconciling, metav1.ConditionTrue, 2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Name: "shop", Generation: 2}}
			s.Status.ObservedGeneration, s.Status.Conditions = tc.obsGen, tc.conds
			require.Len(t, KstatusRules(s), tc.breaches, "%v", KstatusRules(s))
		})
	}
}
