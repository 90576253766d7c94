package stack

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/equality"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	"github.com/canopy-dev/canopy/internal/golden"
)

// userEdit changes the world before the reconcile of step at; lose drops that reconcile's status
// write instead (a manager that stops between applying the children and writing status).
type userEdit struct {
	at   int
	what string
	do   func(*world)
	lose bool
}

// The data operations a sequence can ask for, as a user edits the Stack.
var operations = map[string]userEdit{
	opUpgrade: {what: "spec.version 1.0 -> 1.1", do: func(w *world) { w.change(func(s *canopyv1alpha1.Stack) { s.Spec.Version = "1.1" }) }},
	opRestore: {what: "spec.restoreRequest r1 (backup shop-b1)", do: func(w *world) {
		w.change(func(s *canopyv1alpha1.Stack) {
			s.Spec.RestoreRequest = &canopyv1alpha1.StackRestoreRequest{ID: "r1", BackupName: "shop-b1"}
		})
	}},
	opMajor: {what: "spec.database.version 16 -> 17 (allowed)", do: func(w *world) {
		w.change(func(s *canopyv1alpha1.Stack) {
			s.Spec.Database.Version, s.Spec.Database.AllowMajorVersionUpgrade = "17", true
		})
	}},
}

func ask(op string, at int) userEdit {
	e := operations[op]
	e.at = at
	return e
}

// crash loses the status write of the reconcile at step at: the next one starts from the status
// before it, with the children already told.
func crash(at int) userEdit {
	return userEdit{at: at, what: "the manager stops after applying the children: this status write is lost", do: func(*world) {}, lose: true}
}

func pause(at int, paused bool) userEdit {
	return userEdit{at: at, what: fmt.Sprintf("spec.paused %t", paused), do: func(w *world) {
		w.change(func(s *canopyv1alpha1.Stack) { s.Spec.Paused = paused })
	}}
}

// settled is a world whose Stack was installed and is Ready, with one backup taken.
func settled(t *testing.T) *world {
	w := newWorld()
	run(t, w, nil, 8)
	require.Equal(t, "1.0", w.s.Status.Version)
	return w
}

// run plays steps reconciles, each followed by a tick of the children's controllers, and returns
// the log. At every step it checks the rules that hold whatever the sequence:
//   - at most one data operation runs;
//   - a restart changes nothing: a second reconcile from the status as last written neither moves an
//     operation nor tells a child anything new;
//   - while paused, no operation moves and no child is told anything.
func run(t *testing.T, w *world, events []userEdit, steps int) string {
	t.Helper()
	var log strings.Builder
	last := ""
	for step := 1; step <= steps; step++ {
		lost := false
		for _, e := range events {
			if e.at == step {
				fmt.Fprintf(&log, "-- %s\n", e.what)
				e.do(w)
				lost = lost || e.lose
			}
		}
		before := w.clone()
		w.pass(lost)
		if line := w.line(); line != last {
			fmt.Fprintf(&log, "%2d: %s\n", step, line)
			last = line
		} else {
			fmt.Fprintf(&log, "%2d: =\n", step) // as the step before
		}

		require.LessOrEqual(t, len(runningOperations(w.s)), 1, "step %d: one data operation at a time, running: %v", step, runningOperations(w.s))
		again := w.clone()
		again.reconcile()
		require.True(t, lost || sameOperations(w, again), "step %d: a restart changed the plan:\n%s\n%s", step, w.line(), again.line())
		if w.s.Spec.Paused && before.s.Spec.Paused {
			require.True(t, sameOperations(before, w), "step %d: a paused Stack moved:\n%s\n%s", step, before.line(), w.line())
		}
		w.tick()
	}
	return log.String()
}

// sameOperations compares the operations' state and what the children are told.
func sameOperations(a, b *world) bool {
	return a.s.Status.Version == b.s.Status.Version &&
		equality.Semantic.DeepEqual(a.s.Status.Upgrade, b.s.Status.Upgrade) &&
		equality.Semantic.DeepEqual(a.s.Status.Restore, b.s.Status.Restore) &&
		equality.Semantic.DeepEqual(a.s.Status.DatabaseUpgrade, b.s.Status.DatabaseUpgrade) &&
		(a.db == nil) == (b.db == nil) && (a.db == nil || equality.Semantic.DeepEqual(a.db.Spec, b.db.Spec)) &&
		(a.fe == nil) == (b.fe == nil) && (a.fe == nil || equality.Semantic.DeepEqual(a.fe.Spec, b.fe.Spec)) &&
		(a.bp == nil) == (b.bp == nil) && (a.bp == nil || equality.Semantic.DeepEqual(a.bp.Spec, b.bp.Spec))
}

func compareLog(t *testing.T, name, log string) {
	t.Helper()
	golden.Compare(t, filepath.Join("testdata", "sequences", name+".log"), []byte(log))
}

// done asserts that every operation asked for has ended as asked.
func done(t *testing.T, w *world, ops ...string) {
	t.Helper()
	require.Empty(t, runningOperations(w.s), "nothing runs at the end")
	for _, op := range ops {
		switch op {
		case opUpgrade:
			require.Equal(t, "1.1", w.s.Status.Version, "the upgrade ended")
		case opRestore:
			require.Equal(t, canopyv1alpha1.StepSucceeded, w.s.Status.Restore.Step, "the restore ended")
		case opMajor:
			require.Equal(t, "17", w.db.Status.Version, "PostgreSQL was upgraded")
			require.Equal(t, canopyv1alpha1.StepSucceeded, w.s.Status.DatabaseUpgrade.Step)
		}
	}
	require.Nil(t, w.bp.Spec.Hold, "backups no longer wait")
}

// TestSequences: each operation alone, and failing, step by step (golden logs).
func TestSequences(t *testing.T) {
	t.Run("install", func(t *testing.T) {
		w := newWorld()
		compareLog(t, "install", run(t, w, nil, 8))
	})
	for _, op := range operationOrder {
		t.Run(op, func(t *testing.T) {
			w := settled(t)
			compareLog(t, op, run(t, w, []userEdit{ask(op, 1)}, 12))
			done(t, w, op)
		})
	}
	t.Run("upgrade fails and rolls back", func(t *testing.T) {
		w := settled(t)
		w.failVersion = "1.1"
		compareLog(t, "upgrade-fails", run(t, w, []userEdit{ask(opUpgrade, 1)}, 10))
		require.Equal(t, "1.0", w.fe.Spec.Version, "the web tier returned to 1.0")
		require.Equal(t, canopyv1alpha1.UpgradeFailed, w.s.Status.Upgrade.Phase)
	})
	t.Run("pre-upgrade backup fails", func(t *testing.T) {
		w := settled(t)
		w.failBackup = func(tok string) bool { return strings.HasPrefix(tok, "pre-upgrade-") }
		compareLog(t, "upgrade-backup-fails", run(t, w, []userEdit{ask(opUpgrade, 1)}, 8))
		require.Equal(t, "1.0", w.fe.Spec.Version, "1.1 never rolled out")
	})
	t.Run("restore fails", func(t *testing.T) {
		w := settled(t)
		w.failRestore = true
		compareLog(t, "restore-fails", run(t, w, []userEdit{ask(opRestore, 1)}, 10))
		require.Equal(t, canopyv1alpha1.StepFailed, w.s.Status.Restore.Step)
		require.False(t, w.fe.Spec.Stopped, "the web tier serves again on the data it had")
	})
	t.Run("major upgrade rolls back", func(t *testing.T) {
		w := settled(t)
		w.failMajor = true
		compareLog(t, "major-rolls-back", run(t, w, []userEdit{ask(opMajor, 1)}, 12))
		require.Equal(t, canopyv1alpha1.StepFailed, w.s.Status.DatabaseUpgrade.Step)
		require.Equal(t, "16", w.db.Status.Version)
		require.False(t, w.fe.Spec.Stopped)
	})
}

// TestSecondOperationWaits: a second operation asked for at each step of a running one waits, says
// so, and runs once the first ended; both end as asked.
func TestSecondOperationWaits(t *testing.T) {
	for _, first := range operationOrder {
		for _, second := range operationOrder {
			if first == second {
				continue
			}
			t.Run(first+" then "+second, func(t *testing.T) {
				var log strings.Builder
				// k = 0: both in the same edit, which start in operationOrder; up to 6: the last step
				// of a restore or major upgrade (StartingFrontend).
				for k := 0; k <= 6; k++ {
					w := settled(t)
					fmt.Fprintf(&log, "== %s asked for %d step(s) after %s\n", second, k, first)
					log.WriteString(run(t, w, []userEdit{ask(first, 1), ask(second, 1+k)}, 20))
					done(t, w, first, second)
				}
				compareLog(t, first+"-then-"+second, log.String())
			})
		}
	}
}

// TestPauseFreezesEveryOperation: pausing at each step of an operation freezes it (checked at every
// step by run), and resuming finishes it.
func TestPauseFreezesEveryOperation(t *testing.T) {
	for _, op := range operationOrder {
		t.Run(op, func(t *testing.T) {
			var log strings.Builder
			for k := 0; k <= 6; k++ {
				w := settled(t)
				fmt.Fprintf(&log, "== paused %d step(s) after the %s was asked for, resumed 3 steps later\n", k, op)
				log.WriteString(run(t, w, []userEdit{ask(op, 1), pause(1+k, true), pause(4+k, false)}, 20))
				done(t, w, op)
			}
			compareLog(t, "pause-"+op, log.String())
		})
	}
}

// failing sets up an operation that fails: an upgrade whose version does not roll out, a restore the
// Database reports failed, a major upgrade that rolls back.
var failing = map[string]func(*world){
	opUpgrade: func(w *world) { w.failVersion = "1.1" },
	opRestore: func(w *world) { w.failRestore = true },
	opMajor:   func(w *world) { w.failMajor = true },
}

// failed asserts that op ended as a failure: the Stack serves what it served before.
func failed(t *testing.T, w *world, op string) {
	t.Helper()
	switch op {
	case opUpgrade:
		require.Equal(t, canopyv1alpha1.UpgradeFailed, w.s.Status.Upgrade.Phase)
		require.Equal(t, "1.0", w.fe.Spec.Version, "the web tier returned to 1.0")
	case opRestore:
		require.Equal(t, canopyv1alpha1.StepFailed, w.s.Status.Restore.Step)
	case opMajor:
		require.Equal(t, canopyv1alpha1.StepFailed, w.s.Status.DatabaseUpgrade.Step)
		require.Equal(t, "16", w.db.Status.Version)
	}
	require.False(t, w.fe.Spec.Stopped, "the web tier serves again")
}

// TestSecondOperationDuringFailure: a second operation asked for at each step of a failing one (an
// upgrade that rolls back, a failed restore, a major upgrade that rolls back) waits while it runs and
// runs once it failed; pausing at each step freezes the failing one, and resuming lets it fail.
func TestSecondOperationDuringFailure(t *testing.T) {
	for _, first := range operationOrder {
		for _, second := range operationOrder {
			if first == second {
				continue
			}
			t.Run(first+" fails then "+second, func(t *testing.T) {
				var log strings.Builder
				for k := 0; k <= 6; k++ {
					w := settled(t)
					failing[first](w)
					fmt.Fprintf(&log, "== %s asked for %d step(s) after %s, which fails\n", second, k, first)
					log.WriteString(run(t, w, []userEdit{ask(first, 1), ask(second, 1+k)}, 20))
					failed(t, w, first)
					done(t, w, second)
				}
				compareLog(t, first+"-fails-then-"+second, log.String())
			})
		}
		t.Run("pause while "+first+" fails", func(t *testing.T) {
			var log strings.Builder
			for k := 0; k <= 6; k++ {
				w := settled(t)
				failing[first](w)
				fmt.Fprintf(&log, "== paused %d step(s) after the %s was asked for, resumed 3 steps later\n", k, first)
				log.WriteString(run(t, w, []userEdit{ask(first, 1), pause(1+k, true), pause(4+k, false)}, 20))
				failed(t, w, first)
				require.Empty(t, runningOperations(w.s), "nothing runs at the end")
			}
			compareLog(t, "pause-"+first+"-fails", log.String())
		})
	}
}

// TestRestartLosesStatusWrite: the manager stops after a reconcile applied the children but before
// its status write, at each step of each operation (and of a failing upgrade, whose failure is
// written before its rollback). The next reconcile starts from the status before: it must end where
// the run without the crash ends.
func TestRestartLosesStatusWrite(t *testing.T) {
	cases := []struct{ name, op, fails string }{{name: opUpgrade, op: opUpgrade}, {name: opRestore, op: opRestore},
		{name: opMajor, op: opMajor}, {name: "upgrade-fails", op: opUpgrade, fails: opUpgrade}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setup := func() *world {
				w := settled(t)
				if tc.fails != "" {
					failing[tc.fails](w)
				}
				return w
			}
			ref := setup()
			run(t, ref, []userEdit{ask(tc.op, 1)}, 20)
			var log strings.Builder
			for k := 1; k <= 6; k++ {
				w := setup()
				fmt.Fprintf(&log, "== the status write of step %d is lost\n", k)
				log.WriteString(run(t, w, []userEdit{ask(tc.op, 1), crash(k)}, 20))
				require.True(t, sameOperations(ref, w), "k=%d: the crash changed the outcome:\n%s\n%s", k, ref.line(), w.line())
			}
			compareLog(t, "restart-"+tc.name, log.String())
		})
	}
}
