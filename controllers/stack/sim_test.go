package stack

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/apply"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// world is one Stack and its three children on a simulated cluster: the Stack is reconciled with the
// controller's own decide, desiredChildren and computeStatus, and each child is moved on by a
// simulated controller that does in one tick what the real one does over several reconciles (the
// real ones are tested against envtest). Everything the Stack knows lives in objects, as in
// production: a manager restart is a reconcile from the status as last written.
type world struct {
	now time.Time
	s   *canopyv1alpha1.Stack
	db  *componentsv1alpha1.Database
	fe  *componentsv1alpha1.Frontend
	bp  *componentsv1alpha1.BackupPolicy
	// Faults: a Frontend version whose rollout fails, backup tokens that fail, a major upgrade or a
	// restore that the Database reports failed.
	failVersion   string
	failBackup    func(token string) bool
	failMajor     bool
	failRestore   bool
	backupCounter int
}

func newWorld() *world {
	s := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "shop", Generation: 1}}
	s.Spec.Version = "1.0"
	s.Spec.Database.Version = "16"
	s.Spec.Backup = &canopyv1alpha1.StackBackup{Schedule: "0 2 * * *",
		Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}}}
	return &world{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), s: s, failBackup: func(string) bool { return false }}
}

// change edits the Stack's spec as a user would: a new generation.
func (w *world) change(edit func(*canopyv1alpha1.Stack)) {
	edit(w.s)
	w.s.Generation++
}

// reconcile runs one pass of the stack controller over the world.
func (w *world) reconcile() { w.pass(false) }

// pass runs one reconcile with the controller's own steps (decide, recordFailure, applyChildren or
// pendingChanges, computeStatus), the world standing in for the API server. lost drops the final
// status write, as a manager that stops after applying the children.
func (w *world) pass(lost bool) {
	ctx := context.Background()
	o := observed{db: w.db, fe: w.fe, bp: w.bp, missingCRD: map[string]bool{}}
	now := metav1.NewTime(w.now)
	s := w.s.DeepCopy()
	p := decide(s, o, now)
	before, err := recordFailure(ctx, w, s, w.s, p)
	if err == nil {
		if s.Spec.Paused {
			o.pending, err = pendingChanges(s, o, p)
		} else {
			o.pending, err = applyChildren(ctx, w, s, o, p)
		}
	}
	if err != nil {
		panic(err) // the world refuses nothing
	}
	computeStatus(s, o, p, now)
	s.Status.ObservedGeneration = s.Generation
	if !lost {
		_ = w.writeStatus(ctx, s, before)
	}
}

// applyChild stores want as an apply would: a changed spec is a new generation that its controller
// has not observed yet; the status stays.
func (w *world) applyChild(_ context.Context, _ *canopyv1alpha1.Stack, _ childKind, want, have client.Object) (bool, error) {
	if needs, err := apply.NeedsApply(want, have); err != nil || !needs {
		return false, err
	}
	next, err := apply.Applied(want)
	if err != nil {
		return false, err
	}
	switch n := next.(type) {
	case *componentsv1alpha1.Database:
		w.db, _ = applySpec(w.db, n)
	case *componentsv1alpha1.Frontend:
		w.fe, _ = applySpec(w.fe, n)
	case *componentsv1alpha1.BackupPolicy:
		w.bp, _ = applySpec(w.bp, n)
	}
	return true, nil
}

func (w *world) deleteChild(_ context.Context, _ childKind, have client.Object) error {
	if _, ok := have.(*componentsv1alpha1.BackupPolicy); ok {
		w.bp = nil
	}
	return nil
}

func (w *world) writeStatus(_ context.Context, s, _ *canopyv1alpha1.Stack) error {
	w.s = s.DeepCopy()
	return nil
}

// applySpec writes want's spec and metadata onto the child (created when absent); a changed spec is
// a new generation.
func applySpec[T interface {
	*componentsv1alpha1.Database | *componentsv1alpha1.Frontend | *componentsv1alpha1.BackupPolicy
	client.Object
}](have, want T) (T, bool) {
	if any(have) == any(T(nil)) {
		setGeneration(want, 1)
		return want, true
	}
	next := copySpec(have, want)
	if !specDiffers(want, have) {
		next.SetGeneration(have.GetGeneration()) // metadata alone is no new generation
	}
	next.SetAnnotations(want.GetAnnotations())
	next.SetLabels(want.GetLabels())
	return next, true
}

func specDiffers(want, have any) bool {
	switch w := want.(type) {
	case *componentsv1alpha1.Database:
		h, _ := have.(*componentsv1alpha1.Database)
		return w != nil && h != nil && !equality.Semantic.DeepEqual(w.Spec, h.Spec)
	case *componentsv1alpha1.Frontend:
		h, _ := have.(*componentsv1alpha1.Frontend)
		return w != nil && h != nil && !equality.Semantic.DeepEqual(w.Spec, h.Spec)
	case *componentsv1alpha1.BackupPolicy:
		h, _ := have.(*componentsv1alpha1.BackupPolicy)
		return w != nil && h != nil && !equality.Semantic.DeepEqual(w.Spec, h.Spec)
	}
	return false
}

func setGeneration(obj any, g int64) {
	obj.(interface{ SetGeneration(int64) }).SetGeneration(g)
}

// copySpec returns a copy of have with want's spec and the next generation.
func copySpec[T any](have, want T) T {
	switch h := any(have).(type) {
	case *componentsv1alpha1.Database:
		n := h.DeepCopy()
		n.Spec = any(want).(*componentsv1alpha1.Database).Spec
		n.Generation++
		return any(n).(T)
	case *componentsv1alpha1.Frontend:
		n := h.DeepCopy()
		n.Spec = any(want).(*componentsv1alpha1.Frontend).Spec
		n.Generation++
		return any(n).(T)
	case *componentsv1alpha1.BackupPolicy:
		n := h.DeepCopy()
		n.Spec = any(want).(*componentsv1alpha1.BackupPolicy).Spec
		n.Generation++
		return any(n).(T)
	}
	panic("unknown child")
}

// tick runs each child's simulated controller once.
func (w *world) tick() {
	if w.db != nil {
		w.db = w.db.DeepCopy()
		w.simDatabase()
	}
	if w.bp != nil {
		w.bp = w.bp.DeepCopy()
		w.simBackups()
	}
	if w.fe != nil {
		w.fe = w.fe.DeepCopy()
		w.simFrontend()
	}
}

func ready(obj conditions.Object, ok bool, reason string) {
	if ok {
		conditions.MarkReady(obj, componentsv1alpha1.ReasonReady, "ready")
		return
	}
	conditions.MarkReconciling(obj, reason, reason)
}

// simDatabase: a major upgrade (asked for with spec.majorUpgrade) runs for one tick, then succeeds or
// fails; a restore request likewise; otherwise the instance runs the spec's version.
func (w *world) simDatabase() {
	db := w.db
	st := &db.Status
	st.ObservedGeneration = db.Generation
	st.CredentialsSecretName = "shop-db-credentials"
	busy := ""
	major := componentsv1alpha1.MajorVersion(db.Spec.Version) != componentsv1alpha1.MajorVersion(st.Version) && st.Version != ""
	switch {
	case major && db.Spec.MajorUpgrade != nil:
		m := st.MajorUpgrade
		switch {
		case m == nil || m.BackupName != db.Spec.MajorUpgrade.FromBackup.BackupName:
			st.MajorUpgrade = &componentsv1alpha1.MajorUpgradeStatus{Phase: componentsv1alpha1.PhaseRunning,
				BackupName: db.Spec.MajorUpgrade.FromBackup.BackupName, FromVersion: st.Version}
			busy = "MajorUpgrade"
		case m.Phase == componentsv1alpha1.PhaseRunning && w.failMajor:
			m.Phase = componentsv1alpha1.PhaseFailed
		case m.Phase == componentsv1alpha1.PhaseRunning:
			m.Phase, st.Version = componentsv1alpha1.PhaseSucceeded, db.Spec.Version
		}
	case !major:
		st.Version = db.Spec.Version
	}
	if r := db.Spec.RestoreRequest; r != nil {
		switch cur := st.Restore; {
		case cur == nil || cur.ID != r.ID:
			st.Restore = &componentsv1alpha1.RestoreStatus{ID: r.ID, Phase: componentsv1alpha1.PhaseRunning}
			busy = "Restoring"
		case cur.Phase == componentsv1alpha1.PhaseRunning && w.failRestore:
			cur.Phase, cur.Message = componentsv1alpha1.PhaseFailed, "pg_restore failed"
		case cur.Phase == componentsv1alpha1.PhaseRunning:
			cur.Phase = componentsv1alpha1.PhaseSucceeded
		}
	}
	ready(db, busy == "", busy)
}

// simBackups: a new request token is taken in one tick (Running) and catalogued in the next.
func (w *world) simBackups() {
	bp := w.bp
	bp.Status.ObservedGeneration = bp.Generation
	if tok := bp.Spec.BackupRequest; tok != "" {
		switch r := bp.Status.LastRequest; {
		case r == nil || r.ID != tok:
			bp.Status.LastRequest = &componentsv1alpha1.BackupRequestStatus{ID: tok, Phase: componentsv1alpha1.PhaseRunning}
		case r.Phase == componentsv1alpha1.PhaseRunning && w.failBackup(tok):
			r.Phase, r.Message = componentsv1alpha1.PhaseFailed, "destination full"
		case r.Phase == componentsv1alpha1.PhaseRunning:
			w.backupCounter++
			r.Phase, r.BackupName = componentsv1alpha1.PhaseSucceeded, fmt.Sprintf("shop-b%d", w.backupCounter)
		}
	}
	ready(bp, true, "")
}

// simFrontend: a stopped web tier runs no pod; a version rolls out in one tick, or fails and returns
// to the last good version.
func (w *world) simFrontend() {
	fe := w.fe
	st := &fe.Status
	st.ObservedGeneration = fe.Generation
	switch {
	case fe.Spec.Stopped:
		st.Replicas, st.ReadyReplicas = 0, 0
		ready(fe, true, "")
	case fe.Spec.Version == w.failVersion:
		st.FailedVersion = fe.Spec.Version
		conditions.MarkStalled(fe, componentsv1alpha1.ReasonRolloutFailed, "pods of "+fe.Spec.Version+" not available")
	default:
		st.Version, st.LastGoodVersion, st.Replicas, st.ReadyReplicas = fe.Spec.Version, fe.Spec.Version, 2, 2
		ready(fe, true, "")
	}
}

// line renders the world after a reconcile for the sequence logs: the Stack's operations and
// conditions, then what each child was told.
func (w *world) line() string {
	s := w.s
	var b strings.Builder
	fmt.Fprintf(&b, "stack serving=%s", dash(s.Status.Version))
	if u := s.Status.Upgrade; u != nil {
		fmt.Fprintf(&b, " upgrade=%s->%s:%s", u.FromVersion, u.ToVersion, u.Phase)
	}
	if r := s.Status.Restore; r != nil {
		fmt.Fprintf(&b, " restore=%s:%s", r.ID, r.Step)
	}
	if m := s.Status.DatabaseUpgrade; m != nil {
		fmt.Fprintf(&b, " pg-upgrade=%s->%s:%s#%d", m.FromVersion, m.ToVersion, m.Step, m.Attempt)
	}
	for _, t := range []string{componentsv1alpha1.ConditionReady, componentsv1alpha1.ConditionReconciling, componentsv1alpha1.ConditionStalled,
		canopyv1alpha1.ConditionOperationWaiting, canopyv1alpha1.ConditionUpgradeable, canopyv1alpha1.ConditionPaused} {
		if c := conditions.Get(s, t); c != nil {
			fmt.Fprintf(&b, " %s=%s/%s", t, c.Status, c.Reason)
		}
	}
	if w.db != nil {
		fmt.Fprintf(&b, "\n      db version=%s", w.db.Spec.Version)
		if m := w.db.Spec.MajorUpgrade; m != nil {
			fmt.Fprintf(&b, " majorUpgrade.fromBackup=%s", m.FromBackup.BackupName)
		}
		if r := w.db.Spec.RestoreRequest; r != nil {
			fmt.Fprintf(&b, " restoreRequest=%s", r.ID)
		}
	}
	if w.bp != nil {
		fmt.Fprintf(&b, "\n      bp backupRequest=%s", dash(w.bp.Spec.BackupRequest))
		if h := w.bp.Spec.Hold; h != nil {
			fmt.Fprintf(&b, " hold=%s", h.Reason)
		}
		if len(w.bp.Spec.ProtectedBackups) > 0 {
			fmt.Fprintf(&b, " protected=%s", strings.Join(w.bp.Spec.ProtectedBackups, ","))
		}
	}
	if w.fe != nil {
		fmt.Fprintf(&b, "\n      fe version=%s stopped=%t", w.fe.Spec.Version, w.fe.Spec.Stopped)
	}
	if c := conditions.Get(s, canopyv1alpha1.ConditionOperationWaiting); c != nil {
		fmt.Fprintf(&b, "\n      waiting: %s", c.Message)
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runningOperations counts the data operations that status shows running.
func runningOperations(s *canopyv1alpha1.Stack) []string {
	var ops []string
	for _, op := range operationOrder {
		if running(s, op) {
			ops = append(ops, op)
		}
	}
	return ops
}

// clone copies the world, to run a reconcile on it without touching this one.
func (w *world) clone() *world {
	c := *w
	c.s = w.s.DeepCopy()
	c.db, c.fe, c.bp = w.db.DeepCopy(), w.fe.DeepCopy(), w.bp.DeepCopy()
	return &c
}
