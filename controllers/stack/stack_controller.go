package stack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/apply"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/stack"
	"github.com/canopy-dev/canopy/internal/fresh"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/olm"
	"github.com/canopy-dev/canopy/internal/outcome"
	"github.com/canopy-dev/canopy/internal/patch"
)

// FieldOwner is the server-side apply field manager of the stack controller.
const FieldOwner = "canopy-stack-controller"

// Finalizer keeps a Stack until its children are torn down (or orphaned) as its deletionPolicy says.
const Finalizer = "canopy.dev/stack-teardown"

// +kubebuilder:rbac:groups=canopy.dev,resources=stacks,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=canopy.dev,resources=stacks/status,verbs=patch
// +kubebuilder:rbac:groups=canopy.dev,resources=stacks/finalizers,verbs=update
// +kubebuilder:rbac:groups=components.canopy.dev,resources=databases;frontends;backuppolicies,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=core,resources=events,verbs=create;patch

// Reconciler reconciles Stacks: it applies the specs of the Database, Frontend and BackupPolicy,
// orders their rollout and the upgrades, and aggregates their statuses.
type Reconciler struct {
	client.Client
	// Recorder emits events on the Stack.
	Recorder record.EventRecorder
	// UpgradeGate, when set (under OLM), holds back operator upgrades while a Stack runs an
	// application upgrade, an in-place restore or a PostgreSQL major upgrade.
	UpgradeGate olm.UpgradeGate
	// Now returns the current time; tests replace it.
	Now func() time.Time
	// APIReader reads the Stack from the API server (the manager's by default; the client when nil).
	APIReader client.Reader

	self *fresh.Reader[*canopyv1alpha1.Stack]
}

// SetupWithManager registers the controller: it reconciles a Stack when its spec or annotations
// change and when one of its children changes.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	r.self = &fresh.Reader[*canopyv1alpha1.Stack]{Cached: r.Client, Live: r.APIReader}
	r.Client = r.self.Track(r.Client)
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("stack-controller") //nolint:staticcheck // core/v1 events: what kubectl describe shows
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("stack").
		For(&canopyv1alpha1.Stack{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{},
			deletionPredicate{}))).
		Owns(&componentsv1alpha1.Database{}, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Owns(&componentsv1alpha1.Frontend{}, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Owns(&componentsv1alpha1.BackupPolicy{}, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Complete(outcome.Settled(r))
}

// Reconcile brings one Stack's children and status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	// The upgrade, restore and major-upgrade state machines decide from status: never from a cache
	// that does not hold this controller's last status write yet (a stale step would undo the one
	// taken, for example roll a rolled-back version forward again). fresh reads the cache only when
	// it holds the version last written or read, else the API server.
	live := r.APIReader
	if live == nil {
		live = r.Client
	}
	s := &canopyv1alpha1.Stack{}
	if err := fresh.Read(ctx, r.self, live, req.NamespacedName, s); err != nil {
		if apierrors.IsNotFound(err) {
			// A Stack deleted mid-upgrade no longer holds OLM back.
			r.updateGateOrLog(ctx, nil)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	// On every exit, Stalled and failed ones included: OLM reads the operations in the status as
	// it is now.
	defer r.updateGateOrLog(ctx, s)
	if !s.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	if !controllerutil.ContainsFinalizer(s, Finalizer) {
		// The finalizer is added before any child exists, so that no child outlives the Stack
		// unnoticed.
		base := s.DeepCopy()
		controllerutil.AddFinalizer(s, Finalizer)
		// Optimistic lock: a merge patch replaces the whole finalizer list.
		if err := r.Patch(ctx, s, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding the finalizer: %w", err)
		}
	}

	pass := &outcome.Pass[*canopyv1alpha1.Stack]{Client: r.Client, Obj: s, Before: s.DeepCopy(), Status: stackStatus}
	orig := s.DeepCopy() // events and counters follow the transitions from the status as read
	pass.Landed(func() { r.recordTransitions(orig, s) })
	defer pass.Finish(ctx, &res, &err)
	return r.reconcile(ctx, s, pass)
}

// stackStatus is the part of a Stack its reconcile writes.
func stackStatus(s *canopyv1alpha1.Stack) any { return s.Status }

// reconcile does the work of Reconcile for a Stack that is not being deleted; pass.Finish writes
// the status it computes.
func (r *Reconciler) reconcile(ctx context.Context, s *canopyv1alpha1.Stack, pass *outcome.Pass[*canopyv1alpha1.Stack]) (ctrl.Result, error) {
	o, err := r.observe(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	now := metav1.NewTime(r.Now())
	p := decide(s, o, now)
	if pass.Before, err = recordFailure(ctx, r, s, pass.Before, p); err != nil {
		return ctrl.Result{}, err
	}
	if s.Spec.Paused {
		if o.pending, err = pendingChanges(s, o, p); err != nil {
			return ctrl.Result{}, err
		}
	} else if o.pending, err = applyChildren(ctx, r, s, o, p); err != nil {
		return ctrl.Result{}, err // a refused child stalls the Stack (pass.Finish)
	}
	if requeue := computeStatus(s, o, p, now); requeue > 0 {
		// The step deadline is time, which no watch reports.
		return ctrl.Result{RequeueAfter: requeue}, nil
	}
	return ctrl.Result{}, nil
}

// updateGateOrLog updates OLM's Upgradeable condition; a failure is logged, and retried with the
// next reconcile of any Stack.
func (r *Reconciler) updateGateOrLog(ctx context.Context, current *canopyv1alpha1.Stack) {
	if err := r.updateGate(ctx, current); err != nil {
		log.FromContext(ctx).Error(err, "updating OLM's Upgradeable condition")
	}
}

// observe reads the children from the cache. A child whose CRD is missing counts as absent.
func (r *Reconciler) observe(ctx context.Context, s *canopyv1alpha1.Stack) (observed, error) {
	o := observed{missingCRD: map[string]bool{}}
	key := client.ObjectKey{Namespace: s.Namespace, Name: desired.Name(s)}
	get := func(kind string, obj client.Object) (bool, error) {
		err := r.Get(ctx, key, obj)
		switch {
		case err == nil:
			return metav1.IsControlledBy(obj, s) || apply.Adoptable(obj), nil
		case apierrors.IsNotFound(err):
			return false, nil
		case meta.IsNoMatchError(err):
			o.missingCRD[kind] = true
			return false, nil
		}
		return false, fmt.Errorf("reading the %s: %w", kind, err)
	}
	for _, c := range children {
		obj := c.newObj()
		if ok, err := get(c.kind, obj); err != nil {
			return o, err
		} else if ok {
			c.set(&o, obj)
		}
	}
	return o, nil
}

// buildDatabase is the Database the plan wants.
func buildDatabase(s *canopyv1alpha1.Stack, o observed, p plan) client.Object {
	db := desired.Database(s)
	db.Spec.RestoreRequest = p.restore.dbRequest
	db.Spec.MajorUpgrade = p.major.dbRequest
	if v := p.major.dbVersion; v != "" {
		// The Database learns the new major only once the backup to load exists.
		db.Spec.Version, db.Spec.Image = v, o.db.Spec.Image
	}
	if o.db != nil && o.db.Spec.Bootstrap != nil {
		// The bootstrap source is immutable once the Database exists; a later change of the backup
		// destination it defaulted from must not make every apply fail.
		db.Spec.Bootstrap = o.db.Spec.Bootstrap.DeepCopy()
	}
	return db
}

// databaseReady: the other children are created once the Database is Ready.
func databaseReady(o observed) bool {
	return o.db != nil && conditions.IsTrue(o.db, componentsv1alpha1.ConditionReady)
}

// buildBackupPolicy is the BackupPolicy the plan wants; nil until the Database is Ready, and when
// backups are off.
func buildBackupPolicy(s *canopyv1alpha1.Stack, o observed, p plan) client.Object {
	if s.Spec.Backup == nil || (!databaseReady(o) && o.bp == nil) {
		return nil
	}
	// Backups record the version serving; before the first rollout, the version being installed
	// (so that the policy's spec does not change when the first rollout completes).
	appVersion := p.upgrade.serving
	if appVersion == "" {
		appVersion = s.Spec.Version
	}
	return desired.BackupPolicy(s, desired.BackupInput{AppVersion: appVersion, BackupRequest: p.backupRequest,
		Hold: p.hold, ProtectedBackups: p.protected})
}

// buildFrontend is the Frontend the plan wants; nil until the Database is Ready.
func buildFrontend(s *canopyv1alpha1.Stack, o observed, p plan) client.Object {
	if !databaseReady(o) && o.fe == nil {
		return nil
	}
	in := desired.FrontendInput{Version: p.upgrade.frontendVersion, CredentialsSecretName: credentialsSecret(s, o), DatabaseTLS: databaseTLS(o),
		Stopped: p.stopFrontend}
	if o.db != nil {
		// A rotation, or the credentials Secret recreated with a new password, restarts the web
		// tier: its pods read the password when they start.
		in.CredentialsRevision = credentialsRevision(o.db.Status)
	}
	return desired.Frontend(s, in)
}

// databaseTLS says whether the credentials the web tier uses verify the server with the database's
// CA, as the Database reports once it serves TLS: the web tier then mounts the CA, and rolls, after
// the Secret's uri says verify-full, so that its new pods read that uri. While the Database's status
// says nothing (it was just recreated), the web tier keeps what it has.
func databaseTLS(o observed) bool {
	switch {
	case o.db != nil && o.db.Status.CredentialsSecretName != "":
		return o.db.Status.TLSEnabled
	case o.fe != nil && o.fe.Spec.Database != nil:
		return o.fe.Spec.Database.TLS
	}
	return false
}

// credentialsSecret names the database credentials the web tier uses. While the Database's status
// says nothing (it was just recreated), the web tier keeps the Secret it has rather than losing its
// connection.
func credentialsSecret(s *canopyv1alpha1.Stack, o observed) string {
	switch {
	case o.db != nil && o.db.Status.CredentialsSecretName != "":
		return o.db.Status.CredentialsSecretName
	case o.fe != nil && o.fe.Spec.Database != nil:
		return o.fe.Spec.Database.CredentialsSecretName
	}
	return s.Status.CredentialsSecretName
}

// childWriter writes what a reconcile decided: to the API server (Reconciler), or to the simulated
// cluster of the sequence tests (sim_test.go), which so run the controller's own steps.
type childWriter interface {
	// applyChild writes want over have (nil when absent) and reports whether it changed anything.
	applyChild(ctx context.Context, s *canopyv1alpha1.Stack, c childKind, want, have client.Object) (bool, error)
	deleteChild(ctx context.Context, c childKind, have client.Object) error
	// writeStatus writes s's status over before's.
	writeStatus(ctx context.Context, s, before *canopyv1alpha1.Stack) error
}

// recordFailure writes an upgrade's failure to status before anything rolls it back: a rollback
// applied without its record would be undone by the next reconcile, which would find the Frontend
// back at the old version and no failure to explain it. It returns the status as now written.
func recordFailure(ctx context.Context, cw childWriter, s, before *canopyv1alpha1.Stack, p plan) (*canopyv1alpha1.Stack, error) {
	if !newlyFailed(before, p.upgrade) {
		return before, nil
	}
	recorded := before.DeepCopy()
	recorded.Status.Upgrade = p.upgrade.upgrade.DeepCopy()
	if err := cw.writeStatus(ctx, recorded, before); err != nil {
		return before, err
	}
	s.ResourceVersion = recorded.ResourceVersion
	return recorded, nil
}

// applyChildren applies the Database, then — once the Database is Ready, or when they already
// exist — the BackupPolicy and the Frontend (the children table's order), and deletes a child the
// Stack no longer wants. It returns the kinds it wrote: their controllers have not observed the new
// spec yet.
func applyChildren(ctx context.Context, cw childWriter, s *canopyv1alpha1.Stack, o observed, p plan) (map[string]bool, error) {
	written := map[string]bool{}
	for _, c := range children {
		have := c.of(&o)
		switch want := c.build(s, o, p); {
		case want != nil:
			changed, err := cw.applyChild(ctx, s, c, want, have)
			if err != nil {
				return written, err
			}
			written[c.kind] = changed
		case !c.wanted(s) && have != nil:
			// Only the BackupPolicy can be unwanted (backups turned off): it goes; what it wrote
			// stays (its retention is Retain until the Stack itself is deleted).
			if err := cw.deleteChild(ctx, c, have); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// pendingChanges lists, for a paused Stack, the children whose spec differs from what the Stack
// asks: status must not call them up to date.
func pendingChanges(s *canopyv1alpha1.Stack, o observed, p plan) (map[string]bool, error) {
	pending := map[string]bool{}
	for _, c := range children {
		want, have := c.build(s, o, p), c.of(&o)
		if want == nil || have == nil {
			continue
		}
		needs, err := apply.NeedsApply(want, have)
		if err != nil {
			return nil, err
		}
		pending[c.kind] = needs
	}
	return pending, nil
}

// applyChild applies one child and reports remediations: a deleted child recreated, a manual
// change overwritten.
func (r *Reconciler) applyChild(ctx context.Context, s *canopyv1alpha1.Stack, c childKind, want, have client.Object) (bool, error) {
	// have is nil when no child the Stack controls (or may adopt) was observed; Ensure then reads
	// the name, and a same-named object the Stack does not control is refused (NotControlledError).
	res, err := apply.Ensure(ctx, r.Client, r.APIReader, FieldOwner, want, have)
	if err != nil {
		return false, err
	}
	kind := c.kind
	logger := log.FromContext(ctx).WithValues("kind", kind, "child", klog.KObj(want))
	switch res {
	case apply.Created:
		if c.existed(s) {
			metrics.DriftCorrections.WithLabelValues(kind, "recreated").Inc()
			r.Recorder.Eventf(s, corev1.EventTypeWarning, "Recreated", "the %s %s was deleted and has been recreated", kind, want.GetName())
			logger.Info("recreated a deleted child")
		} else {
			r.Recorder.Eventf(s, corev1.EventTypeNormal, "Created", "created the %s %s", kind, want.GetName())
		}
	case apply.DriftCorrected:
		metrics.DriftCorrections.WithLabelValues(kind, "overwritten").Inc()
		r.Recorder.Eventf(s, corev1.EventTypeWarning, "Overwritten", "the %s %s was changed outside its Stack; the change has been reverted", kind,
			want.GetName())
		logger.Info("reverted a manual change to a child")
	}
	return res != apply.Unchanged, nil
}

func (r *Reconciler) deleteChild(ctx context.Context, c childKind, have client.Object) error {
	if err := r.Delete(ctx, have); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting the %s: %w", c.kind, err)
	}
	return nil
}

func (r *Reconciler) writeStatus(ctx context.Context, s, before *canopyv1alpha1.Stack) error {
	return patch.Status(ctx, r.Client, s, before, func(x *canopyv1alpha1.Stack) any { return x.Status })
}

// credentialsRevision changes whenever the database's password does: at each rotation (its token),
// and when the credentials Secret was recreated (both, hashed to fit the field).
func credentialsRevision(st componentsv1alpha1.DatabaseStatus) string {
	if st.CredentialsRecreated == "" {
		return st.CredentialsRotation
	}
	sum := sha256.Sum256([]byte(st.CredentialsRotation + "/" + st.CredentialsRecreated))
	return "recreated-" + hex.EncodeToString(sum[:10])
}
