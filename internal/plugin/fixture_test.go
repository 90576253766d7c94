package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env, testenv.Options{}))
}

// now is the plugin's clock in every test, so that ages in golden files stay put.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

// fixture is one test's namespace on envtest, and the kubeconfig the plugin reads, as a user's.
type fixture struct {
	*testenv.Harness
	kubeconfig string
	// clock is the plugin's time; request ids derive from it.
	clock time.Time
	// clientset, when set, stands in for client-go's client, which reads the manager's log.
	clientset kubernetes.Interface
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	e := testenv.Require(t, env)
	kc, err := e.Kubeconfig()
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, kc, 0o600))
	return &fixture{Harness: e.Harness(t), kubeconfig: path, clock: now}
}

// result is one run of the plugin.
type result struct {
	out, err string
	code     int
}

// run runs `kubectl canopy args...` in the test's namespace with stdin as input.
func (f *fixture) run(stdin string, args ...string) result {
	f.T.Helper()
	return f.runCtx(context.Background(), stdin, args...)
}

// runCtx is run with a context the test may cancel, as Ctrl-C cancels Main's.
func (f *fixture) runCtx(ctx context.Context, stdin string, args ...string) result {
	f.T.Helper()
	return f.exec(ctx, stdin, append([]string{"--kubeconfig", f.kubeconfig, "-n", f.NS}, args...)...)
}

// exec runs `kubectl canopy args...` as it is given: no kubeconfig or namespace added.
func (f *fixture) exec(ctx context.Context, stdin string, args ...string) result {
	f.T.Helper()
	var out, errb bytes.Buffer
	o := &Options{Streams: Streams{In: strings.NewReader(stdin), Out: &out, Err: &errb}, Now: func() time.Time { return f.clock }, Poll: 20 * time.Millisecond}
	if f.clientset != nil {
		o.newClientset = func(*rest.Config) (kubernetes.Interface, error) { return f.clientset, nil }
	}
	cmd := NewCommand(o)
	cmd.SetArgs(append([]string{"--color", "never"}, args...))
	code := 0
	if err := cmd.ExecuteContext(ctx); err != nil {
		errb.WriteString("error: " + err.Error() + "\n")
		code = 1
	}
	// The namespace is random: goldens show it as NS.
	return result{out: strings.ReplaceAll(out.String(), f.NS, "NS"), err: strings.ReplaceAll(errb.String(), f.NS, "NS"), code: code}
}

func cond(t string, s metav1.ConditionStatus, reason, msg string, since time.Duration) metav1.Condition {
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: ago(since), ObservedGeneration: 1}
}

// labels are those Canopy puts on a component's objects.
func objLabels(stack, component string) map[string]string {
	return map[string]string{common.LabelStack: stack, common.LabelComponent: component, common.LabelManagedBy: common.ManagedBy}
}

// readyStack creates a Stack named name as the operator leaves it once Ready: its three internal
// objects, their workloads, and five backups in the catalogue, each with the status its
// controller would write.
func (f *fixture) readyStack(name string) {
	f.T.Helper()
	ctx := context.Background()
	c := f.C
	st := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name}, Spec: canopyv1alpha1.StackSpec{
		Version:  "1.4.2",
		Frontend: canopyv1alpha1.StackFrontend{Image: "ghcr.io/acme/shop", Replicas: ptr.To[int32](2)},
		Backup: &canopyv1alpha1.StackBackup{Schedule: "0 2 * * *", Destination: componentsv1alpha1.BackupDestination{
			Volume: &componentsv1alpha1.VolumeDestination{Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("10Gi")}}}},
	}}
	require.NoError(f.T, c.Create(ctx, st))
	st.Status = canopyv1alpha1.StackStatus{ObservedGeneration: st.Generation, Version: "1.4.2", URL: "https://shop.example.com",
		DatabaseEndpoint: name + "-postgres." + f.NS + ".svc:5432", CredentialsSecretName: name + "-db-credentials",
		Conditions: []metav1.Condition{
			cond("Ready", metav1.ConditionTrue, "Ready", "version 1.4.2 is serving at https://shop.example.com", 3*time.Hour),
			cond("DatabaseReady", metav1.ConditionTrue, "Available", "PostgreSQL 17.2 is ready at "+name+"-postgres."+f.NS+".svc:5432", 5*time.Hour),
			cond("FrontendReady", metav1.ConditionTrue, "Available", "version 1.4.2 available on 2 of 2 replicas", 3*time.Hour),
			cond("BackupReady", metav1.ConditionTrue, "Available", "latest backup "+name+"-kc-1780300000000", 5*time.Hour),
			cond("BackupHealthy", metav1.ConditionTrue, "Available", "no backup has failed since the last success", 10*time.Hour),
			cond("Upgradeable", metav1.ConditionTrue, "NoUpgradeInProgress", "no upgrade or restore in progress", 3*time.Hour),
		},
		Upgrade: &canopyv1alpha1.UpgradeStatus{FromVersion: "1.4.1", ToVersion: "1.4.2", Phase: "Succeeded",
			BackupName: name + "-pre-upgrade-g2", StartTime: ptr.To(ago(3 * time.Hour))},
	}
	require.NoError(f.T, c.Status().Update(ctx, st))

	db := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name, Labels: objLabels(name, "database")},
		Spec: componentsv1alpha1.DatabaseSpec{Version: "17"}}
	require.NoError(f.T, c.Create(ctx, db))
	db.Status = componentsv1alpha1.DatabaseStatus{ObservedGeneration: db.Generation, Version: "17.2", Endpoint: st.Status.DatabaseEndpoint,
		CredentialsSecretName: name + "-db-credentials", StorageCapacity: ptr.To(resource.MustParse("5Gi")), VolumeClaim: "data-" + name + "-postgres-0",
		Conditions: []metav1.Condition{cond("Ready", metav1.ConditionTrue, "Available",
			"PostgreSQL 17.2 is ready at "+name+"-postgres."+f.NS+".svc:5432", 5*time.Hour)}}
	require.NoError(f.T, c.Status().Update(ctx, db))

	fe := &componentsv1alpha1.Frontend{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name, Labels: objLabels(name, "frontend")},
		Spec: componentsv1alpha1.FrontendSpec{Image: "ghcr.io/acme/shop", Version: "1.4.2", Replicas: ptr.To[int32](2),
			Database: &componentsv1alpha1.DatabaseConnection{CredentialsSecretName: name + "-db-credentials"}}}
	require.NoError(f.T, c.Create(ctx, fe))
	fe.Status = componentsv1alpha1.FrontendStatus{ObservedGeneration: fe.Generation, DesiredVersion: "1.4.2", Version: "1.4.2", LastGoodVersion: "1.4.2",
		Replicas: 2, ReadyReplicas: 2, URL: "https://shop.example.com",
		Migration:  &componentsv1alpha1.MigrationStatus{Version: "1.4.2", JobName: name + "-migrate-1-4-2", Phase: "Succeeded"},
		Conditions: []metav1.Condition{cond("Ready", metav1.ConditionTrue, "Available", "version 1.4.2 available on 2 of 2 replicas", 3*time.Hour)}}
	require.NoError(f.T, c.Status().Update(ctx, fe))

	bp := &componentsv1alpha1.BackupPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name, Labels: objLabels(name, "backup")},
		Spec: componentsv1alpha1.BackupPolicySpec{DatabaseName: name, StackName: name, Schedule: "0 2 * * *", Destination: st.Spec.Backup.Destination}}
	require.NoError(f.T, c.Create(ctx, bp))
	var backups []componentsv1alpha1.BackupRecord
	for i, b := range []struct {
		name, trigger, app string
		age                time.Duration
	}{ // not in order: the catalogue is sorted by the plugin
		{name + "-20260530-020000", "Scheduled", "1.4.1", 58 * time.Hour},
		{name + "-20260601-020000", "Scheduled", "1.4.2", 10 * time.Hour},
		{name + "-pre-upgrade-g2", "Request", "1.4.1", 3*time.Hour + 5*time.Minute},
		{name + "-20260531-020000", "Scheduled", "1.4.1", 34 * time.Hour},
		{name + "-kc-1780300000000", "Annotation", "1.4.2", 40 * time.Minute},
	} {
		done := ago(b.age)
		backups = append(backups, componentsv1alpha1.BackupRecord{Name: b.name, Trigger: b.trigger, StartTime: ptr.To(ago(b.age + 20*time.Second)),
			CompletionTime: &done, SizeBytes: int64(1_500_000 + i*250_000), SHA256: strings.Repeat("ab", 32), DatabaseVersion: "17.2", AppVersion: b.app,
			Location: "pvc://" + name + "-backup/" + b.name})
		if b.trigger == "Scheduled" && b.app == "1.4.2" { // the newest scheduled one was encrypted
			backups[i].Encrypted, backups[i].KeyID = true, "2026-06"
		}
	}
	bp.Status = componentsv1alpha1.BackupPolicyStatus{ObservedGeneration: bp.Generation, Backups: backups, LastSuccessfulBackup: &backups[4],
		NextScheduledTime: ptr.To(metav1.NewTime(time.Date(2026, 6, 2, 2, 0, 0, 0, time.UTC))),
		Conditions: []metav1.Condition{cond("Ready", metav1.ConditionTrue, "Available", "backups run on schedule 0 2 * * *", 5*time.Hour),
			cond("BackupHealthy", metav1.ConditionTrue, "Available", "no backup has failed since the last success", 10*time.Hour)}}
	require.NoError(f.T, c.Status().Update(ctx, bp))

	f.workloads(name)
}

// workloads creates the StatefulSet, Deployment and CronJob of a Stack, rolled out.
func (f *fixture) workloads(name string) {
	f.T.Helper()
	ctx := context.Background()
	pod := func(l map[string]string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: l}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	}
	dbl, fel := objLabels(name, "database"), objLabels(name, "frontend")
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name + "-postgres", Labels: dbl},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: dbl}, Template: pod(dbl)}}
	require.NoError(f.T, f.C.Create(ctx, sts))
	f.RunStatefulSetPod(sts.Name)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name + "-web", Labels: fel},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: fel}, Template: pod(fel)}}
	require.NoError(f.T, f.C.Create(ctx, dep))
	f.RollOutDeployment(dep.Name)
	bl := objLabels(name, "backup")
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name + "-backup", Labels: bl},
		Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *", Suspend: ptr.To(false), JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: bl},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}}}
	require.NoError(f.T, f.C.Create(ctx, cj))
}

// ctxOf is the test's context: the background, ended with the test.
func ctxOf(f *fixture) context.Context { return f.T.Context() }
