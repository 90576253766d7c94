package database

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
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestDeletedChildrenAreRecreated: a deleted ServiceMonitor, PrometheusRule, StatefulSet, Service
// or NetworkPolicy comes back, and the Database says so with a Recreated event naming the kind and
// the drift counter; the first creation does not. The monitoring objects go first: nothing but
// their own watch brings them back promptly.
func TestDeletedChildrenAreRecreated(t *testing.T) {
	h := start(t)
	env.InstallMonitoringCRDs(t, h.C)
	db := h.readyDatabase("gone", "17.2", func(db *componentsv1alpha1.Database) {
		db.Spec.Monitoring = &componentsv1alpha1.DatabaseMonitoringSpec{
			MonitoringSpec: componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true), Interval: "30s"}}
	})
	require.True(t, conditions.IsTrue(db, componentsv1alpha1.ConditionMonitoringAvailable))
	require.NotContains(t, testenv.EventReasons(t, h.C, db), "Recreated", "the first creation is no remediation")

	for _, c := range []struct {
		kind, name string
		obj        client.Object
	}{
		{"ServiceMonitor", "gone-postgres", &monitoringv1.ServiceMonitor{}},
		{"PrometheusRule", "gone-postgres", &monitoringv1.PrometheusRule{}},
		{"StatefulSet", "gone-postgres", &appsv1.StatefulSet{}},
		{"Service", "gone-postgres", &corev1.Service{}},
		{"NetworkPolicy", "gone-postgres", &networkingv1.NetworkPolicy{}},
	} {
		counter := metrics.DriftCorrections.WithLabelValues(c.kind, "recreated")
		before := testutil.ToFloat64(counter)
		require.NoError(t, h.Get(c.obj, c.name))
		uid := c.obj.GetUID()
		require.NoError(t, h.C.Delete(context.Background(), c.obj))
		h.Eventually(func() bool { return h.Get(c.obj, c.name) == nil && c.obj.GetUID() != uid }, "the %s is recreated", c.kind)
		h.Eventually(func() bool { return testutil.ToFloat64(counter) == before+1 }, "the %s's recreation is counted", c.kind)
		h.Eventually(func() bool {
			return slices.ContainsFunc(testenv.EventMessages(t, h.C, db, "Recreated"), func(m string) bool { return strings.HasPrefix(m, "the "+c.kind+" ") })
		}, "a Recreated event names the %s", c.kind)
	}

	// An edited ServiceMonitor is restored by its own event too.
	counter := metrics.DriftCorrections.WithLabelValues("ServiceMonitor", "overwritten")
	before := testutil.ToFloat64(counter)
	sm := &monitoringv1.ServiceMonitor{}
	testenv.Mutate(t, h.C, h.Key("gone-postgres"), func() *monitoringv1.ServiceMonitor { return &monitoringv1.ServiceMonitor{} }, false,
		func(s *monitoringv1.ServiceMonitor) { s.Spec.Endpoints[0].Interval = "5m" })
	h.Eventually(func() bool { return h.Get(sm, "gone-postgres") == nil && sm.Spec.Endpoints[0].Interval == "30s" }, "the edit is reverted")
	h.Eventually(func() bool { return testutil.ToFloat64(counter) == before+1 }, "the overwrite is counted")
	h.WaitEvent(db, "Overwritten")
}
