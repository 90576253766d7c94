package frontend

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestDeletedChildrenAreRecreated: a deleted Deployment or Service is a remediation, not a first
// creation: the Frontend gets a Recreated event and the drift counter counts it.
func TestDeletedChildrenAreRecreated(t *testing.T) {
	h := start(t)
	fe := h.create("gone", "1.0")
	h.deploymentAt("gone", "1.0")
	h.rolledOut("gone")
	h.waitReady("gone", "1.0")
	require.NotContains(t, testenv.EventReasons(t, h.C, fe), "Recreated", "the first creation is no remediation")

	for _, c := range []struct {
		kind string
		obj  client.Object
	}{{"Deployment", &appsv1.Deployment{}}, {"Service", &corev1.Service{}}} {
		counter := metrics.DriftCorrections.WithLabelValues(c.kind, "recreated")
		before := testutil.ToFloat64(counter)
		require.NoError(t, h.Get(c.obj, "gone-web"))
		uid := c.obj.GetUID()
		require.NoError(t, h.C.Delete(context.Background(), c.obj))
		h.Eventually(func() bool { return h.Get(c.obj, "gone-web") == nil && c.obj.GetUID() != uid }, "the %s is recreated", c.kind)
		h.Eventually(func() bool { return testutil.ToFloat64(counter) == before+1 }, "the %s's recreation is counted", c.kind)
	}
	h.WaitEvent(fe, "Recreated")
}
