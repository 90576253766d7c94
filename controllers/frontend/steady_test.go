package frontend

import (
	"testing"
	"time"

	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestReadyFrontendCostsNothing: a Ready Frontend with monitoring, under the production cache
// options and with the Prometheus operator's API served (whose ServiceMonitors this controller
// watches), sends no request to the API server at rest and is not reconciled. Counted at the
// manager's transport: a resourceVersion that stays put misses a write that changes nothing.
func TestReadyFrontendCostsNothing(t *testing.T) {
	h := start(t)
	env.InstallMonitoringCRDs(t, h.C)
	h.create("idle", "1.0", func(f *componentsv1alpha1.Frontend) {
		f.Spec.Monitoring = &componentsv1alpha1.FrontendMonitoringSpec{MonitoringSpec: componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true)}}
	})
	h.deploymentAt("idle", "1.0")
	h.rolledOut("idle")
	h.waitReady("idle", "1.0")
	h.waitMonitoring("idle")
	testenv.RequireIdle(t, h.mgr, 10*time.Second, "a Ready Frontend costs no API request")
}

// waitMonitoring waits until the Frontend has seen the ServiceMonitor's API served.
func (h *harness) waitMonitoring(name string) {
	h.T.Helper()
	h.Eventually(func() bool {
		return conditions.IsTrue(h.frontend(name), componentsv1alpha1.ConditionMonitoringAvailable)
	}, "monitoring is available")
}
