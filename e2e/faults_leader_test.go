//go:build e2e

package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
)

// Leader election as controller-runtime configures it and the manager keeps (internal/manager):
// a Lease of 15 s, retried every 2 s with client-go's jitter of up to 1.2 times that.
const (
	leaseDuration = 15 * time.Second
	retryPeriod   = 2 * time.Second
)

// logSize is the size of <Dir>/<name>.log (0 when none): a replica's log is appended to.
func logSize(name string) int {
	st, err := os.Stat(filepath.Join(c.Dir, name+".log"))
	if err != nil {
		return 0
	}
	return int(st.Size())
}

// leads reports whether the replica whose log is name.log acquired the Lease after the log's
// first from bytes.
func leads(t *testing.T, name string, from int) bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(c.Dir, name+".log"))
	return err == nil && len(data) > from && strings.Contains(string(data[from:]), `"msg":"Successfully acquired lease"`)
}

// TestFaultLeaderKilled: two replicas of the manager with leader election; an upgrade (with its
// pre-upgrade backup and migration) starts, and at a random point the leader is killed (SIGKILL:
// it cannot release the Lease). The other replica leads within the Lease's duration plus one
// jittered retries, the upgrade converges, and nothing was done twice: one backup Job and one
// migration Job, one catalogue entry per request.
func TestFaultLeaderKilled(t *testing.T) {
	r := faultRand(t)
	ns := namespace(t)
	jobs := recordJobs(t, ns)
	l := newLedger()
	newStack(t, ns, "lead", withBackups(""))
	waitReady(t, ns, "lead", "1.0.0")

	// The single manager makes way for two replicas competing for a Lease in the test's namespace.
	c.KillManager()
	replicas := []string{"manager-a", "manager-b"}
	t.Cleanup(func() {
		for _, name := range replicas {
			c.KillProcess(name)
		}
		require.NoError(t, c.StartManager())
		// Serving again before the next test (or the suite's secret scan of its metrics).
		require.Eventually(t, func() bool {
			resp, err := http.Get(c.MetricsURL) //nolint:gosec,noctx // the harness's own loopback URL
			if err == nil {
				_ = resp.Body.Close()
			}
			return err == nil
		}, wait, 100*time.Millisecond, "the manager serves its metrics again")
	})
	from := map[string]int{}
	for _, name := range replicas {
		from[name] = logSize(name)
		require.NoError(t, c.StartReplica(name, ns))
	}
	var leader string
	require.Eventually(t, func() bool {
		for _, name := range replicas {
			if leads(t, name, from[name]) {
				leader = name
			}
		}
		return leader != ""
	}, wait, 100*time.Millisecond, "one replica leads")
	follower := replicas[0]
	if follower == leader {
		follower = replicas[1]
	}
	require.False(t, leads(t, follower, from[follower]), "only one replica leads")

	update(t, ns, "lead", func(s *canopyv1alpha1.Stack) { s.Spec.Version = "1.1.0" })
	after := between(r, 0, 3*time.Second)
	time.Sleep(after)
	require.True(t, c.KillProcess(leader))
	killed := time.Now()
	soak.add(func(f *soakFigures) { f.LeaderKills++ })
	require.Eventually(t, func() bool { return leads(t, follower, from[follower]) }, leaseDuration+6*retryPeriod, 100*time.Millisecond,
		"the other replica leads within the Lease")
	takeover := time.Since(killed)
	t.Logf("leader %s killed %s into the upgrade; %s leads %s later", leader, after.Round(time.Millisecond), follower, takeover.Round(100*time.Millisecond))
	// The follower sees the leader's last renewal (at the latest, when it died) at its next try,
	// at most 2.2 retry periods later (client-go's jitter), counts the Lease's duration from
	// then, and takes it at its first try after: lease + 2 × 2.2 retry periods (23.8 s).
	require.LessOrEqual(t, takeover, leaseDuration+2*retryPeriod*22/10+time.Second, "the takeover happens within the Lease")
	soak.add(func(f *soakFigures) {
		f.LeaderTakeovers++
		f.LeaderTakeoverMaxSeconds = max(f.LeaderTakeoverMaxSeconds, takeover.Seconds())
	})

	waitReady(t, ns, "lead", "1.1.0")
	require.Equal(t, canopyv1alpha1.UpgradeSucceeded, stack(t, ns, "lead").Status.Upgrade.Phase)
	require.Len(t, jobNames(t, ns, "migration", "1.1.0"), 1, "one migration of 1.1.0")
	require.True(t, requireInvariants(t, ns, "lead", jobs, l))
}
