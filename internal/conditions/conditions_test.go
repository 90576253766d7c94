package conditions

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

const (
	ready       = componentsv1alpha1.ConditionReady
	reconciling = componentsv1alpha1.ConditionReconciling
	stalled     = componentsv1alpha1.ConditionStalled
)

// state is the set of condition types with their status, for compact expectations.
func state(obj Object) map[string]metav1.ConditionStatus {
	out := map[string]metav1.ConditionStatus{}
	for _, c := range obj.GetConditions() {
		out[c.Type] = c.Status
	}
	return out
}

func TestKstatusTransitions(t *testing.T) {
	mark := map[string]func(Object, string, string){"ready": MarkReady, "reconciling": MarkReconciling, "stalled": MarkStalled}
	for _, tc := range []struct {
		name  string
		steps []string
		want  map[string]metav1.ConditionStatus
	}{
		{"ready alone", []string{"ready"}, map[string]metav1.ConditionStatus{ready: metav1.ConditionTrue}},
		{"reconciling", []string{"reconciling"}, map[string]metav1.ConditionStatus{ready: metav1.ConditionFalse, reconciling: metav1.ConditionTrue}},
		{"stalled", []string{"stalled"}, map[string]metav1.ConditionStatus{ready: metav1.ConditionFalse, stalled: metav1.ConditionTrue}},
		{"reconciling then stalled drops Reconciling", []string{"reconciling", "stalled"}, map[string]metav1.ConditionStatus{ready: metav1.ConditionFalse,
			stalled: metav1.ConditionTrue}},
		{"stalled then reconciling drops Stalled", []string{"stalled", "reconciling"}, map[string]metav1.ConditionStatus{ready: metav1.ConditionFalse,
			reconciling: metav1.ConditionTrue}},
		{"stalled then ready drops both", []string{"reconciling", "stalled", "ready"}, map[string]metav1.ConditionStatus{ready: metav1.ConditionTrue}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &componentsv1alpha1.Database{}
			obj.Generation = 3
			for _, s := range tc.steps {
				mark[s](obj, "Why", "because")
			}
			require.Equal(t, tc.want, state(obj))
			for _, c := range obj.GetConditions() {
				require.Equal(t, int64(3), c.ObservedGeneration, c.Type)
			}
		})
	}
}

func TestSetKeepsTransitionTimeWhileStatusHolds(t *testing.T) {
	obj := &componentsv1alpha1.Frontend{}
	MarkStalled(obj, "A", "first")
	old := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	obj.Status.Conditions[0].LastTransitionTime = old

	MarkStalled(obj, "B", "second")
	c := Get(obj, ready)
	require.Equal(t, old, c.LastTransitionTime, "same status: the transition time must not move")
	require.Equal(t, "B", c.Reason)
	require.Equal(t, "second", c.Message)

	MarkReady(obj, "Ready", "ok")
	require.NotEqual(t, old, Get(obj, ready).LastTransitionTime, "a new status is a transition")
	require.True(t, IsTrue(obj, ready))
}
