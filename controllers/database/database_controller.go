package database

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/apply"
	"github.com/canopy-dev/canopy/internal/desired/common"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/destsecrets"
	"github.com/canopy-dev/canopy/internal/fresh"
	"github.com/canopy-dev/canopy/internal/images"
	"github.com/canopy-dev/canopy/internal/integrations"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/outcome"
	"github.com/canopy-dev/canopy/internal/patch"
	"github.com/canopy-dev/canopy/internal/pgadmin"
)

// FieldOwner is the server-side apply field manager of the database controller.
const FieldOwner = "canopy-database-controller"

// +kubebuilder:rbac:groups=components.canopy.dev,resources=databases,verbs=get;list;watch
// +kubebuilder:rbac:groups=components.canopy.dev,resources=databases/status,verbs=patch
// +kubebuilder:rbac:groups=components.canopy.dev,resources=databases/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=core,resources=services,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=core,resources=configmaps,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=cert-manager.io,resources=issuers;clusterissuers,verbs=get
// +kubebuilder:rbac:groups=core,resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create
// +kubebuilder:rbac:groups=core,resources=persistentvolumeclaims,verbs=get;list;watch;patch;delete
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors;prometheusrules,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups=core,resources=events,verbs=create;patch

// Reconciler reconciles Databases into a running PostgreSQL.
type Reconciler struct {
	client.Client
	// Recorder emits events on the Database.
	Recorder record.EventRecorder
	// Connect opens a superuser session (credential rotation); pgadmin.Connect by default.
	Connect pgadmin.Connector
	// Getenv resolves image overrides (RELATED_IMAGE_*) and the operator's namespace.
	Getenv func(string) string
	// Now returns the current time; tests replace it.
	Now func() time.Time
	// APIReader reads from the API server, not the cache (the manager's by default).
	APIReader client.Reader

	owned *integrations.OwnedWatches
	self  *fresh.Reader[*componentsv1alpha1.Database]
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorderFor("database-controller") //nolint:staticcheck // core/v1 events: what kubectl describe shows
	}
	if r.Connect == nil {
		r.Connect = pgadmin.Connect
	}
	if r.Getenv == nil {
		r.Getenv = os.Getenv
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	r.Client = integrations.Guard(r.Client, mgr.GetCache())
	r.self = &fresh.Reader[*componentsv1alpha1.Database]{Cached: r.Client, Live: r.APIReader}
	r.Client = r.self.Track(r.Client)
	b := ctrl.NewControllerManagedBy(mgr).
		Named("database").
		For(&componentsv1alpha1.Database{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&batchv1.Job{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(podOwner)).
		// The certificate's Secret (labelled by the Certificate's secretTemplate): without
		// cert-manager, its changes are the only news of the key pair.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(podOwner)).
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(podOwner))
	c, err := integrations.Watch(b, mgr, &componentsv1alpha1.DatabaseList{}).Build(outcome.Settled(r))
	if err != nil {
		return err
	}
	r.owned, err = integrations.WatchOwned(mgr, c, &componentsv1alpha1.Database{},
		&certmanagerv1.Certificate{}, &monitoringv1.ServiceMonitor{}, &monitoringv1.PrometheusRule{})
	return err
}

// podOwner maps the PostgreSQL pod, its claim and the Secrets (labelled like every database
// object) to their Database, which is named like the Stack.
func podOwner(_ context.Context, o client.Object) []reconcile.Request {
	l := o.GetLabels()
	if l["app.kubernetes.io/component"] != "database" || l["app.kubernetes.io/instance"] == "" {
		return nil
	}
	name := l["app.kubernetes.io/name"]
	const suffix = "-postgres"
	if len(name) <= len(suffix) || name[len(name)-len(suffix):] != suffix {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: o.GetNamespace(), Name: name[:len(name)-len(suffix)]}}}
}

// Reconcile brings one Database's objects and status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (res ctrl.Result, err error) {
	// Never from a cache that does not hold this controller's last status write yet: the
	// instance's life (a major upgrade's steps, the volume in use) is decided from status, and a
	// stale one would undo the step just taken — recreate the StatefulSet it just replaced. fresh
	// reads the cache only when it holds the version last written or read, else the API server.
	db := &componentsv1alpha1.Database{}
	if err := fresh.Read(ctx, r.self, r.APIReader, req.NamespacedName, db); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !db.DeletionTimestamp.IsZero() {
		// Owned objects go with it; the data volumes as volumeRetention says.
		return ctrl.Result{}, r.reconcileDelete(ctx, db)
	}
	// Only a Database whose volumes go with it waits on Canopy to be deleted.
	if err := patch.Finalizer(ctx, r.Client, db, VolumesFinalizer, db.Spec.VolumeRetention == componentsv1alpha1.Delete); err != nil {
		return ctrl.Result{}, err
	}
	pass := &outcome.Pass[*componentsv1alpha1.Database]{Client: r.Client, Obj: db, Before: db.DeepCopy(), Status: databaseStatus}
	defer pass.Finish(ctx, &res, &err)
	return r.reconcile(ctx, db, pass)
}

// databaseStatus is the part of a Database its reconcile writes.
func databaseStatus(db *componentsv1alpha1.Database) any { return db.Status }

// reconcile does the work of Reconcile for a Database that is not being deleted; pass.Finish writes
// the status it computes.
func (r *Reconciler) reconcile(ctx context.Context, db *componentsv1alpha1.Database, pass *outcome.Pass[*componentsv1alpha1.Database]) (ctrl.Result, error) {
	before := pass.Before
	now := r.Now()
	avail, err := integrations.Detect(ctx, r.Client, r.APIReader, r.RESTMapper())
	if err != nil {
		return ctrl.Result{}, err // discovery lags a new CRD: retried with backoff
	}
	caps := capabilities(avail)
	if err := r.owned.Sync(ctx, avail); err != nil {
		return ctrl.Result{}, err
	}

	claims, err := r.dataClaims(ctx, db)
	if err != nil {
		return ctrl.Result{}, err
	}
	// The claim labelled current held data PostgreSQL ran ready on, with the Secrets' passwords.
	generated, err := r.ensureSecrets(ctx, db, currentClaim(claims) != "")
	if err != nil {
		return ctrl.Result{}, err
	}
	sts, pod, err := r.observe(ctx, db)
	if err != nil {
		return ctrl.Result{}, err
	}
	ss, ps := observeStatefulSet(sts), observePod(pod)
	ps.certificate = servedCertificate(db, ps)
	// TLS asked for is TLS required: see planTLS.
	certs, err := r.observeTLS(ctx, db, caps.Certificates)
	if err != nil {
		return ctrl.Result{}, err
	}
	tls := planTLS(db, certs, ss, ps, now)
	if served := r.followCertificate(ctx, db, &tls, ps, certs, now); served != ps.certificate {
		ps.certificate = served
		tls = planTLS(db, certs, ss, ps, now) // it serves the renewed certificate now: the credentials follow
	}
	cm, wantHash := desired.ConfigMap(db, tls.on)
	if _, err := r.apply(ctx, db, "ConfigMap", cm); err != nil {
		return ctrl.Result{}, err
	}
	if _, err := r.apply(ctx, db, "ConfigMap", desired.InitConfigMap(db)); err != nil {
		return ctrl.Result{}, err
	}
	ss.currentClaim = currentClaim(claims)
	if ss.currentMajor = claimMajor(claims, ss.currentClaim); ss.currentMajor != "" && db.Spec.Image == "" {
		ss.currentImage = images.Postgres(ss.currentMajor, r.Getenv)
	}
	major := planMajor(db, ss, desired.Image(db, r.Getenv))
	if err := r.advanceMajor(ctx, db, &major, ss, ps); err != nil {
		return ctrl.Result{}, err
	}
	target := major.target
	pvc, err := r.claim(ctx, db, target.dataVolume)
	if err != nil {
		return ctrl.Result{}, err
	}
	canRevert, err := r.revertible(ctx, db, tls.on)
	if err != nil {
		return ctrl.Result{}, err
	}
	cfg := decideConfig(db, wantHash, ps, now, canRevert)

	in := desired.StatefulSetInput{Image: target.image, Version: target.version, ExporterImage: images.Resolve(images.Exporter, r.Getenv), ConfigHash: cfg.hash,
		VolumeSize: db.Spec.Storage.Size, Monitoring: monitoringOn(db), TLS: tls.on, Certificate: tls.certificate,
		DataVolume: target.dataVolume, KeepVolume: target.keepVolume}
	if ss.exists && !major.replace && !ss.volumeSize.IsZero() {
		in.VolumeSize = ss.volumeSize // claim templates are immutable: growth happens on the claim
	}
	// A StatefulSet on another data volume goes first; its successor waits for its pod to be gone.
	stsChanged, err := r.applyAll(ctx, db, in, caps, !major.replace && !major.hold && !tls.hold && replaceable(db, ss, ps, target))
	if err != nil {
		return ctrl.Result{}, err
	}
	if major.replace {
		if err := r.removeStatefulSet(ctx, db, sts); err != nil {
			return ctrl.Result{}, err
		}
		stsChanged = true
	}
	verifies, err := r.syncConnection(ctx, db, tls)
	if err != nil {
		return ctrl.Result{}, err
	}
	inUse := desired.ClaimName(db, target.dataVolume)
	kept := keptVolumes(db, claims, inUse)
	if !major.running() { // an upgrade in flight may still go back to its previous volume
		if runsTarget(db, ss, ps, target) {
			if err := r.markCurrentClaim(ctx, claims, inUse, componentsv1alpha1.MajorVersion(target.version)); err != nil {
				return ctrl.Result{}, err
			}
		}
		if err := r.releaseVolumes(ctx, db, kept, claims); err != nil {
			return ctrl.Result{}, err
		}
	}
	storage, err := r.expandStorage(ctx, db, pvc)
	if err != nil {
		return ctrl.Result{}, err
	}
	// Nothing else touches the data while a major upgrade moves it.
	rotated, rotationErr := false, error(nil)
	if !major.running() {
		rotated, rotationErr = r.rotateCredentials(ctx, db, ps, verifies)
	}
	if rotationErr != nil {
		r.Recorder.Eventf(db, corev1.EventTypeWarning, "RotationFailed", "credentials rotation %q: %v", db.Spec.CredentialsRotation, rotationErr)
	}
	if !major.running() && !rotated {
		if _, err := r.applyRecreatedPassword(ctx, db, ps, verifies, now); err != nil {
			return ctrl.Result{}, err
		}
	}

	boot, bootBlocked, secrets, err := r.bootstrap(ctx, db, ps, target.image, pvc)
	if err != nil {
		return ctrl.Result{}, err
	}
	db.Status.Bootstrap = boot
	inPlace := db.Status.Restore
	if !major.running() {
		var inPlaceSecrets *destsecrets.Problem
		if inPlace, inPlaceSecrets, err = r.restoreInPlace(ctx, db, ps, target.image); err != nil {
			return ctrl.Result{}, err
		}
		secrets = cmp.Or(secrets, inPlaceSecrets)
	}
	secrets = cmp.Or(secrets, major.secrets)
	restoreChanged := !equality.Semantic.DeepEqual(inPlace, before.Status.Restore)
	db.Status.Restore = inPlace
	db.Status.MajorUpgrade = major.status
	db.Status.VolumeClaim = inUse
	db.Status.KeptVolumes = kept
	computeStatus(db, statusInput{sts: ss, pod: ps, cfg: cfg, wantHash: wantHash, caps: caps, major: major,
		storage: storage, rotated: rotated, rotationErr: rotationErr, pvc: pvc, stsChanged: stsChanged, tls: tls, verifies: verifies, bootBlocked: bootBlocked,
		restoreSecrets: secrets, superuserLost: generated.superuserLost})
	pass.Landed(func() {
		if restoreChanged && inPlace != nil && (inPlace.Phase == componentsv1alpha1.PhaseSucceeded || inPlace.Phase == componentsv1alpha1.PhaseFailed) {
			kind := corev1.EventTypeNormal
			if inPlace.Phase == componentsv1alpha1.PhaseFailed {
				kind = corev1.EventTypeWarning
			}
			r.Recorder.Eventf(db, kind, "Restore"+string(inPlace.Phase), "restore request %s of %s: %s %s",
				inPlace.ID, inPlace.BackupName, inPlace.Phase, inPlace.Message)
		}
		if cfg.remediated && before.Status.RejectedConfigHash != cfg.rejected {
			metrics.DatabaseRemediations.Inc()
			r.Recorder.Eventf(db, corev1.EventTypeWarning, "ConfigRemediated",
				"PostgreSQL did not become ready with the new configuration (%s); returned to the last configuration that was ready", cfg.failureNote)
		}
	})
	stale, err := r.staleConfigs(ctx, db, cfg.hash, wantHash)
	if err != nil {
		return ctrl.Result{}, err
	}
	if len(stale) > 0 {
		// Only once the status no longer names them: a revert reads the last ready one from status.
		pass.Then(func(ctx context.Context) error { return r.deleteConfigs(ctx, stale) })
	}
	// The readiness deadline and, without cert-manager, the certificate's expiry are time, which no
	// watch reports.
	after := requeueForDeadline(db, wantHash, ps, now, canRevert)
	if tls.requeue > 0 && (after == 0 || tls.requeue < after) {
		after = tls.requeue
	}
	// A restore's Secrets are the user's and not watched: looked at again with a backoff.
	if wait := destsecrets.Recheck(db, now); secrets != nil && (after == 0 || wait < after) {
		after = wait
	}
	return ctrl.Result{RequeueAfter: after}, nil
}

func monitoringOn(db *componentsv1alpha1.Database) bool {
	return db.Spec.Monitoring != nil && db.Spec.Monitoring.IsEnabled()
}

// observe reads the StatefulSet and its pod (nil when absent).
func (r *Reconciler) observe(ctx context.Context, db *componentsv1alpha1.Database) (*appsv1.StatefulSet, *corev1.Pod, error) {
	sts, pod := &appsv1.StatefulSet{}, &corev1.Pod{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: desired.Name(db)}, sts); apierrors.IsNotFound(err) {
		sts = nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("reading the StatefulSet: %w", err)
	}
	if err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: desired.PodName(db)}, pod); apierrors.IsNotFound(err) {
		pod = nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("reading the PostgreSQL pod: %w", err)
	}
	return sts, pod, nil
}

// claim reads the data claim from the claim template dataVolume (nil when absent). A claim of that
// name that is not Canopy's (a user's, unlabelled) is refused before the StatefulSet would mount it:
// its data would become the database's. One labelled for adoption gets Canopy's labels, so that the
// cache holds it from then on.
func (r *Reconciler) claim(ctx context.Context, db *componentsv1alpha1.Database, dataVolume string) (*corev1.PersistentVolumeClaim, error) {
	want := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: db.Namespace, Name: desired.ClaimName(db, dataVolume),
		Labels: desired.Labels(db)}}
	found, err := apply.Lookup(ctx, r.Client, r.APIReader, want)
	if err != nil || found == nil {
		return nil, err
	}
	pvc := found.(*corev1.PersistentVolumeClaim)
	if base := pvc.DeepCopy(); pvc.Labels[common.LabelManagedBy] != common.ManagedBy && apply.MergeLabels(pvc, want.Labels) {
		if err := r.Patch(ctx, pvc, client.MergeFrom(base)); err != nil {
			return nil, fmt.Errorf("labelling the adopted data volume %s: %w", pvc.Name, err)
		}
	}
	return pvc, nil
}

// applyAll writes the instance's objects (the StatefulSet only when withStatefulSet) and removes
// the optional ones no longer asked for.
func (r *Reconciler) applyAll(ctx context.Context, db *componentsv1alpha1.Database, in desired.StatefulSetInput, caps capabilities,
	withStatefulSet bool) (bool, error) {
	stsChanged := false
	objects := []struct {
		kind string
		obj  client.Object
	}{
		{"Service", desired.HeadlessService(db)},
		{"Service", desired.ClientService(db, in.Monitoring)},
		{"NetworkPolicy", desired.NetworkPolicy(db, r.Getenv("POD_NAMESPACE"))},
		{"PodDisruptionBudget", desired.PodDisruptionBudget(db)},
	}
	if withStatefulSet {
		objects = append(objects, struct {
			kind string
			obj  client.Object
		}{"StatefulSet", desired.StatefulSet(db, in)})
	}
	for _, o := range objects {
		res, err := r.apply(ctx, db, o.kind, o.obj)
		if err != nil {
			return false, err
		}
		stsChanged = stsChanged || (o.kind == "StatefulSet" && res != apply.Unchanged)
	}
	optional := []struct {
		kind    string
		want    client.Object
		absent  client.Object
		name    string
		allowed bool
	}{
		{"Certificate", apply.OrNil(desired.Certificate(db)), &certmanagerv1.Certificate{}, desired.TLSName(db), caps.Certificates},
		{"ServiceMonitor", apply.OrNil(desired.ServiceMonitor(db)), &monitoringv1.ServiceMonitor{}, desired.Name(db), caps.Monitoring},
		{"PrometheusRule", apply.OrNil(desired.PrometheusRule(db)), &monitoringv1.PrometheusRule{}, desired.Name(db), caps.Monitoring},
	}
	for _, o := range optional {
		if !o.allowed {
			continue
		}
		if o.want != nil {
			if _, err := r.apply(ctx, db, o.kind, o.want); err != nil {
				return false, err
			}
			continue
		}
		if err := apply.DeleteControlled(ctx, r.Client, db, client.ObjectKey{Namespace: db.Namespace, Name: o.name}, o.absent); err != nil {
			return false, fmt.Errorf("removing the %s: %w", o.kind, err)
		}
	}
	return stsChanged, nil
}

func (r *Reconciler) apply(ctx context.Context, db *componentsv1alpha1.Database, kind string, want client.Object) (apply.Result, error) {
	res, err := apply.Ensure(ctx, r.Client, r.APIReader, FieldOwner, want, nil)
	if err != nil {
		return res, err
	}
	switch {
	case res == apply.DriftCorrected:
		metrics.DriftCorrections.WithLabelValues(kind, "overwritten").Inc()
		r.Recorder.Eventf(db, corev1.EventTypeWarning, "Overwritten", "the %s %s was changed by hand; the change has been reverted", kind, want.GetName())
	case res == apply.Created && recreated(db, kind):
		metrics.DriftCorrections.WithLabelValues(kind, "recreated").Inc()
		r.Recorder.Eventf(db, corev1.EventTypeWarning, "Recreated", "the %s %s was deleted and has been recreated", kind, want.GetName())
		log.FromContext(ctx).Info("recreated a deleted child", "kind", kind, "name", want.GetName())
	}
	return res, nil
}

// staleConfigs lists the configuration ConfigMaps no longer needed: all but the one mounted, the
// one the spec asks for, and the last one that was ready (remediation returns to it).
func (r *Reconciler) staleConfigs(ctx context.Context, db *componentsv1alpha1.Database, keep ...string) ([]*corev1.ConfigMap, error) {
	keep = append(keep, db.Status.LastReadyConfigHash)
	names := map[string]bool{desired.InitName(db): true}
	for _, h := range keep {
		if h != "" {
			names[desired.ConfigName(db, h)] = true
		}
	}
	var list corev1.ConfigMapList
	if err := r.List(ctx, &list, client.InNamespace(db.Namespace), client.MatchingLabels(desired.Labels(db))); err != nil {
		return nil, fmt.Errorf("listing configurations: %w", err)
	}
	var stale []*corev1.ConfigMap
	for i := range list.Items {
		if cm := &list.Items[i]; !names[cm.Name] && metav1.IsControlledBy(cm, db) {
			stale = append(stale, cm)
		}
	}
	return stale, nil
}

// deleteConfigs deletes the configurations staleConfigs found.
func (r *Reconciler) deleteConfigs(ctx context.Context, stale []*corev1.ConfigMap) error {
	for _, cm := range stale {
		if err := r.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("pruning the configuration %s: %w", cm.Name, err)
		}
	}
	return nil
}

// newPassword returns 32 random bytes, URL-safe base64: strong, and plain in a connection URI.
func newPassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// claimSecret makes an existing credentials Secret the Database's without touching its data: it
// gets Canopy's labels (an adopted Secret is then in the cache) and, when the data volume is
// deleted with the Database, the Database as its owner.
func (r *Reconciler) claimSecret(ctx context.Context, db *componentsv1alpha1.Database, have, want *corev1.Secret) error {
	base := have.DeepCopy()
	if len(want.OwnerReferences) > 0 && !metav1.IsControlledBy(have, db) {
		have.OwnerReferences = append(have.OwnerReferences, want.OwnerReferences...)
	}
	apply.MergeLabels(have, want.Labels)
	if equality.Semantic.DeepEqual(base.ObjectMeta, have.ObjectMeta) {
		return nil
	}
	if err := r.Patch(ctx, have, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("handing the Secret %s to the Database: %w", have.Name, err)
	}
	return nil
}

// storageState reports the data volume's size.
type storageState struct {
	resized bool
	reason  string
	message string
}

// expandStorage grows the data claim to the spec's size when its storage class allows it.
func (r *Reconciler) expandStorage(ctx context.Context, db *componentsv1alpha1.Database, pvc *corev1.PersistentVolumeClaim) (storageState, error) {
	want := db.Spec.Storage.Size
	if pvc == nil {
		return storageState{resized: true}, nil
	}
	requested := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity := pvc.Status.Capacity[corev1.ResourceStorage]
	if requested.Cmp(want) < 0 {
		className := ""
		if pvc.Spec.StorageClassName != nil {
			className = *pvc.Spec.StorageClassName
		}
		sc := &storagev1.StorageClass{}
		if err := r.Get(ctx, client.ObjectKey{Name: className}, sc); err != nil && !apierrors.IsNotFound(err) {
			return storageState{}, fmt.Errorf("reading the StorageClass %q: %w", className, err)
		} else if err != nil || sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion {
			return storageState{reason: componentsv1alpha1.ReasonExpansionNotSupported,
				message: fmt.Sprintf("the storage class %q does not allow volume expansion: the volume stays at %s (move the data to a larger volume "+
					"by backup and restore)", className, requested.String())}, nil
		}
		base := pvc.DeepCopy()
		pvc.Spec.Resources.Requests[corev1.ResourceStorage] = want
		if err := r.Patch(ctx, pvc, client.MergeFrom(base)); err != nil {
			return storageState{}, fmt.Errorf("expanding the claim %s: %w", pvc.Name, err)
		}
		r.Recorder.Eventf(db, corev1.EventTypeNormal, "VolumeExpanding", "expanding the data volume from %s to %s", requested.String(), want.String())
		return storageState{reason: "Expanding", message: fmt.Sprintf("expanding the data volume from %s to %s", requested.String(), want.String())}, nil
	}
	if !capacity.IsZero() && capacity.Cmp(want) < 0 {
		return storageState{reason: "Expanding", message: fmt.Sprintf("the data volume is %s, growing to %s", capacity.String(), want.String())}, nil
	}
	return storageState{resized: true}, nil
}

// Keys of the credentials Secret that hold a rotation in progress.
const (
	pendingPasswordKey = "pending-password"
	pendingTokenKey    = "pending-rotation"
)

// rotateCredentials carries out a new spec.credentialsRotation token. The new password is first
// written to the Secret as pending, then set inside PostgreSQL (as the superuser), then made the
// Secret's password: a crash at any step resumes with the same pending password, and the Secret
// never ends up holding a password the server does not accept. It returns whether it finished now.
func (r *Reconciler) rotateCredentials(ctx context.Context, db *componentsv1alpha1.Database, pod podState, verifies bool) (bool, error) {
	token := db.Spec.CredentialsRotation
	if token == "" || token == db.Status.CredentialsRotation || !pod.ready {
		return false, nil
	}
	super, creds := &corev1.Secret{}, &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: desired.SuperuserName(db)}, super); err != nil {
		return false, fmt.Errorf("reading the superuser Secret: %w", err)
	}
	if err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: desired.CredentialsName(db)}, creds); err != nil {
		return false, fmt.Errorf("reading the credentials Secret: %w", err)
	}
	password := string(creds.Data[pendingPasswordKey])
	if password == "" || string(creds.Data[pendingTokenKey]) != token {
		var err error
		if password, err = newPassword(); err != nil {
			return false, err
		}
		if err := r.writeSecret(ctx, creds, map[string]string{pendingPasswordKey: password, pendingTokenKey: token}, nil); err != nil {
			return false, err
		}
	}
	admin, err := r.Connect(ctx, pgadmin.ConnInfo{Host: desired.Host(db), Port: desired.Port, User: desired.SuperUser,
		Password: string(super.Data[corev1.BasicAuthPasswordKey]), SSLMode: sslMode(verifies)})
	if err != nil {
		return false, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer func() { _ = admin.Close(ctx) }()
	if err := admin.SetPassword(ctx, desired.AppUser, password); err != nil {
		return false, fmt.Errorf("setting the new password: %w", err)
	}
	// The new uri verifies the server as the old one did.
	var ca []byte
	if verifies {
		ca = creds.Data[common.DatabaseCAKey]
	}
	if err := r.writeSecret(ctx, creds, desired.Connection(db, password, ca), []string{pendingPasswordKey, pendingTokenKey}); err != nil {
		return false, err
	}
	r.Recorder.Eventf(db, corev1.EventTypeNormal, "CredentialsRotated", "the application's password was rotated (request %q)", token)
	return true, nil
}

// writeSecret sets and removes keys of a Secret.
func (r *Reconciler) writeSecret(ctx context.Context, s *corev1.Secret, set map[string]string, remove []string) error {
	base := s.DeepCopy()
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for k, v := range set {
		s.Data[k] = []byte(v)
	}
	for _, k := range remove {
		delete(s.Data, k)
	}
	if err := r.Patch(ctx, s, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("writing the Secret %s: %w", s.Name, err)
	}
	return nil
}

// sslMode is how Canopy itself connects as the superuser: encrypted once the clients' uri
// verifies the server (the server then serves TLS), without verifying it itself.
func sslMode(verifies bool) string {
	if verifies {
		return "require"
	}
	return "disable"
}
