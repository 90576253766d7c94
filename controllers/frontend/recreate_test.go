package frontend

import (
	"context"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestDeletedChildrenAreRecreated: a deleted ServiceMonitor, Deployment or Service is a
// remediation, not a first creation: the Frontend gets a Recreated event naming the kind and the
// drift counter counts it. The ServiceMonitor goes first: nothing but its own watch brings it back
// promptly.
func TestDeletedChildrenAreRecreated(t *testing.T) {
	h := start(t)
	env.InstallMonitoringCRDs(t, h.C)
	fe := h.create("gone", "1.0", func(f *componentsv1alpha1.Frontend) {
		f.Spec.Monitoring = &componentsv1alpha1.FrontendMonitoringSpec{MonitoringSpec: componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true)}}
	})
	h.deploymentAt("gone", "1.0")
	h.rolledOut("gone")
	h.waitReady("gone", "1.0")
	h.waitMonitoring("gone")
	require.NotContains(t, testenv.EventReasons(t, h.C, fe), "Recreated", "the first creation is no remediation")

	for _, c := range []struct {
		kind string
		obj  client.Object
	}{{"ServiceMonitor", &monitoringv1.ServiceMonitor{}}, {"Deployment", &appsv1.Deployment{}}, {"Service", &corev1.Service{}}} {
		counter := metrics.DriftCorrections.WithLabelValues(c.kind, "recreated")
		before := testutil.ToFloat64(counter)
		require.NoError(t, h.Get(c.obj, "gone-web"))
		uid := c.obj.GetUID()
		require.NoError(t, h.C.Delete(context.Background(), c.obj))
		h.Eventually(func() bool { return h.Get(c.obj, "gone-web") == nil && c.obj.GetUID() != uid }, "the %s is recreated", c.kind)
		h.Eventually(func() bool { return testutil.ToFloat64(counter) == before+1 }, "the %s's recreation is counted", c.kind)
		h.Eventually(func() bool {
			return slices.ContainsFunc(testenv.EventMessages(t, h.C, fe, "Recreated"), func(m string) bool { return strings.HasPrefix(m, "the "+c.kind+" ") })
		}, "a Recreated event names the %s", c.kind)
	}
}
