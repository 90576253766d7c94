package frontend

import (
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// TestComputeStatusIsHonest: until this controller acts on its kind, it must never claim Ready.
func TestComputeStatusIsHonest(t *testing.T) {
	obj := &componentsv1alpha1.Frontend{}
	obj.Generation = 4
	computeStatus(obj)
	ready := conditions.Get(obj, componentsv1alpha1.ConditionReady)
	require.NotNil(t, ready)
	require.Equal(t, metav1.ConditionFalse, ready.Status)
	require.Equal(t, componentsv1alpha1.ReasonNotImplemented, ready.Reason)
	require.True(t, conditions.IsTrue(obj, componentsv1alpha1.ConditionStalled))
	require.Equal(t, int64(4), obj.Status.ObservedGeneration)
}
