package backuppolicy

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/apply"
	desired "github.com/canopy-dev/canopy/internal/desired/backup"
	"github.com/canopy-dev/canopy/internal/destsecrets"
	"github.com/canopy-dev/canopy/internal/images"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/outcome"
	"github.com/canopy-dev/canopy/internal/patch"
)

// FieldOwner is the server-side apply field manager of the backup controller.
const FieldOwner = "canopy-backup-controller"

// +kubebuilder:rbac:groups=components.canopy.dev,resources=backuppolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=components.canopy.dev,resources=backuppolicies/status,verbs=patch
// +kubebuilder:rbac:groups=components.canopy.dev,resources=backuppolicies/finalizers,verbs=update
// +kubebuilder:rbac:groups=components.canopy.dev,resources=databases,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=cronjobs;jobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=core,resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get
// +kubebuilder:rbac:groups=core,resources=persistentvolumeclaims,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=core,resources=events,verbs=create;patch

// Reconciler reconciles BackupPolicies: scheduled backups as a CronJob, on-demand backups as Jobs,
// and the catalogue of backups from what the agent reported.
type Reconciler struct {
	client.Client
	// Recorder emits events on the BackupPolicy.
	Recorder record.EventRecorder
	// Getenv resolves the agent's image override (RELATED_IMAGE_CANOPY).
	Getenv func(string) string
	// Now returns the current time; tests replace it.
	Now func() time.Time
	// APIReader reads from the API server, not the cache (the manager's by default): the cache
	// holds only Canopy's labelled objects, and a name must be checked before it is taken.
	APIReader client.Reader
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("backup-controller") //nolint:staticcheck // core/v1 events: what kubectl describe shows
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Getenv == nil {
		r.Getenv = os.Getenv
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("backuppolicy").
		For(&componentsv1alpha1.BackupPolicy{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{},
			predicate.AnnotationChangedPredicate{}))).
		Owns(&batchv1.CronJob{}).
		// Scheduled Jobs belong to the CronJob, on-demand ones to the policy: the label covers both.
		Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(policyOfLabel)).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(policyOfLabel)).
		// The backup volume has no owner (it outlives the policy); only its deletion matters, as
		// Canopy never changes it.
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(policyOfLabel), builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(event.CreateEvent) bool { return false }, UpdateFunc: func(event.UpdateEvent) bool { return false },
			GenericFunc: func(event.GenericEvent) bool { return false }})).
		Watches(&componentsv1alpha1.Database{}, handler.EnqueueRequestsFromMapFunc(r.policiesOfDatabase)).
		Complete(outcome.Settled(r))
}

// policyOfLabel maps a backup Job or pod to its BackupPolicy.
func policyOfLabel(_ context.Context, o client.Object) []reconcile.Request {
	if name := o.GetLabels()[desired.LabelPolicy]; name != "" {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name}}}
	}
	return nil
}

func (r *Reconciler) policiesOfDatabase(ctx context.Context, db client.Object) []reconcile.Request {
	var list componentsv1alpha1.BackupPolicyList
	if err := r.List(ctx, &list, client.InNamespace(db.GetNamespace())); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, bp := range list.Items {
		if bp.Spec.DatabaseName == db.GetName() {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&bp)})
		}
	}
	return reqs
}

// Reconcile brings one BackupPolicy's Jobs and status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	bp := &componentsv1alpha1.BackupPolicy{}
	if err := r.Get(ctx, req.NamespacedName, bp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !bp.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, bp)
	}
	// Only a policy whose backups go with it waits on Canopy to be deleted.
	if err := patch.Finalizer(ctx, r.Client, bp, BackupsFinalizer, bp.Spec.BackupRetention == componentsv1alpha1.Delete); err != nil {
		return ctrl.Result{}, err
	}
	pass := &outcome.Pass[*componentsv1alpha1.BackupPolicy]{Client: r.Client, Obj: bp, Before: bp.DeepCopy(), Status: policyStatus}
	defer pass.Finish(ctx, &res, &err)
	return r.reconcile(ctx, bp, pass)
}

// policyStatus is the part of a BackupPolicy its reconcile writes.
func policyStatus(bp *componentsv1alpha1.BackupPolicy) any { return bp.Status }

// reconcile does the work of Reconcile for a BackupPolicy that is not being deleted; pass.Finish
// writes the status it computes.
func (r *Reconciler) reconcile(ctx context.Context, bp *componentsv1alpha1.BackupPolicy,
	pass *outcome.Pass[*componentsv1alpha1.BackupPolicy]) (ctrl.Result, error) {
	now := r.Now()
	st := status{waiting: map[string]string{}}

	schedule, scheduleErr := parseSchedule(bp)
	db := &componentsv1alpha1.Database{}
	dbErr := r.Get(ctx, client.ObjectKey{Namespace: bp.Namespace, Name: bp.Spec.DatabaseName}, db)
	if dbErr != nil && !apierrors.IsNotFound(dbErr) {
		return ctrl.Result{}, fmt.Errorf("reading the Database: %w", dbErr)
	}
	// The database's status says how to reach it and which image dumps it; until it has reported,
	// nothing can be backed up.
	dbKnown := dbErr == nil && db.Status.CredentialsSecretName != "" && db.Status.Image != ""
	st.dbKnown = dbKnown
	st.scheduleErr = scheduleErr
	secrets, err := r.checkSecrets(ctx, bp, backupUse)
	if err != nil {
		return ctrl.Result{}, err
	}
	st.secrets = secrets
	if secrets != nil {
		// No backup can start: a new request says why it waits.
		st.waiting[desired.TriggerRequest] = secrets.Message
		st.waiting[desired.TriggerAnnotation] = secrets.Message
	}

	if dbKnown && scheduleErr == nil && secrets == nil {
		in := desired.Input{AgentImage: images.Resolve(images.Canopy, r.Getenv), PostgresImage: db.Status.Image,
			CredentialsSecret: db.Status.CredentialsSecretName, DatabaseVersion: db.Status.Version}
		if err := r.ensureClaim(ctx, bp); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.applySchedule(ctx, bp, in); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.startRequests(ctx, bp, in, &st); err != nil {
			return ctrl.Result{}, err
		}
	} else if desired.Suspended(bp) || secrets != nil {
		// The CronJob cannot be rebuilt without the database's status, but a hold must still stop
		// it; and a scheduled run would wait, not started, for a Secret that is not there.
		if err := r.suspendSchedule(ctx, bp); err != nil {
			return ctrl.Result{}, err
		}
	}
	if err := r.collect(ctx, bp, &st); err != nil {
		return ctrl.Result{}, err
	}
	computeStatus(bp, st, schedule, now)
	pass.Landed(func() { r.recordOutcomes(bp, st) })
	if len(st.newlyDone) > 0 {
		// A Job is marked once the status records its outcome, so that no outcome is lost or counted twice.
		pass.Then(func(ctx context.Context) error { return r.markRecorded(ctx, st.newlyDone) })
	}
	if st.waitingResult {
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil // the pod is not watched by name
	}
	if secrets != nil {
		return ctrl.Result{RequeueAfter: destsecrets.Recheck(bp, now)}, nil // the user's Secrets are not watched
	}
	return ctrl.Result{}, nil
}

// resultGrace is how long a completed Job's result may stay unreadable before the backup counts as
// failed (its pod was removed before the controller read it).
const resultGrace = 2 * time.Minute

// parseSchedule checks what admission cannot: the value ranges of the cron fields.
func parseSchedule(bp *componentsv1alpha1.BackupPolicy) (cron.Schedule, error) {
	if bp.Spec.Schedule == "" {
		return nil, nil
	}
	s, err := cron.ParseStandard(string(bp.Spec.Schedule))
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", bp.Spec.Schedule, err)
	}
	if tz := bp.Spec.TimeZone; tz != nil && *tz != "" {
		if _, err := time.LoadLocation(*tz); err != nil {
			return nil, fmt.Errorf("timeZone %q: %w", *tz, err)
		}
	}
	return s, nil
}

// ensureClaim creates the backup volume once. It is never updated or deleted by Canopy: it holds the
// backups.
func (r *Reconciler) ensureClaim(ctx context.Context, bp *componentsv1alpha1.BackupPolicy) error {
	claim := desired.VolumeClaim(bp)
	if claim == nil {
		return nil
	}
	have, err := apply.Cached(ctx, r.Client, claim)
	if err == nil && have == nil {
		var existing client.Object // Canopy's, outside the cache: nothing to do
		if existing, err = apply.Create(ctx, r.Client, r.APIReader, claim); err == nil && existing == nil {
			r.reportRemediation(ctx, bp, "PersistentVolumeClaim", claim, apply.Created)
		}
	}
	if err != nil {
		return fmt.Errorf("creating the backup volume: %w", err)
	}
	return nil
}

// applySchedule writes the CronJob, or removes it when there is no schedule.
func (r *Reconciler) applySchedule(ctx context.Context, bp *componentsv1alpha1.BackupPolicy, in desired.Input) error {
	want := desired.CronJob(bp, in)
	if want == nil {
		return apply.DeleteControlled(ctx, r.Client, bp, client.ObjectKey{Namespace: bp.Namespace, Name: desired.Name(bp)}, &batchv1.CronJob{})
	}
	res, err := apply.Ensure(ctx, r.Client, r.APIReader, FieldOwner, want, nil)
	if err != nil {
		return err
	}
	r.reportRemediation(ctx, bp, "CronJob", want, res)
	return nil
}

// suspendSchedule suspends the policy's existing CronJob, if it controls one that still runs.
func (r *Reconciler) suspendSchedule(ctx context.Context, bp *componentsv1alpha1.BackupPolicy) error {
	cj := &batchv1.CronJob{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: bp.Namespace, Name: desired.Name(bp)}, cj); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !metav1.IsControlledBy(cj, bp) || (cj.Spec.Suspend != nil && *cj.Spec.Suspend) {
		return nil
	}
	base := cj.DeepCopy()
	cj.Spec.Suspend = ptr.To(true)
	if err := r.Patch(ctx, cj, client.MergeFrom(base)); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("suspending the CronJob %s: %w", cj.Name, err)
	}
	return nil
}

// startRequests creates the Job of a new spec.backupRequest and of a new canopy.dev/backup-now
// annotation. Job names derive from the request, so a retry or a restart finds the Job instead of
// starting a second backup; a request already answered in status is not started again.
//
// While the policy is held (a data operation runs), an annotation request waits, and the
// operation's own spec.backupRequest starts only once no scheduled or annotation-requested backup
// is still running: one started before the hold would otherwise dump while the operation changes
// the data, and its retention could delete the operation's backup. Both wait in st.waiting.
func (r *Reconciler) startRequests(ctx context.Context, bp *componentsv1alpha1.BackupPolicy, in desired.Input, st *status) error {
	var busy string
	if bp.Spec.Hold != nil {
		var err error
		if busy, err = r.runningHeldJob(ctx, bp); err != nil {
			return err
		}
	}
	for _, rq := range []struct {
		trigger, token string
		last           *componentsv1alpha1.BackupRequestStatus
	}{
		{desired.TriggerRequest, bp.Spec.BackupRequest, bp.Status.LastRequest},
		{desired.TriggerAnnotation, bp.Annotations[canopyv1alpha1.AnnotationBackupNow], bp.Status.LastAnnotationRequest},
	} {
		// A Pending request may be one that waited for a hold to end: it has no Job yet.
		if rq.token == "" || (rq.last != nil && rq.last.ID == rq.token && rq.last.Phase != componentsv1alpha1.PhasePending) {
			continue
		}
		name := desired.JobName(bp, rq.trigger, rq.token)
		if r.jobExists(ctx, bp, name) {
			continue
		}
		if h := bp.Spec.Hold; h != nil {
			switch {
			case rq.trigger == desired.TriggerAnnotation:
				st.waiting[rq.trigger] = "held until the data operation ends (" + h.Reason + "): " + h.Message
				continue
			case busy != "":
				st.waiting[rq.trigger] = "waiting for the backup Job " + busy + ", started before the hold, to finish"
				continue
			}
		}
		if _, err := apply.Create(ctx, r.Client, r.APIReader, desired.BackupJob(bp, in, name, rq.trigger, rq.token)); err != nil {
			return fmt.Errorf("starting the backup Job %s: %w", name, err)
		}
	}
	return nil
}

// runningHeldJob names a running backup Job of the kinds a hold stops (scheduled or annotation
// requested), or returns "" when there is none.
func (r *Reconciler) runningHeldJob(ctx context.Context, bp *componentsv1alpha1.BackupPolicy) (string, error) {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(bp.Namespace), client.MatchingLabels{desired.LabelPolicy: bp.Name}); err != nil {
		return "", fmt.Errorf("listing backup Jobs: %w", err)
	}
	var names []string
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Labels[desired.LabelTrigger] != desired.TriggerRequest && !jobEnded(j) {
			names = append(names, j.Name)
		}
	}
	if len(names) == 0 {
		return "", nil
	}
	sort.Strings(names)
	return names[0], nil
}

// jobExists reports whether the Job of a request is in the cache (a Job just created may not be
// yet: creating it again is refused as AlreadyExists, which is harmless).
func (r *Reconciler) jobExists(ctx context.Context, bp *componentsv1alpha1.BackupPolicy, name string) bool {
	return r.Get(ctx, client.ObjectKey{Namespace: bp.Namespace, Name: name}, &batchv1.Job{}) == nil
}

// status is what one reconcile observed, for computeStatus.
type status struct {
	// waiting holds, per trigger, why a new request has no Job yet.
	waiting       map[string]string
	dbKnown       bool
	scheduleErr   error
	secrets       *destsecrets.Problem // a Secret the destination names is missing or unusable
	running       []*batchv1.Job
	waitingResult bool // a Job completed but its result is not readable yet
	finished      []finishedJob
	newlyDone     []finishedJob // finished Jobs not yet reflected in status
}

// collect reads the policy's Jobs and their agents' results, and prunes old finished on-demand Jobs.
func (r *Reconciler) collect(ctx context.Context, bp *componentsv1alpha1.BackupPolicy, st *status) error {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(bp.Namespace), client.MatchingLabels{desired.LabelPolicy: bp.Name}); err != nil {
		return fmt.Errorf("listing backup Jobs: %w", err)
	}
	seen := map[string]bool{}
	for _, b := range bp.Status.Backups {
		seen[b.Name] = true
	}
	for i := range jobs.Items {
		job := &jobs.Items[i]
		var pods corev1.PodList
		if err := r.List(ctx, &pods, client.InNamespace(bp.Namespace), client.MatchingLabels{"job-name": job.Name}); err != nil {
			return fmt.Errorf("listing the pods of %s: %w", job.Name, err)
		}
		f, done := jobOutcome(job, pods.Items)
		if done && f.succeeded && f.result == nil && r.Now().Sub(f.finished.Time) < resultGrace {
			// Complete, but the pod with the agent's result is not in the cache yet: look again
			// rather than record a backup that succeeded as a failure.
			done, st.waitingResult = false, true
		}
		if !done {
			st.running = append(st.running, job)
			continue
		}
		st.finished = append(st.finished, f)
		if known(f) {
			continue
		}
		st.newlyDone = append(st.newlyDone, f)
	}
	sort.Slice(st.newlyDone, func(i, j int) bool { return st.newlyDone[i].finished.Before(&st.newlyDone[j].finished) })
	return r.prune(ctx, bp, st.finished)
}

// AnnotationRecorded marks a finished backup Job whose outcome is in the policy's status, so that
// it is never counted again (a backup retention deleted since must not come back to the catalogue,
// a failure must not be reported twice).
const AnnotationRecorded = "canopy.dev/recorded"

// known reports whether status already reflects a finished Job.
func known(f finishedJob) bool {
	return f.job.Annotations[AnnotationRecorded] == "true"
}

// markRecorded annotates the Jobs whose outcome the status now holds.
func (r *Reconciler) markRecorded(ctx context.Context, jobs []finishedJob) error {
	for _, f := range jobs {
		base := f.job.DeepCopy()
		if f.job.Annotations == nil {
			f.job.Annotations = map[string]string{}
		}
		f.job.Annotations[AnnotationRecorded] = "true"
		if err := r.Patch(ctx, f.job, client.MergeFrom(base)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("marking the Job %s recorded: %w", f.job.Name, err)
		}
	}
	return nil
}

// prune deletes finished on-demand Jobs beyond the history limits (the CronJob prunes its own). Only
// Jobs: the backups they wrote stay.
func (r *Reconciler) prune(ctx context.Context, bp *componentsv1alpha1.BackupPolicy, finished []finishedJob) error {
	keep := map[bool]int{true: 3, false: 3}
	if l := bp.Spec.SuccessfulJobsHistoryLimit; l != nil {
		keep[true] = int(*l)
	}
	if l := bp.Spec.FailedJobsHistoryLimit; l != nil {
		keep[false] = int(*l)
	}
	sort.Slice(finished, func(i, j int) bool { return finished[j].finished.Before(&finished[i].finished) })
	count := map[bool]int{}
	for _, f := range finished {
		if f.job.Labels[desired.LabelTrigger] == desired.TriggerScheduled || !metav1.IsControlledBy(f.job, bp) {
			continue
		}
		count[f.succeeded]++
		if count[f.succeeded] <= keep[f.succeeded] || !known(f) {
			continue
		}
		if err := r.Delete(ctx, f.job, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("pruning the Job %s: %w", f.job.Name, err)
		}
	}
	return nil
}

// recordOutcomes emits events and the failure counter for the Jobs that finished since the last status.
func (r *Reconciler) recordOutcomes(bp *componentsv1alpha1.BackupPolicy, st status) {
	database := bp.Spec.DatabaseName
	for _, f := range st.newlyDone {
		if stored(f) {
			rec := backupRecord(f)
			// The last-success, size and duration gauges are read from status at each scrape.
			r.Recorder.Eventf(bp, corev1.EventTypeNormal, "BackupSucceeded", "backup %s: %d bytes at %s", rec.Name, rec.SizeBytes, rec.Location)
			if f.succeeded {
				continue
			}
		}
		fail := failure(f)
		metrics.BackupFailures.WithLabelValues(bp.Namespace, database).Inc()
		r.Recorder.Eventf(bp, corev1.EventTypeWarning, componentsv1alpha1.ReasonBackupFailed, "backup Job %s failed (%s): %s", f.job.Name, fail.Reason,
			fail.Message)
	}
}
