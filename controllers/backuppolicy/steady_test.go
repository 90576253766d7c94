package backuppolicy

import (
	"testing"
	"time"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

func (h *harness) waitReady(name string) *componentsv1alpha1.BackupPolicy {
	h.T.Helper()
	var bp *componentsv1alpha1.BackupPolicy
	h.Eventually(func() bool {
		bp = h.get(name)
		return bp.Status.ObservedGeneration == bp.Generation && conditions.IsTrue(bp, componentsv1alpha1.ConditionReady)
	}, "BackupPolicy %s is Ready", name)
	return bp
}

// TestReadyPolicyCostsNothing: a Ready BackupPolicy, as the manager runs it in production (the
// same cache options), sends no request to the API server at rest: no write, and no read either.
// Counted at the manager's transport, not inferred from resourceVersions, which miss a write that
// changes nothing.
func TestReadyPolicyCostsNothing(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	h.policy("shop")
	h.waitReady("shop")
	testenv.RequireIdle(t, h.mgr, 10*time.Second, "a Ready BackupPolicy costs no API request")
}
