package frontend

import (
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/frontend"
	"github.com/canopy-dev/canopy/internal/mgroptions"
)

func fe(version, lastGood, failed string, migration bool) *componentsv1alpha1.Frontend {
	f := &componentsv1alpha1.Frontend{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "apps", Generation: 2}}
	f.Spec = componentsv1alpha1.FrontendSpec{Image: "ghcr.io/acme/shop", Version: version, Port: 8080}
	if migration {
		f.Spec.Migration = &componentsv1alpha1.MigrationSpec{Command: []string{"migrate"}}
	}
	f.Status.LastGoodVersion, f.Status.FailedVersion = lastGood, failed
	return f
}

func deployment(version string, replicas, updated, available int32, deadline bool) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 4}}
	d.Spec.Replicas = ptr.To(replicas)
	d.Spec.Template.Annotations = map[string]string{desired.AnnotationVersion: version}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: replicas, UpdatedReplicas: updated, AvailableReplicas: available,
		ReadyReplicas: available}
	if deadline {
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
			Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "shop-web-7f9" has timed out progressing.`}}
	}
	return d
}

func job(cond batchv1.JobConditionType, reason, msg string) *batchv1.Job {
	j := &batchv1.Job{}
	if cond != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, Reason: reason, Message: msg}}
	}
	return j
}

func TestObserveDeployment(t *testing.T) {
	require.False(t, observeDeployment(nil).exists)
	ro := observeDeployment(deployment("1.0", 2, 2, 2, false))
	require.True(t, ro.complete)
	require.Equal(t, "1.0", ro.version)
	require.False(t, observeDeployment(deployment("1.0", 2, 1, 2, false)).complete, "an old pod is still there")
	require.False(t, observeDeployment(deployment("1.0", 2, 2, 1, false)).complete, "a pod is not available")
	stale := deployment("1.0", 2, 2, 2, false)
	stale.Status.ObservedGeneration = 3
	require.False(t, observeDeployment(stale).complete, "the status is for an older template")
	failed := observeDeployment(deployment("2.0", 2, 1, 1, true))
	require.True(t, failed.failed)
	require.Contains(t, failed.message, "timed out progressing")
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name          string
		fe            *componentsv1alpha1.Frontend
		dep           *appsv1.Deployment
		job           *batchv1.Job
		wantDeploy    string
		wantJob       bool
		wantMigration componentsv1alpha1.RequestPhase
		wantFailed    string
		wantReason    string
		wantNew       bool
	}{
		{name: "first install without migration", fe: fe("1.0", "", "", false), wantDeploy: "1.0"},
		{name: "first install waits for its migration", fe: fe("1.0", "", "", true), wantDeploy: "", wantJob: true,
			wantMigration: componentsv1alpha1.PhasePending},
		{name: "steady", fe: fe("1.0", "1.0", "", true), dep: deployment("1.0", 2, 2, 2, false), wantDeploy: "1.0"},
		{name: "upgrade: the migration starts, the old version serves", fe: fe("2.0", "1.0", "", true), dep: deployment("1.0", 2, 2, 2, false),
			wantDeploy: "1.0", wantJob: true, wantMigration: componentsv1alpha1.PhasePending},
		{name: "upgrade: migration running", fe: fe("2.0", "1.0", "", true), dep: deployment("1.0", 2, 2, 2, false), job: job("", "", ""),
			wantDeploy: "1.0", wantMigration: componentsv1alpha1.PhaseRunning},
		{name: "upgrade: migration done, roll out", fe: fe("2.0", "1.0", "", true), dep: deployment("1.0", 2, 2, 2, false), job: job(batchv1.JobComplete,
			"", ""),
			wantDeploy: "2.0", wantMigration: componentsv1alpha1.PhaseSucceeded},
		{name: "upgrade: migration failed, old version keeps serving", fe: fe("2.0", "1.0", "", true), dep: deployment("1.0", 2, 2, 2, false),
			job:        job(batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
			wantDeploy: "1.0", wantMigration: componentsv1alpha1.PhaseFailed, wantFailed: "2.0", wantReason: componentsv1alpha1.ReasonMigrationFailed,
			wantNew: true},
		{name: "no second migration once the Deployment runs the version (Job gone after its TTL)", fe: fe("2.0", "1.0", "", true), dep: deployment("2.0",
			2, 1, 2, false),
			wantDeploy: "2.0"},
		{name: "a migration status left Running is completed once the Deployment runs the version", fe: func() *componentsv1alpha1.Frontend {
			f := fe("2.0", "1.0", "", true)
			f.Status.Migration = &componentsv1alpha1.MigrationStatus{Version: "2.0", Phase: componentsv1alpha1.PhaseRunning}
			return f
		}(), dep: deployment("2.0", 2, 2, 2, false), wantDeploy: "2.0", wantMigration: componentsv1alpha1.PhaseSucceeded},
		{name: "a first install whose migration failed gets no Deployment, even later", fe: func() *componentsv1alpha1.Frontend {
			f := fe("1.0", "", "1.0", true)
			f.Status.Conditions = []metav1.Condition{{Type: componentsv1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
				Reason: componentsv1alpha1.ReasonMigrationFailed}}
			return f
		}(), wantDeploy: "", wantFailed: "1.0", wantReason: componentsv1alpha1.ReasonMigrationFailed},
		{name: "upgrade without migration", fe: fe("2.0", "1.0", "", false), dep: deployment("1.0", 2, 2, 2, false), wantDeploy: "2.0"},
		{name: "rollout past its deadline rolls back", fe: fe("2.0", "1.0", "", false), dep: deployment("2.0", 2, 1, 1, true),
			wantDeploy: "1.0", wantFailed: "2.0", wantReason: componentsv1alpha1.ReasonRolloutFailed, wantNew: true},
		{name: "a known failure stays rolled back", fe: fe("2.0", "1.0", "2.0", false), dep: deployment("1.0", 2, 2, 2, false),
			wantDeploy: "1.0", wantFailed: "2.0", wantReason: componentsv1alpha1.ReasonRolloutFailed},
		{name: "a new version clears the failure", fe: fe("2.1", "1.0", "2.0", false), dep: deployment("1.0", 2, 2, 2, false), wantDeploy: "2.1"},
		{name: "first install failing has nothing to roll back to", fe: fe("1.0", "", "", false), dep: deployment("1.0", 2, 0, 0, true),
			wantDeploy: "1.0", wantFailed: "1.0", wantReason: componentsv1alpha1.ReasonRolloutFailed, wantNew: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decide(tc.fe, observeDeployment(tc.dep), tc.job)
			require.Equal(t, tc.wantDeploy, d.deployVersion, "deploy version")
			require.Equal(t, tc.wantJob, d.createJob, "create job")
			if tc.wantMigration == "" {
				require.Nil(t, d.migration)
			} else {
				require.Equal(t, tc.wantMigration, d.migration.Phase)
			}
			require.Equal(t, tc.wantFailed, d.failedVersion)
			require.Equal(t, tc.wantReason, d.failReason)
			require.Equal(t, tc.wantNew, d.newFailure)
			if tc.wantReason == componentsv1alpha1.ReasonMigrationFailed && tc.wantNew {
				require.Contains(t, d.failMessage, "BackoffLimitExceeded")
				require.Contains(t, d.failMessage, "version 1.0 keeps serving")
			}
		})
	}
}

func TestComputeStatus(t *testing.T) {
	caps := capabilities{Certificates: true, Monitoring: true}
	t.Run("ready", func(t *testing.T) {
		f := fe("1.0", "", "", false)
		ro := observeDeployment(deployment("1.0", 2, 2, 2, false))
		computeStatus(f, ro, decide(f, ro, nil), caps)
		require.True(t, conditions.IsTrue(f, componentsv1alpha1.ConditionReady))
		require.Equal(t, "1.0", f.Status.Version)
		require.Equal(t, "1.0", f.Status.LastGoodVersion)
		require.Equal(t, int32(2), f.Status.ReadyReplicas)
		require.Equal(t, "http://shop-web.apps.svc", f.Status.URL)
		require.Nil(t, conditions.Get(f, componentsv1alpha1.ConditionCertificatesAvailable), "not requested, not reported")
	})
	t.Run("rolling out keeps the serving version", func(t *testing.T) {
		f := fe("2.0", "1.0", "", false)
		f.Status.Version = "1.0"
		ro := observeDeployment(deployment("2.0", 2, 1, 2, false))
		computeStatus(f, ro, decide(f, ro, nil), caps)
		require.Equal(t, "1.0", f.Status.Version)
		require.Equal(t, "2.0", f.Status.DesiredVersion)
		require.True(t, conditions.IsTrue(f, componentsv1alpha1.ConditionReconciling))
	})
	t.Run("rollback", func(t *testing.T) {
		f := fe("2.0", "1.0", "", false)
		f.Status.Version = "1.0"
		ro := observeDeployment(deployment("2.0", 2, 1, 1, true))
		computeStatus(f, ro, decide(f, ro, nil), caps)
		require.Equal(t, "2.0", f.Status.FailedVersion)
		require.Equal(t, "1.0", f.Status.Version)
		require.Equal(t, "1.0", f.Status.LastGoodVersion)
		for _, c := range []string{componentsv1alpha1.ConditionStalled, componentsv1alpha1.ConditionDegraded} {
			got := conditions.Get(f, c)
			require.Equal(t, componentsv1alpha1.ReasonRolloutFailed, got.Reason)
			require.Contains(t, got.Message, "rolled back to 1.0")
		}
	})
	t.Run("integration APIs missing", func(t *testing.T) {
		f := fe("1.0", "", "", false)
		f.Spec.Ingress = &componentsv1alpha1.IngressSpec{Host: "shop.example.com"}
		f.Spec.TLS = &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: "ca"}}
		f.Spec.Monitoring = &componentsv1alpha1.FrontendMonitoringSpec{}
		ro := observeDeployment(deployment("1.0", 2, 2, 2, false))
		computeStatus(f, ro, decide(f, ro, nil), capabilities{})
		for _, c := range []string{componentsv1alpha1.ConditionCertificatesAvailable, componentsv1alpha1.ConditionMonitoringAvailable} {
			require.Equal(t, componentsv1alpha1.ReasonCRDNotInstalled, conditions.Get(f, c).Reason)
		}
		require.Equal(t, "http://shop.example.com", f.Status.URL, "no certificate, no https")
		require.True(t, conditions.IsTrue(f, componentsv1alpha1.ConditionReady), "the web tier serves without the optional APIs")
	})
}

// TestCachedDeploymentKeepsItsManagedFields: the manager's cache drops managed fields from what it
// holds (mgroptions.Transform), but ownsReplicas reads a Deployment's; without them the controller
// would never hand spec.replicas over to an autoscaler.
func TestCachedDeploymentKeepsItsManagedFields(t *testing.T) {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{{Manager: FieldOwner,
		Operation: metav1.ManagedFieldsOperationApply, FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:replicas":{}}}`)}}}}
	require.True(t, ownsReplicas(dep))
	cached, err := mgroptions.Transform(dep)(dep.DeepCopy())
	require.NoError(t, err)
	require.True(t, ownsReplicas(cached.(*appsv1.Deployment)))
	other, err := mgroptions.Transform(&corev1.Service{})(&corev1.Service{ObjectMeta: dep.ObjectMeta})
	require.NoError(t, err)
	require.Nil(t, other.(*corev1.Service).ManagedFields, "other kinds are cached without them")
}
