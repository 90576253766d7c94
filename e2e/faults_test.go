//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// The faults tests (faults_*_test.go; e2e/README.md, "Faults") inject their faults at random
// points drawn from one seed, logged so that a failure can be replayed with CANOPY_FAULT_SEED.
// `make soak` runs them longer (CANOPY_SOAK_KILLS, CANOPY_SOAK_RESTARTS) and writes their figures
// to CANOPY_SOAK_OUT (bench/soak.json).

// faultSeed is CANOPY_FAULT_SEED, or the clock's nanoseconds when unset.
var faultSeed = sync.OnceValue(func() uint64 {
	if s := os.Getenv("CANOPY_FAULT_SEED"); s != "" {
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			return v
		}
	}
	return uint64(time.Now().UnixNano())
})

// faultRand is a random source for one test, derived from the seed and the test's name, so that
// replaying one test with the seed draws the same points whatever ran before it.
func faultRand(t *testing.T) *rand.Rand {
	t.Helper()
	var h uint64 = 14695981039346656037
	for _, b := range []byte(t.Name()) {
		h = (h ^ uint64(b)) * 1099511628211
	}
	t.Logf("fault seed %d (replay with CANOPY_FAULT_SEED=%d go test -tags e2e -run '^%s$' ./e2e/)", faultSeed(), faultSeed(), t.Name())
	return rand.New(rand.NewPCG(faultSeed(), h)) //nolint:gosec // replayable fault points, not secrets

}

// between draws a duration in [lo, hi).
func between(r *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// envInt is a positive integer setting, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// soakFigures are what the faults tests injected and what survived, written to CANOPY_SOAK_OUT.
type soakFigures struct {
	mu   sync.Mutex
	Seed uint64 `json:"seed"`
	// ManagerKills by operation the manager was killed in (create, upgrade, ...).
	ManagerKills map[string]int `json:"managerKills"`
	// KillsInjected and KillsSurvived count the manager's SIGKILLs and those after which every
	// invariant held.
	KillsInjected int `json:"killsInjected"`
	KillsSurvived int `json:"killsSurvived"`
	// ControlPlaneRestarts and ControlPlaneSurvived: etcd and kube-apiserver restarted under load.
	ControlPlaneRestarts int `json:"controlPlaneRestarts"`
	ControlPlaneSurvived int `json:"controlPlaneSurvived"`
	// LeaderKills and LeaderTakeovers: the leading replica killed, another leading after it.
	LeaderKills     int `json:"leaderKills"`
	LeaderTakeovers int `json:"leaderTakeovers"`
	// LeaderTakeoverMaxSeconds is the longest time from a leader's kill to the next leader.
	LeaderTakeoverMaxSeconds float64 `json:"leaderTakeoverMaxSeconds"`
	// SpecWrites and ManagerRequests: the tight-loop writer's writes and the manager's requests
	// meanwhile (audit log).
	SpecWrites      int `json:"specWrites"`
	ManagerRequests int `json:"managerRequests"`
	// DuplicateJobs, OrphanedObjects and DataLost (catalogued backups or claims that should live
	// but went) must be 0.
	DuplicateJobs   int `json:"duplicateJobs"`
	OrphanedObjects int `json:"orphanedObjects"`
	DataLost        int `json:"dataLost"`
	// Seconds is the wall time of the kill and control-plane tests.
	Seconds float64 `json:"seconds"`
}

var soak = &soakFigures{ManagerKills: map[string]int{}}

// add changes the figures under their lock.
func (f *soakFigures) add(change func(*soakFigures)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

// writeSoak writes the figures to CANOPY_SOAK_OUT when set (TestMain, after the tests).
func writeSoak() {
	out := os.Getenv("CANOPY_SOAK_OUT")
	if out == "" {
		return
	}
	soak.mu.Lock()
	defer soak.mu.Unlock()
	soak.Seed = faultSeed()
	data, err := json.MarshalIndent(soak, "", "  ")
	if err == nil {
		err = os.WriteFile(out, append(data, '\n'), 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: writing the soak figures:", err)
		return
	}
	fmt.Printf("e2e: soak figures in %s:\n%s\n", out, data)
}
