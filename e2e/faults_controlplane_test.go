//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
)

// TestFaultControlPlaneRestarted: etcd and kube-apiserver (with the rest of the control plane)
// are stopped and started again at a random point while Stacks are being created and upgraded —
// CANOPY_SOAK_RESTARTS times (1 here). The manager keeps running through it (same PID, never
// exited) and every Stack converges afterwards, with the invariants of TestFaultManagerKilled.
func TestFaultControlPlaneRestarted(t *testing.T) {
	r := faultRand(t)
	restarts := envInt("CANOPY_SOAK_RESTARTS", 1)
	start := time.Now()
	ns := namespace(t)
	jobs := recordJobs(t, ns)
	l := newLedger()
	pid := c.ManagerPID()
	require.NotZero(t, pid, "the manager runs")
	var names []string
	for i := range restarts {
		// Load: two new Stacks created and every earlier one upgraded (its pre-upgrade backup and
		// migration run) just before the control plane goes.
		version := fmt.Sprintf("1.%d.0", i)
		for _, name := range names {
			update(t, ns, name, func(s *canopyv1alpha1.Stack) { s.Spec.Version = version })
		}
		for k := range 2 {
			name := fmt.Sprintf("cp-%d-%d", i, k)
			newStack(t, ns, name, withBackups(""), func(s *canopyv1alpha1.Stack) { s.Spec.Version = version })
			names = append(names, name)
		}
		after, down := between(r, 0, 2*time.Second), between(r, time.Second, 4*time.Second)
		time.Sleep(after)
		began := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		require.NoError(t, c.RestartControlPlane(ctx, down), "restarting the control plane")
		cancel()
		soak.add(func(f *soakFigures) { f.ControlPlaneRestarts++ })
		t.Logf("control plane stopped %s after the changes, down %s, answering again after %s",
			after.Round(time.Millisecond), down.Round(time.Millisecond), time.Since(began).Round(100*time.Millisecond))

		for _, name := range names {
			if d := waitReady(t, ns, name, version); d > 20*time.Second {
				t.Logf("%s Ready at %s only %s after the API server answered", name, version, d.Round(100*time.Millisecond))
			}
		}
		t.Logf("restart %d: %d Stacks Ready at %s %s after the API server answered", i, len(names), version, time.Since(began).Round(100*time.Millisecond))
		require.False(t, c.ManagerExited(), "the manager never exited")
		require.Equal(t, pid, c.ManagerPID(), "the manager is the same process")
		ok := true
		for _, name := range names {
			ok = requireInvariants(t, ns, name, jobs, l) && ok
		}
		if !ok {
			t.FailNow()
		}
		soak.add(func(f *soakFigures) { f.ControlPlaneSurvived++ })
	}
	soak.add(func(f *soakFigures) { f.Seconds += time.Since(start).Seconds() })
}
