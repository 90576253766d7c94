package manager

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestStackLifecycle runs the four controllers together, as the manager does, on a real API server;
// the test plays only Kubernetes' own controllers (StatefulSet, Deployment, Job) and the backup
// agent. A Stack becomes Ready, then upgrades: pre-upgrade backup Job, then the new version rolled
// out, and status.version follows. This is the contract between the controllers, end to end.
func TestStackLifecycle(t *testing.T) {
	e := testenv.Require(t, env)
	h := e.Harness(t)
	startManager(t, Options{MetricsAddr: "0", ProbeAddr: "0", WatchNamespaces: []string{h.NS}})
	ctx := context.Background()

	stack := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "shop"}, Spec: canopyv1alpha1.StackSpec{
		Version:  "1.0",
		Frontend: canopyv1alpha1.StackFrontend{Image: "ghcr.io/acme/shop"},
		Backup: &canopyv1alpha1.StackBackup{Schedule: "0 2 * * *", Destination: componentsv1alpha1.BackupDestination{
			Volume: &componentsv1alpha1.VolumeDestination{Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}}},
	}}
	require.NoError(t, h.C.Create(ctx, stack))

	// The database controller builds the StatefulSet; its pod runs.
	h.Eventually(func() bool { return h.Get(&appsv1.StatefulSet{}, "shop-postgres") == nil }, "the StatefulSet exists")
	h.RunStatefulSetPod("shop-postgres")

	// Then the web tier and the backups.
	h.Eventually(func() bool { return h.Get(&appsv1.Deployment{}, "shop-web") == nil }, "the Deployment exists")
	dep := &appsv1.Deployment{}
	require.NoError(t, h.Get(dep, "shop-web"))
	require.Equal(t, "ghcr.io/acme/shop:1.0", dep.Spec.Template.Spec.Containers[0].Image)
	require.Contains(t, envNames(dep), "DATABASE_URL", "the web tier gets the database's credentials by reference")
	h.RollOutDeployment("shop-web")
	h.Eventually(func() bool { return h.Get(&batchv1.CronJob{}, "shop-backup") == nil }, "the CronJob exists")

	waitReady := func(version string) {
		t.Helper()
		h.Eventually(func() bool {
			s := &canopyv1alpha1.Stack{}
			return h.Get(s, "shop") == nil && conditions.IsTrue(s, componentsv1alpha1.ConditionReady) && s.Status.Version == version &&
				s.Status.ObservedGeneration == s.Generation
		}, "the Stack is Ready at %s", version)
	}
	waitReady("1.0")
	s := &canopyv1alpha1.Stack{}
	require.NoError(t, h.Get(s, "shop"))
	require.Equal(t, "shop-postgres."+h.NS+".svc:5432", s.Status.DatabaseEndpoint)
	require.Equal(t, "shop-db-credentials", s.Status.CredentialsSecretName)
	require.Equal(t, "http://shop-web."+h.NS+".svc", s.Status.URL)

	// Upgrade: the pre-upgrade backup runs first (its Job is the backup controller's), then the new
	// version rolls out.
	testenv.Mutate(t, h.C, h.Key("shop"), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false, func(s *canopyv1alpha1.Stack) {
		s.Spec.Version = "2.0"
	})
	var backupJob string
	h.Eventually(func() bool {
		var jobs batchv1.JobList
		if h.C.List(ctx, &jobs, client.InNamespace(h.NS)) != nil {
			return false
		}
		for _, j := range jobs.Items {
			if strings.HasPrefix(j.Name, "shop-req-") {
				backupJob = j.Name
				return true
			}
		}
		return false
	}, "the pre-upgrade backup Job starts")
	require.NoError(t, h.Get(dep, "shop-web"))
	require.Equal(t, "ghcr.io/acme/shop:1.0", dep.Spec.Template.Spec.Containers[0].Image, "nothing rolls before the backup")
	done := time.Now().UTC().Truncate(time.Second)
	result, err := json.Marshal(agent.Result{Operation: agent.OperationBackup, Succeeded: true, Name: backupJob, SizeBytes: 4096, SHA256: "ab",
		Location: "pvc:///shop/" + backupJob + "/dump.pgc", DatabaseVersion: "17", AppVersion: "1.0", StartTime: done.Add(-time.Second), CompletionTime: done})
	require.NoError(t, err)
	h.CompleteJob(backupJob, "agent", string(result))

	h.Eventually(func() bool {
		return h.Get(dep, "shop-web") == nil && dep.Spec.Template.Spec.Containers[0].Image == "ghcr.io/acme/shop:2.0"
	}, "the new version rolls out after the backup")
	require.NoError(t, h.Get(s, "shop"))
	require.Equal(t, "1.0", s.Status.Version, "still serving 1.0 while 2.0 rolls out")
	h.RollOutDeployment("shop-web")
	waitReady("2.0")
	require.NoError(t, h.Get(s, "shop"))
	require.Equal(t, backupJob, s.Status.Upgrade.BackupName)
	require.Equal(t, backupJob, s.Status.LastBackup.Name, "the backup is in the Stack's status")
}

func envNames(dep *appsv1.Deployment) []string {
	var out []string
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		out = append(out, e.Name)
	}
	return out
}
