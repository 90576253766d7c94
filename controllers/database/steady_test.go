package database

import (
	"testing"
	"time"

	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestReadyDatabaseCostsNothing: a Ready Database with monitoring, under the production cache
// options and with the Prometheus operator's API served (whose objects this controller watches),
// sends no request to the API server at rest and is not reconciled. Counted at the manager's
// transport: a resourceVersion that stays put misses a write that changes nothing.
func TestReadyDatabaseCostsNothing(t *testing.T) {
	h := start(t)
	env.InstallMonitoringCRDs(t, h.C)
	h.readyDatabase("idle", "17.2", func(db *componentsv1alpha1.Database) {
		db.Spec.Monitoring = &componentsv1alpha1.DatabaseMonitoringSpec{
			MonitoringSpec: componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true), Interval: "30s"}}
	})
	testenv.RequireIdle(t, h.mgr, 10*time.Second, "a Ready Database costs no API request")
}
