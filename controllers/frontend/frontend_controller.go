package frontend

import (
	"context"
	"fmt"
	"strings"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/apply"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/frontend"
	"github.com/canopy-dev/canopy/internal/fresh"
	"github.com/canopy-dev/canopy/internal/integrations"
	"github.com/canopy-dev/canopy/internal/issuers"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/outcome"
	"github.com/canopy-dev/canopy/internal/patch"
)

// FieldOwner is the server-side apply field manager of the frontend controller.
const FieldOwner = "canopy-frontend-controller"

// handoverOwner takes over the Deployment's replicas when the autoscaler is turned on, so that
// dropping the field from Canopy's apply does not reset it to one replica.
const handoverOwner = "canopy-replicas-handover"

// +kubebuilder:rbac:groups=components.canopy.dev,resources=frontends,verbs=get;list;watch
// +kubebuilder:rbac:groups=components.canopy.dev,resources=frontends/status,verbs=patch
// +kubebuilder:rbac:groups=components.canopy.dev,resources=frontends/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=core,resources=services,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=cert-manager.io,resources=issuers;clusterissuers,verbs=get
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups=core,resources=events,verbs=create;patch

// Reconciler reconciles Frontends into a web tier.
type Reconciler struct {
	client.Client
	// Recorder emits events on the Frontend.
	Recorder record.EventRecorder
	// APIReader reads from the API server, not the cache (the manager's by default): the cache
	// holds only Canopy's labelled objects, and a name must be checked before it is taken.
	APIReader client.Reader

	owned *integrations.OwnedWatches
	self  *fresh.Reader[*componentsv1alpha1.Frontend]
}

// SetupWithManager registers the controller. Besides its own objects it watches the CRDs of the
// optional integrations, so that installing cert-manager or the Prometheus operator later is picked
// up without a restart.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("frontend-controller") //nolint:staticcheck // core/v1 events: what kubectl describe shows
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	r.Client = integrations.Guard(r.Client, mgr.GetCache())
	r.self = &fresh.Reader[*componentsv1alpha1.Frontend]{Cached: r.Client, Live: r.APIReader}
	r.Client = r.self.Track(r.Client)
	b := ctrl.NewControllerManagedBy(mgr).
		Named("frontend").
		For(&componentsv1alpha1.Frontend{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&networkingv1.Ingress{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&batchv1.Job{})
	c, err := integrations.Watch(b, mgr, &componentsv1alpha1.FrontendList{}).Build(outcome.Settled(r))
	if err != nil {
		return err
	}
	r.owned, err = integrations.WatchOwned(mgr, c, &componentsv1alpha1.Frontend{}, &certmanagerv1.Certificate{}, &monitoringv1.ServiceMonitor{})
	return err
}

// Reconcile brings one Frontend's web tier and status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	// Never from a cache that does not hold this controller's last status write yet, as for the
	// Stack and the Database: rollbacks are decided from status (failedVersion), and a stale one
	// would roll a rolled-back version forward again. fresh reads the cache only when it holds the
	// version last written or read, else the API server.
	fe := &componentsv1alpha1.Frontend{}
	if err := fresh.Read(ctx, r.self, r.APIReader, req.NamespacedName, fe); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !fe.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owned objects go with it (garbage collection)
	}
	pass := &outcome.Pass[*componentsv1alpha1.Frontend]{Client: r.Client, Obj: fe, Before: fe.DeepCopy(), Status: frontendStatus}
	defer pass.Finish(ctx, &res, &err)
	return r.reconcile(ctx, fe, pass)
}

// frontendStatus is the part of a Frontend its reconcile writes.
func frontendStatus(fe *componentsv1alpha1.Frontend) any { return fe.Status }

// reconcile does the work of Reconcile for a Frontend that is not being deleted; pass.Finish writes
// the status it computes.
func (r *Reconciler) reconcile(ctx context.Context, fe *componentsv1alpha1.Frontend, pass *outcome.Pass[*componentsv1alpha1.Frontend]) (ctrl.Result, error) {
	avail, err := integrations.Detect(ctx, r.Client, r.APIReader, r.RESTMapper())
	if err != nil {
		return ctrl.Result{}, err // discovery lags a new CRD: retried with backoff
	}
	caps := capabilities(avail)
	if err := r.owned.Sync(ctx, avail); err != nil {
		return ctrl.Result{}, err
	}
	issuerMissing, err := r.observeIssuer(ctx, fe, caps)
	if err != nil {
		return ctrl.Result{}, err
	}

	dep := &appsv1.Deployment{}
	if err := r.getOwned(ctx, fe, desired.Name(fe), dep); err != nil {
		return ctrl.Result{}, err
	}
	var job *batchv1.Job
	if fe.Spec.Migration != nil {
		job = &batchv1.Job{}
		if err := r.getOwned(ctx, fe, desired.MigrationJobName(fe, fe.Spec.Version), job); err != nil {
			return ctrl.Result{}, err
		}
		job = nilIfEmpty(job)
	}
	dep = nilIfEmpty(dep)
	ro := observeDeployment(dep)
	d := decide(fe, ro, job)
	d.issuerMissing = issuerMissing
	was := existed(fe) // from the last pass's status, before this one rewrites it
	computeStatus(fe, ro, d, caps)

	// A failure is only visible while the Deployment runs the failed version: record it before the
	// rollback changes the Deployment, or a retry would no longer see it and roll forward again.
	if d.newFailure {
		if err := patch.Status(ctx, r.Client, fe, pass.Before, frontendStatus); err != nil {
			return ctrl.Result{}, err
		}
		r.recordTransitions(pass.Before, fe, d)
		pass.Wrote()
	}
	depChanged, err := r.applyAll(ctx, fe, dep, d, caps, was)
	if err != nil {
		return ctrl.Result{}, err
	}
	if d.createJob && fe.Status.Migration != nil {
		// The Job now exists: Running, as the next pass reads it (jobState), not Pending for one
		// status write.
		fe.Status.Migration.Phase = componentsv1alpha1.PhaseRunning
	}
	switch {
	case depChanged && conditions.IsTrue(fe, componentsv1alpha1.ConditionReady):
		// The Deployment just changed: what it reported describes the previous template.
		computeStatus(fe, rollout{exists: ro.exists, version: ro.version, replicas: ro.replicas, ready: ro.ready}, d, caps)
	case depChanged && !ro.exists:
		// The Deployment was just created: report its replicas as the next pass reads them (the API
		// server defaults none to one), not the 0 of 0 of an absent one, a status write later.
		replicas := ptr.Deref(desired.DesiredReplicas(fe), 1)
		computeStatus(fe, rollout{exists: true, version: d.deployVersion, replicas: replicas}, d, caps)
	}
	from := pass.Before
	pass.Landed(func() { r.recordTransitions(from, fe, d) })
	return ctrl.Result{}, nil
}

// getOwned reads an object the Frontend owns; an absent object leaves obj empty (no name).
func (r *Reconciler) getOwned(ctx context.Context, fe *componentsv1alpha1.Frontend, name string, obj client.Object) error {
	err := r.Get(ctx, client.ObjectKey{Namespace: fe.Namespace, Name: name}, obj)
	if apierrors.IsNotFound(err) {
		obj.SetName("")
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return nil
}

func nilIfEmpty[T client.Object](obj T) T {
	if obj.GetName() == "" {
		var zero T
		return zero
	}
	return obj
}

// applyAll writes every object of the web tier, and removes those the spec no longer asks for.
func (r *Reconciler) applyAll(ctx context.Context, fe *componentsv1alpha1.Frontend, dep *appsv1.Deployment, d decision, caps capabilities,
	existed map[string]bool) (bool, error) {
	depChanged := false
	if d.createJob {
		// Jobs are immutable: created once per version, never re-applied.
		if _, err := apply.Create(ctx, r.Client, r.APIReader, desired.MigrationJob(fe, fe.Spec.Version)); err != nil {
			return false, fmt.Errorf("creating the migration Job: %w", err)
		}
	}
	if d.deployVersion != "" {
		want := desired.Deployment(fe, d.deployVersion)
		if want.Spec.Replicas == nil && dep != nil && metav1.IsControlledBy(dep, fe) && ownsReplicas(dep) {
			if err := r.handOverReplicas(ctx, fe, dep); err != nil {
				return false, err
			}
		}
		res, err := r.apply(ctx, fe, "Deployment", want, apply.OrNil(dep), existed)
		if err != nil {
			return false, err
		}
		depChanged = res != apply.Unchanged
	}
	if _, err := r.apply(ctx, fe, "Service", desired.Service(fe), nil, existed); err != nil {
		return false, err
	}
	optional := []struct {
		kind    string
		want    client.Object
		absent  client.Object
		allowed bool
	}{
		{"Ingress", apply.OrNil(desired.Ingress(fe, tlsActive(fe, caps))), &networkingv1.Ingress{}, true},
		{"Certificate", apply.OrNil(desired.Certificate(fe)), &certmanagerv1.Certificate{}, caps.Certificates},
		{"HorizontalPodAutoscaler", apply.OrNil(desired.HorizontalPodAutoscaler(fe)), &autoscalingv2.HorizontalPodAutoscaler{}, true},
		{"PodDisruptionBudget", apply.OrNil(desired.PodDisruptionBudget(fe)), &policyv1.PodDisruptionBudget{}, true},
		{"ServiceMonitor", apply.OrNil(desired.ServiceMonitor(fe)), &monitoringv1.ServiceMonitor{}, caps.Monitoring},
	}
	for _, o := range optional {
		if !o.allowed {
			continue // the API is not installed: nothing to create, nothing to remove
		}
		if o.want != nil {
			if _, err := r.apply(ctx, fe, o.kind, o.want, nil, existed); err != nil {
				return false, err
			}
			continue
		}
		if err := apply.DeleteControlled(ctx, r.Client, fe, client.ObjectKey{Namespace: fe.Namespace, Name: desired.Name(fe)}, o.absent); err != nil {
			return false, fmt.Errorf("removing the %s: %w", o.kind, err)
		}
	}
	return depChanged, nil
}

// apply writes one object; have is the observed object when the caller already read it, else it
// is read here. existed names the kinds whose creation now restores a deleted object.
func (r *Reconciler) apply(ctx context.Context, fe *componentsv1alpha1.Frontend, kind string, want, have client.Object,
	existed map[string]bool) (apply.Result, error) {
	res, err := apply.Ensure(ctx, r.Client, r.APIReader, FieldOwner, want, have)
	if err != nil {
		return res, err
	}
	switch {
	case res == apply.DriftCorrected:
		metrics.DriftCorrections.WithLabelValues(kind, "overwritten").Inc()
		r.Recorder.Eventf(fe, corev1.EventTypeWarning, "Overwritten", "the %s %s was changed by hand; the change has been reverted", kind, want.GetName())
	case res == apply.Created && existed[kind]:
		metrics.DriftCorrections.WithLabelValues(kind, "recreated").Inc()
		r.Recorder.Eventf(fe, corev1.EventTypeWarning, "Recreated", "the %s %s was deleted and has been recreated", kind, want.GetName())
		log.FromContext(ctx).Info("recreated a deleted child", "kind", kind, "name", want.GetName())
	}
	return res, nil
}

// existed tells, from the status of the last pass, which children must exist already, so that
// creating one is a remediation: the Deployment once a version has rolled out (status.version
// stays set), the Service once a pass at this generation has completed (every pass applies it), the
// ServiceMonitor when that pass also had it asked for and its API served (MonitoringAvailable True).
func existed(before *componentsv1alpha1.Frontend) map[string]bool {
	current := before.Status.ObservedGeneration == before.Generation
	return map[string]bool{
		"Deployment":     before.Status.Version != "",
		"Service":        current,
		"ServiceMonitor": current && conditions.IsTrue(before, componentsv1alpha1.ConditionMonitoringAvailable),
	}
}

// ownsReplicas reports whether this controller's apply owns the Deployment's replicas.
func ownsReplicas(dep *appsv1.Deployment) bool {
	for _, mf := range dep.ManagedFields {
		if mf.Manager == FieldOwner && mf.Operation == metav1.ManagedFieldsOperationApply && mf.FieldsV1 != nil &&
			strings.Contains(mf.FieldsV1.GetRawString(), `"f:replicas"`) {
			return true
		}
	}
	return false
}

// handOverReplicas gives the current replica count to another field manager before Canopy stops
// applying it, so that the API server keeps the value for the autoscaler instead of resetting it.
func (r *Reconciler) handOverReplicas(ctx context.Context, fe *componentsv1alpha1.Frontend, dep *appsv1.Deployment) error {
	// At least the autoscaler's minimum: an autoscaler whose target runs zero replicas is disabled.
	replicas := int64(*dep.Spec.Replicas)
	if a := fe.Spec.Autoscaling; a != nil && replicas < int64(a.MinReplicas) {
		replicas = int64(a.MinReplicas)
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": dep.Name, "namespace": dep.Namespace},
		"spec":     map[string]any{"replicas": replicas},
	}}
	if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(handoverOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("handing the replicas of %s over to the autoscaler: %w", dep.Name, err)
	}
	return nil
}

// recordTransitions emits events and counts rollbacks once the status recording them has landed.
func (r *Reconciler) recordTransitions(before, after *componentsv1alpha1.Frontend, d decision) {
	if m := after.Status.Migration; m != nil {
		if old := before.Status.Migration; old == nil || old.Version != m.Version || old.Phase != m.Phase {
			switch m.Phase {
			case componentsv1alpha1.PhasePending, componentsv1alpha1.PhaseRunning:
				// Started once per version: a migration is Running from the pass that creates its Job.
				if old == nil || old.Version != m.Version {
					r.Recorder.Eventf(after, corev1.EventTypeNormal, "MigrationStarted", "migrating for version %s (Job %s)", m.Version, m.JobName)
				}
			case componentsv1alpha1.PhaseSucceeded:
				r.Recorder.Eventf(after, corev1.EventTypeNormal, "MigrationSucceeded", "migration for version %s succeeded", m.Version)
			}
		}
	}
	if d.newFailure && before.Status.FailedVersion != d.failedVersion {
		r.Recorder.Event(after, corev1.EventTypeWarning, d.failReason, d.failMessage)
		if d.failReason == componentsv1alpha1.ReasonRolloutFailed {
			metrics.FrontendRollbacks.Inc()
		}
	}
	if v := after.Status.LastGoodVersion; v != "" && v != before.Status.LastGoodVersion {
		r.Recorder.Eventf(after, corev1.EventTypeNormal, "RolledOut", "version %s is serving", v)
	}
}

// observeIssuer says whether the ingress host's Certificate waits for an issuer that does not
// exist ("" otherwise): cert-manager then says only that it is issuing. The Certificate is read from
// the cache; the issuer, only while the Certificate is not Ready, from the API server.
func (r *Reconciler) observeIssuer(ctx context.Context, fe *componentsv1alpha1.Frontend, caps capabilities) (string, error) {
	if !tlsActive(fe, caps) {
		return "", nil
	}
	cert := &certmanagerv1.Certificate{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: fe.Namespace, Name: desired.Name(fe)}, cert); {
	case apierrors.IsNotFound(err):
		return "", nil // created below; its first status brings the Frontend back
	case err != nil:
		return "", fmt.Errorf("reading the Certificate: %w", err)
	}
	if issuers.CertificateWaiting(cert) == "" || !metav1.IsControlledBy(cert, fe) {
		return "", nil
	}
	issuer, err := issuers.Observe(ctx, r.APIReader, fe.Spec.TLS.IssuerRef, fe.Namespace, cert.Name)
	return issuer.Missing, err
}
