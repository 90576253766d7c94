//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// lifePhase is one operation of a Stack's life that the manager is killed in.
type lifePhase struct {
	op string
	// within: the kill falls at a random point of [0, within) after the change, about the time
	// the operation takes here.
	within time.Duration
	// change starts the operation; converged waits until it is done.
	change, converged func(t *testing.T, ns string, round int)
}

// lifePhases: create, upgrade (pre-upgrade backup, migration), PostgreSQL major upgrade (backup,
// new instance, load), on-demand backup, in-place restore (safety backup, restore Job), delete.
var lifePhases = []lifePhase{
	{"create", 2 * time.Second, func(t *testing.T, ns string, _ int) {
		newStack(t, ns, "life", withBackups(""), func(s *canopyv1alpha1.Stack) {
			s.Spec.Database.Version, s.Spec.Database.AllowMajorVersionUpgrade = "16", true
		})
	}, func(t *testing.T, ns string, _ int) { waitReady(t, ns, "life", "1.0.0") }},

	{"upgrade", 3 * time.Second, func(t *testing.T, ns string, _ int) {
		update(t, ns, "life", func(s *canopyv1alpha1.Stack) { s.Spec.Version = "1.1.0" })
	}, func(t *testing.T, ns string, _ int) {
		waitReady(t, ns, "life", "1.1.0")
		up := stack(t, ns, "life").Status.Upgrade
		require.Equal(t, canopyv1alpha1.UpgradeSucceeded, up.Phase)
		requireCatalogued(t, ns, "life", up.BackupName)
	}},

	{"major-upgrade", 3 * time.Second, func(t *testing.T, ns string, _ int) {
		update(t, ns, "life", func(s *canopyv1alpha1.Stack) { s.Spec.Database.Version = "17" })
	}, func(t *testing.T, ns string, _ int) {
		require.Eventually(t, func() bool {
			u := stack(t, ns, "life").Status.DatabaseUpgrade
			return u != nil && u.Step == canopyv1alpha1.StepSucceeded
		}, wait, 200*time.Millisecond, "the major upgrade succeeds")
		waitReady(t, ns, "life", "1.1.0")
	}},

	{"backup", 1500 * time.Millisecond, func(t *testing.T, ns string, round int) {
		update(t, ns, "life", func(s *canopyv1alpha1.Stack) {
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[canopyv1alpha1.AnnotationBackupNow] = fmt.Sprintf("kill-%d", round)
		})
	}, func(t *testing.T, ns string, round int) {
		requireCatalogued(t, ns, "life", onDemandBackup(t, ns, round))
	}},

	{"restore", 3 * time.Second, func(t *testing.T, ns string, round int) {
		name := onDemandBackup(t, ns, round)
		update(t, ns, "life", func(s *canopyv1alpha1.Stack) {
			s.Spec.RestoreRequest = &canopyv1alpha1.StackRestoreRequest{ID: fmt.Sprintf("kill-%d", round), BackupName: name}
		})
	}, func(t *testing.T, ns string, round int) {
		require.Eventually(t, func() bool {
			r := stack(t, ns, "life").Status.Restore
			return r != nil && r.ID == fmt.Sprintf("kill-%d", round) && r.Step == canopyv1alpha1.StepSucceeded
		}, wait, 200*time.Millisecond, "the restore succeeds")
		waitReady(t, ns, "life", "1.1.0")
	}},

	{"delete", 1500 * time.Millisecond, func(t *testing.T, ns string, _ int) {
		require.NoError(t, c.Client.Delete(context.Background(), stack(t, ns, "life")))
	}, func(t *testing.T, ns string, _ int) {
		require.Eventually(t, func() bool {
			return apierrors.IsNotFound(c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "life"}, &canopyv1alpha1.Stack{}))
		}, wait, 200*time.Millisecond, "the Stack is deleted")
	}},
}

// onDemandBackup is the name of the backup the round's annotation asked for, once catalogued.
func onDemandBackup(t *testing.T, ns string, round int) string {
	t.Helper()
	var name string
	require.Eventually(t, func() bool {
		bp := &componentsv1alpha1.BackupPolicy{}
		if c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "life"}, bp) != nil {
			return false
		}
		for _, b := range bp.Status.Backups {
			if b.Request == fmt.Sprintf("kill-%d", round) {
				name = b.Name
			}
		}
		return name != ""
	}, wait, 200*time.Millisecond, "the on-demand backup kill-%d is catalogued", round)
	return name
}

// TestFaultManagerKilled: the manager is killed (SIGKILL) at a random point of each operation of a
// Stack's life — create, upgrade, major upgrade, backup, restore, delete — and restarted, over as
// many lives as CANOPY_SOAK_KILLS kills take (10 here; `make soak` 100 or more). After each: the
// Stack converges; each request had one Job and one catalogue entry; every catalogued backup and
// every claim is still there; no object of Canopy's is left without its owner or held by a
// finalizer.
func TestFaultManagerKilled(t *testing.T) {
	r := faultRand(t)
	kills := envInt("CANOPY_SOAK_KILLS", 10)
	start := time.Now()
	injected := 0
	for round := 0; injected < kills; round++ {
		ns := namespace(t)
		jobs := recordJobs(t, ns)
		l := newLedger()
		for _, p := range lifePhases {
			killed := injected < kills
			p.change(t, ns, round)
			if killed {
				injected++
				killManager(t, r, p.op, p.within)
			}
			p.converged(t, ns, round)
			stackName := "life"
			if p.op == "delete" {
				stackName = ""
			}
			ok := requireInvariants(t, ns, stackName, jobs, l)
			if killed && ok {
				soak.add(func(f *soakFigures) { f.KillsSurvived++ })
			}
			if !ok {
				t.FailNow()
			}
		}
		t.Logf("life %d: %d kills so far, %s", round, injected, time.Since(start).Round(time.Second))
	}
	soak.add(func(f *soakFigures) { f.Seconds += time.Since(start).Seconds() })
	t.Logf("%d kills injected, all survived, in %s", injected, time.Since(start).Round(time.Second))
}

// killManager kills the manager at a random point of [0, within), leaves it down for up to 300
// ms, and starts it again.
func killManager(t *testing.T, r *rand.Rand, op string, within time.Duration) {
	t.Helper()
	after, down := between(r, 0, within), between(r, 0, 300*time.Millisecond)
	time.Sleep(after)
	c.KillManager()
	soak.add(func(f *soakFigures) { f.KillsInjected++; f.ManagerKills[op]++ })
	t.Logf("manager killed %s into %s, down %s", after.Round(time.Millisecond), op, down.Round(time.Millisecond))
	time.Sleep(down)
	require.NoError(t, c.StartManager())
}
