package frontend

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/frontend"
	"github.com/canopy-dev/canopy/internal/fresh"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env, testenv.Options{}))
}

type harness struct {
	*testenv.Harness
	mgr ctrl.Manager
}

func start(t *testing.T) *harness {
	t.Helper()
	e := testenv.Require(t, env)
	h := &harness{Harness: e.Harness(t)}
	h.mgr = e.StartManager(t, func(mgr ctrl.Manager) error { return (&Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr) })
	return h
}

func (h *harness) create(name, version string, mutate ...func(*componentsv1alpha1.Frontend)) *componentsv1alpha1.Frontend {
	h.T.Helper()
	fe := &componentsv1alpha1.Frontend{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: name, Labels: map[string]string{"canopy.dev/stack": name}},
		Spec: componentsv1alpha1.FrontendSpec{
			Image: "ghcr.io/acme/shop", Version: version, Replicas: ptr.To[int32](2),
			Ingress:  &componentsv1alpha1.IngressSpec{Host: name + ".example.com"},
			Database: &componentsv1alpha1.DatabaseConnection{CredentialsSecretName: name + "-db-credentials"},
		},
	}
	for _, m := range mutate {
		m(fe)
	}
	require.NoError(h.T, h.C.Create(context.Background(), fe))
	return fe
}

func (h *harness) frontend(name string) *componentsv1alpha1.Frontend {
	h.T.Helper()
	fe := &componentsv1alpha1.Frontend{}
	require.NoError(h.T, h.Get(fe, name))
	return fe
}

func (h *harness) update(name string, change func(*componentsv1alpha1.Frontend)) {
	h.T.Helper()
	testenv.Mutate(h.T, h.C, h.Key(name), func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, false, change)
}

// deployment waits for the Deployment to run version and returns it.
func (h *harness) deploymentAt(name, version string) *appsv1.Deployment {
	h.T.Helper()
	dep := &appsv1.Deployment{}
	h.Eventually(func() bool {
		return h.Get(dep, name+"-web") == nil && dep.Spec.Template.Spec.Containers[0].Image == "ghcr.io/acme/shop:"+version
	}, "the Deployment runs %s", version)
	return dep
}

// rolledOut writes the Deployment status the deployment controller reports after a complete rollout.
func (h *harness) rolledOut(name string) {
	testenv.Mutate(h.T, h.C, h.Key(name+"-web"), func() *appsv1.Deployment { return &appsv1.Deployment{} }, true, func(d *appsv1.Deployment) {
		r := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}}
	})
}

// stuck writes the status of a rollout that exceeded its progress deadline.
func (h *harness) stuck(name string) {
	testenv.Mutate(h.T, h.C, h.Key(name+"-web"), func() *appsv1.Deployment { return &appsv1.Deployment{} }, true, func(d *appsv1.Deployment) {
		r := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r + 1, UpdatedReplicas: 1, ReadyReplicas: r, AvailableReplicas: r,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
				Message: `ReplicaSet "` + name + `-web-2" has timed out progressing.`}}}
	})
}

// jobFinished writes a migration Job's final status.
func (h *harness) jobFinished(jobName string, ok bool) {
	testenv.Mutate(h.T, h.C, h.Key(jobName), func() *batchv1.Job { return &batchv1.Job{} }, true, func(j *batchv1.Job) {
		now := metav1.Now()
		j.Status.StartTime = &now
		if ok {
			j.Status.Succeeded = 1
			j.Status.CompletionTime = &now
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		} else {
			j.Status.Failed = 1
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded",
					Message: "Job has reached the specified backoff limit", LastTransitionTime: now},
				{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded",
					Message: "Job has reached the specified backoff limit", LastTransitionTime: now}}
		}
	})
}

func (h *harness) waitReady(name, version string) {
	h.T.Helper()
	h.Eventually(func() bool {
		fe := h.frontend(name)
		return fe.Status.ObservedGeneration == fe.Generation && conditions.IsTrue(fe, componentsv1alpha1.ConditionReady) && fe.Status.Version == version
	}, "Frontend %s serves %s", name, version)
}

// TestFreshRolloutToReady: a new Frontend gets its Deployment, Service, Ingress and budget; it is
// Ready once the Deployment reports the rollout complete.
func TestFreshRolloutToReady(t *testing.T) {
	h := start(t)
	h.create("web", "1.0")
	dep := h.deploymentAt("web", "1.0")
	require.Equal(t, int32(2), *dep.Spec.Replicas)
	ing := &networkingv1.Ingress{}
	h.Eventually(func() bool {
		return h.Get(&corev1.Service{}, "web-web") == nil && h.Get(ing, "web-web") == nil && h.Get(&policyv1.PodDisruptionBudget{}, "web-web") == nil
	}, "Service, Ingress and PodDisruptionBudget are created")
	require.Equal(t, "web.example.com", ing.Spec.Rules[0].Host)
	require.True(t, apierrors.IsNotFound(h.Get(&autoscalingv2.HorizontalPodAutoscaler{}, "web-web")))
	require.False(t, conditions.IsTrue(h.frontend("web"), componentsv1alpha1.ConditionReady), "not Ready before the rollout completes")

	h.rolledOut("web")
	h.waitReady("web", "1.0")
	fe := h.frontend("web")
	require.Equal(t, "1.0", fe.Status.LastGoodVersion)
	require.Equal(t, int32(2), fe.Status.ReadyReplicas)
	require.Equal(t, "http://web.example.com", fe.Status.URL)
	h.WaitEvent(fe, "RolledOut")
}

// TestUpgradeWithMigration: the migration Job runs with the new image before the Deployment moves.
func TestUpgradeWithMigration(t *testing.T) {
	h := start(t)
	withMigration := func(f *componentsv1alpha1.Frontend) {
		f.Spec.Migration = &componentsv1alpha1.MigrationSpec{Command: []string{"/app/shop", "migrate"}, TimeoutSeconds: 600}
	}
	fe := h.create("mig", "1.0", withMigration)
	// First install: the Deployment waits for the first migration.
	job1 := desired.MigrationJobName(fe, "1.0")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, job1) == nil }, "the first migration Job is created")
	require.True(t, apierrors.IsNotFound(h.Get(&appsv1.Deployment{}, "mig-web")), "no Deployment before the migration succeeded")
	h.jobFinished(job1, true)
	h.deploymentAt("mig", "1.0")
	h.rolledOut("mig")
	h.waitReady("mig", "1.0")

	h.update("mig", func(f *componentsv1alpha1.Frontend) { f.Spec.Version = "2.0" })
	job2 := &batchv1.Job{}
	h.Eventually(func() bool { return h.Get(job2, desired.MigrationJobName(fe, "2.0")) == nil }, "the upgrade's migration Job is created")
	require.Equal(t, "ghcr.io/acme/shop:2.0", job2.Spec.Template.Spec.Containers[0].Image, "the migration runs the new image")
	require.Equal(t, []string{"/app/shop", "migrate"}, job2.Spec.Template.Spec.Containers[0].Command)
	h.Eventually(func() bool {
		m := h.frontend("mig").Status.Migration
		return m != nil && m.Version == "2.0" && (m.Phase == componentsv1alpha1.PhasePending || m.Phase == componentsv1alpha1.PhaseRunning)
	}, "status reports the migration")
	h.deploymentAt("mig", "1.0") // untouched while the migration runs

	h.jobFinished(job2.Name, true)
	h.deploymentAt("mig", "2.0")
	h.rolledOut("mig")
	h.waitReady("mig", "2.0")
	require.Equal(t, componentsv1alpha1.PhaseSucceeded, h.frontend("mig").Status.Migration.Phase)
}

// TestFailedMigrationKeepsOldVersion: a failed migration leaves the old version serving, says why,
// and keeps the Job for inspection.
func TestFailedMigrationKeepsOldVersion(t *testing.T) {
	h := start(t)
	fe := h.create("bad", "1.0", func(f *componentsv1alpha1.Frontend) {
		f.Spec.Migration = &componentsv1alpha1.MigrationSpec{Command: []string{"migrate"}, TimeoutSeconds: 600}
	})
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, desired.MigrationJobName(fe, "1.0")) == nil }, "first migration")
	h.jobFinished(desired.MigrationJobName(fe, "1.0"), true)
	h.deploymentAt("bad", "1.0")
	h.rolledOut("bad")
	h.waitReady("bad", "1.0")

	h.update("bad", func(f *componentsv1alpha1.Frontend) { f.Spec.Version = "2.0" })
	job := desired.MigrationJobName(fe, "2.0")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, job) == nil }, "the migration Job is created")
	h.jobFinished(job, false)
	h.Eventually(func() bool { return h.frontend("bad").Status.FailedVersion == "2.0" }, "the version is marked failed")
	got := h.frontend("bad")
	require.Equal(t, "1.0", got.Status.Version)
	stalled := conditions.Get(got, componentsv1alpha1.ConditionStalled)
	require.Equal(t, componentsv1alpha1.ReasonMigrationFailed, stalled.Reason)
	require.Contains(t, stalled.Message, "BackoffLimitExceeded")
	require.Equal(t, componentsv1alpha1.PhaseFailed, got.Status.Migration.Phase)
	h.deploymentAt("bad", "1.0")
	kept := &batchv1.Job{}
	require.NoError(t, h.Get(kept, job), "the failed Job is kept")
	require.Equal(t, int32(desired.MigrationTTLSeconds), *kept.Spec.TTLSecondsAfterFinished)
	h.WaitEvent(got, componentsv1alpha1.ReasonMigrationFailed)
}

// TestRolloutFailureRollsBack: a version whose pods do not become available within the progress
// deadline is rolled back to the last good version.
func TestRolloutFailureRollsBack(t *testing.T) {
	h := start(t)
	h.create("rb", "1.0")
	h.deploymentAt("rb", "1.0")
	h.rolledOut("rb")
	h.waitReady("rb", "1.0")
	before := testutil.ToFloat64(metrics.FrontendRollbacks)

	h.update("rb", func(f *componentsv1alpha1.Frontend) { f.Spec.Version = "2.0" })
	h.deploymentAt("rb", "2.0")
	h.stuck("rb")
	h.deploymentAt("rb", "1.0")
	h.Eventually(func() bool { return h.frontend("rb").Status.FailedVersion == "2.0" }, "the version is marked failed")
	fe := h.frontend("rb")
	require.Equal(t, "1.0", fe.Status.LastGoodVersion)
	degraded := conditions.Get(fe, componentsv1alpha1.ConditionDegraded)
	require.Equal(t, componentsv1alpha1.ReasonRolloutFailed, degraded.Reason)
	require.Contains(t, degraded.Message, "has timed out progressing")
	require.Contains(t, degraded.Message, "rolled back to 1.0")
	h.WaitEvent(fe, componentsv1alpha1.ReasonRolloutFailed)
	require.Equal(t, before+1, testutil.ToFloat64(metrics.FrontendRollbacks))

	// The rolled-back Deployment completes; the failure stays reported until a new version.
	h.rolledOut("rb")
	h.Eventually(func() bool { return h.frontend("rb").Status.Version == "1.0" }, "the old version serves")
	require.True(t, conditions.IsTrue(h.frontend("rb"), componentsv1alpha1.ConditionDegraded))
}

// TestAutoscalingHandover: turning the autoscaler on keeps the current replica count (handed over,
// not reset to one); turning it off gives the count back to the spec.
func TestAutoscalingHandover(t *testing.T) {
	h := start(t)
	h.create("hpa", "1.0", func(f *componentsv1alpha1.Frontend) { f.Spec.Replicas = ptr.To[int32](3) })
	dep := h.deploymentAt("hpa", "1.0")
	require.Equal(t, int32(3), *dep.Spec.Replicas)

	h.update("hpa", func(f *componentsv1alpha1.Frontend) {
		f.Spec.Replicas = nil
		f.Spec.Autoscaling = &componentsv1alpha1.AutoscalingSpec{MinReplicas: 2, MaxReplicas: 5, TargetCPUUtilizationPercentage: ptr.To[int32](70)}
	})
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	h.Eventually(func() bool { return h.Get(hpa, "hpa-web") == nil }, "the autoscaler is created")
	require.Equal(t, int32(5), hpa.Spec.MaxReplicas)
	h.Eventually(func() bool {
		return h.Get(dep, "hpa-web") == nil && !ownsReplicas(dep)
	}, "Canopy no longer owns the replicas")
	require.Equal(t, int32(3), *dep.Spec.Replicas, "the count survives the handover")

	h.update("hpa", func(f *componentsv1alpha1.Frontend) {
		f.Spec.Autoscaling = nil
		f.Spec.Replicas = ptr.To[int32](4)
	})
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&autoscalingv2.HorizontalPodAutoscaler{}, "hpa-web")) }, "the autoscaler is removed")
	h.Eventually(func() bool { return h.Get(dep, "hpa-web") == nil && *dep.Spec.Replicas == 4 && ownsReplicas(dep) }, "the spec owns the count again")
}

// TestDeploymentDriftReverted: a hand edit of the Deployment is reverted with an event.
func TestDeploymentDriftReverted(t *testing.T) {
	h := start(t)
	fe := h.create("drift", "1.0")
	dep := h.deploymentAt("drift", "1.0")
	dep.Spec.Template.Spec.Containers[0].Image = "ghcr.io/evil/shop:latest"
	require.NoError(t, h.C.Update(context.Background(), dep))
	h.deploymentAt("drift", "1.0")
	h.WaitEvent(fe, "Overwritten")
}

// TestOptionalAPIsAppearLater: without cert-manager the web tier still becomes Ready and says the
// certificate API is missing; once the CRD is installed the Certificate is created, no restart.
func TestOptionalAPIsAppearLater(t *testing.T) {
	h := start(t)
	h.create("tls", "1.0", func(f *componentsv1alpha1.Frontend) {
		f.Spec.TLS = &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: "ca", Kind: "ClusterIssuer", Group: "cert-manager.io"}}
	})
	h.deploymentAt("tls", "1.0")
	h.rolledOut("tls")
	h.waitReady("tls", "1.0")
	c := conditions.Get(h.frontend("tls"), componentsv1alpha1.ConditionCertificatesAvailable)
	require.Equal(t, componentsv1alpha1.ReasonCRDNotInstalled, c.Reason)
	require.Equal(t, "http://tls.example.com", h.frontend("tls").Status.URL)

	dir, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	require.NoError(t, err)
	_, err = envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(dir, "deploy", "crds", "cert-manager.io_certificates.yaml")}, ErrorIfPathMissing: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		// Leave the control plane as the test found it: without cert-manager.
		crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "certificates.cert-manager.io"}}
		require.NoError(t, h.C.Delete(context.Background(), crd))
		require.Eventually(t, func() bool {
			return apierrors.IsNotFound(h.C.Get(context.Background(), client.ObjectKeyFromObject(crd), crd))
		},
			testenv.Wait, testenv.Tick)
	})

	cert := &certmanagerv1.Certificate{}
	h.Eventually(func() bool { return h.Get(cert, "tls-web") == nil }, "the Certificate is created once its CRD exists")
	require.Equal(t, []string{"tls.example.com"}, cert.Spec.DNSNames)
	h.Eventually(func() bool {
		fe := h.frontend("tls")
		return conditions.IsTrue(fe, componentsv1alpha1.ConditionCertificatesAvailable) && strings.HasPrefix(fe.Status.URL, "https://")
	}, "status reports TLS")
	ing := &networkingv1.Ingress{}
	require.NoError(t, h.Get(ing, "tls-web"))
	require.Equal(t, "tls-web-tls", ing.Spec.TLS[0].SecretName)
}

// TestOrphanedDeploymentIsNotTakenBack: a Deployment orphaned by the garbage collector (its
// Frontend deleted with propagationPolicy Orphan) is never written again by a reconcile that still
// sees the Frontend: re-adding the owner reference of the deleted Frontend would make the collector
// delete the web tier that deletionPolicy Orphan keeps running.
func TestOrphanedDeploymentIsNotTakenBack(t *testing.T) {
	h := start(t)
	h.create("orph", "1.0")
	dep := h.deploymentAt("orph", "1.0")
	h.rolledOut("orph")
	h.waitReady("orph", "1.0")
	ctx := context.Background()
	require.NoError(t, h.Get(dep, "orph-web"))
	before := dep.DeepCopy()
	dep.OwnerReferences = nil
	require.NoError(t, h.C.Patch(ctx, dep, client.MergeFrom(before)))

	h.update("orph", func(fe *componentsv1alpha1.Frontend) { fe.Spec.Version = "2.0" })
	h.Eventually(func() bool {
		fe := h.frontend("orph")
		c := conditions.Get(fe, componentsv1alpha1.ConditionStalled)
		return fe.Status.ObservedGeneration == fe.Generation && c != nil && c.Reason == componentsv1alpha1.ReasonNameConflict
	}, "the Frontend reports the Deployment it no longer controls")
	require.NoError(t, h.Get(dep, "orph-web"))
	require.Empty(t, dep.OwnerReferences, "the Deployment stays orphaned")
	require.Equal(t, "ghcr.io/acme/shop:1.0", dep.Spec.Template.Spec.Containers[0].Image, "and unchanged")
}

// staleFrontends serves Frontends from an earlier read, as a cache that has not seen the
// controller's last status write yet would; everything else comes from the API server.
type staleFrontends struct {
	client.Client
	stale *componentsv1alpha1.Frontend
}

func (s staleFrontends) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if fe, ok := obj.(*componentsv1alpha1.Frontend); ok && key == client.ObjectKeyFromObject(s.stale) {
		s.stale.DeepCopyInto(fe)
		return nil
	}
	return s.Client.Get(ctx, key, obj, opts...)
}

// TestStaleCacheNeverRollsAFailedVersionForward: after a failed rollout was recorded and rolled
// back, a reconcile whose cache still holds the Frontend's status from before the failure keeps the
// last good version: the controller decides from the status it reads from the API server.
func TestStaleCacheNeverRollsAFailedVersionForward(t *testing.T) {
	e := testenv.Require(t, env)
	h := &harness{Harness: e.Harness(t)}
	ctx := context.Background()
	fe := h.create("stale", "2.0")
	stale := h.frontend("stale").DeepCopy()
	stale.Status = componentsv1alpha1.FrontendStatus{LastGoodVersion: "1.0", ObservedGeneration: stale.Generation}
	testenv.Mutate(t, h.C, h.Key("stale"), func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, true,
		func(f *componentsv1alpha1.Frontend) {
			f.Status = componentsv1alpha1.FrontendStatus{LastGoodVersion: "1.0", FailedVersion: "2.0", ObservedGeneration: f.Generation,
				Conditions: []metav1.Condition{{Type: componentsv1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
					Reason:  componentsv1alpha1.ReasonRolloutFailed,
					Message: "version 2.0 did not become available", LastTransitionTime: metav1.Now()}}}
		})
	require.NoError(t, h.Get(fe, "stale"))
	dep := desired.Deployment(fe, "1.0") // rolled back to the last good version
	require.NoError(t, h.C.Create(ctx, dep))

	r := &Reconciler{Client: staleFrontends{Client: h.C, stale: stale}, APIReader: h.C, Recorder: &record.FakeRecorder{}}
	_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: h.Key("stale")})
	// The Deployment first: a reconcile that rolled it forward and then failed its status write on
	// the stale resourceVersion has already done the damage.
	require.NoError(t, h.Get(dep, dep.Name))
	require.Equal(t, "ghcr.io/acme/shop:1.0", dep.Spec.Template.Spec.Containers[0].Image, "the failed version is not rolled forward")
	require.NoError(t, err)

	// As set up by SetupWithManager: the fresh reader has read the record once, and the cache
	// still holds the version from before it; the reconcile must not take the cache's.
	self := &fresh.Reader[*componentsv1alpha1.Frontend]{Cached: staleFrontends{Client: h.C, stale: stale}, Live: h.C}
	require.NoError(t, self.Get(ctx, h.Key("stale"), &componentsv1alpha1.Frontend{}))
	r = &Reconciler{Client: staleFrontends{Client: h.C, stale: stale}, APIReader: h.C, Recorder: &record.FakeRecorder{}, self: self}
	_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: h.Key("stale")})
	require.NoError(t, h.Get(dep, dep.Name))
	require.Equal(t, "ghcr.io/acme/shop:1.0", dep.Spec.Template.Spec.Containers[0].Image, "the fresh reader does not roll it forward either")
	require.NoError(t, err)
}
