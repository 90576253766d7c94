package backuppolicy

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/backup"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env, testenv.Options{}))
}

type harness struct {
	*testenv.Harness
	stop func()
	mgr  ctrl.Manager
}

// start runs the backup controller; stop (also at the end of the test) ends it, to test restarts.
func start(t *testing.T, h *harness) *harness {
	t.Helper()
	e := testenv.Require(t, env)
	if h == nil {
		h = &harness{Harness: e.Harness(t)}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.mgr = e.StartManagerContext(t, ctx, func(mgr ctrl.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), Getenv: func(string) string { return "" }}).SetupWithManager(mgr)
	})

	h.stop = cancel
	return h
}

// database creates a Database with the status its controller reports once PostgreSQL runs.
func (h *harness) database(name string) {
	h.T.Helper()
	ctx := context.Background()
	db := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: name}, Spec: componentsv1alpha1.DatabaseSpec{Version: "17"}}
	require.NoError(h.T, h.C.Create(ctx, db))
	db.Status = componentsv1alpha1.DatabaseStatus{ObservedGeneration: 1, Version: "17.2", Image: "docker.io/library/postgres:17.2",
		Endpoint: name + "-postgres." + h.NS + ".svc:5432", CredentialsSecretName: name + "-db-credentials",
		Conditions: []metav1.Condition{{Type: componentsv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Available",
			ObservedGeneration: 1, LastTransitionTime: metav1.Now()}}}
	require.NoError(h.T, h.C.Status().Update(ctx, db))
}

func (h *harness) policy(name string, mutate ...func(*componentsv1alpha1.BackupPolicy)) *componentsv1alpha1.BackupPolicy {
	h.T.Helper()
	bp := &componentsv1alpha1.BackupPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: name, Labels: map[string]string{"canopy.dev/stack": name}},
		Spec: componentsv1alpha1.BackupPolicySpec{DatabaseName: name, StackName: name, AppVersion: "1.0", Schedule: "0 2 * * *",
			Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{
				Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}}},
	}
	for _, m := range mutate {
		m(bp)
	}
	require.NoError(h.T, h.C.Create(context.Background(), bp))
	return bp
}

func (h *harness) get(name string) *componentsv1alpha1.BackupPolicy {
	h.T.Helper()
	bp := &componentsv1alpha1.BackupPolicy{}
	require.NoError(h.T, h.Get(bp, name))
	return bp
}

// finish plays the Job controller and the kubelet: the Job's pod ends with the agent's result as its
// termination message, and the Job is Complete or Failed.
func (h *harness) finish(jobName string, result agent.Result) {
	h.T.Helper()
	ctx := context.Background()
	job := &batchv1.Job{}
	require.NoError(h.T, h.Get(job, jobName))
	msg, err := json.Marshal(result)
	require.NoError(h.T, err)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: jobName + "-x1",
		Labels: map[string]string{"job-name": jobName, desired.LabelPolicy: job.Labels[desired.LabelPolicy], "app.kubernetes.io/managed-by": "canopy"}},
		Spec: *job.Spec.Template.Spec.DeepCopy()}
	require.NoError(h.T, h.C.Create(ctx, pod))
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "agent", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: map[bool]int32{true: 0, false: 1}[result.Succeeded], Message: string(msg)}}}}
	require.NoError(h.T, h.C.Status().Update(ctx, pod))
	now := metav1.Now()
	job.Status.StartTime = &now
	if result.Succeeded {
		job.Status.Succeeded = 1
		job.Status.CompletionTime = &now
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit",
				LastTransitionTime: now}}
	}
	require.NoError(h.T, h.C.Status().Update(ctx, job))
}

func success(name string) agent.Result {
	t0 := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	return agent.Result{Operation: agent.OperationBackup, Succeeded: true, Name: name, SizeBytes: 123456, SHA256: "ab12",
		Location: "pvc://shop-backups/shop/" + name + "/dump.pgc", DatabaseVersion: "17.2", AppVersion: "1.0", StartTime: t0,
		CompletionTime: t0.Add(30 * time.Second)}
}

func (h *harness) jobs() []batchv1.Job {
	h.T.Helper()
	var list batchv1.JobList
	require.NoError(h.T, h.C.List(context.Background(), &list, client.InNamespace(h.NS)))
	return list.Items
}

// TestScheduleWaitsForTheDatabase: nothing runs before the Database reports; then the CronJob and
// the backup volume appear, with the next scheduled time.
func TestScheduleWaitsForTheDatabase(t *testing.T) {
	h := start(t, nil)
	h.policy("shop")
	h.Eventually(func() bool {
		c := conditions.Get(h.get("shop"), componentsv1alpha1.ConditionReady)
		return c != nil && c.Reason == ReasonWaitingForDatabase
	}, "waits for the Database")
	require.True(t, apierrors.IsNotFound(h.Get(&batchv1.CronJob{}, "shop-backup")))

	h.database("shop")
	cj := &batchv1.CronJob{}
	h.Eventually(func() bool { return h.Get(cj, "shop-backup") == nil }, "the CronJob is created")
	require.Equal(t, "0 2 * * *", cj.Spec.Schedule)
	require.Equal(t, batchv1.ForbidConcurrent, cj.Spec.ConcurrencyPolicy)
	require.Equal(t, "docker.io/library/postgres:17.2", cj.Spec.JobTemplate.Spec.Template.Spec.InitContainers[0].Image, "pg_dump from the database's own image")
	pvc := &corev1.PersistentVolumeClaim{}
	require.NoError(t, h.Get(pvc, "shop-backups"))
	require.Empty(t, pvc.OwnerReferences, "the backup volume outlives the policy")
	h.Eventually(func() bool {
		bp := h.get("shop")
		return conditions.IsTrue(bp, componentsv1alpha1.ConditionReady) && bp.Status.NextScheduledTime != nil
	}, "Ready with a next scheduled time")
}

// TestOnDemandRequestRunsOnceAcrossRestarts: one token, one Job, even when the controller restarts
// mid-request; the result lands in the catalogue and the request's status.
func TestOnDemandRequestRunsOnceAcrossRestarts(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	h.policy("shop", func(bp *componentsv1alpha1.BackupPolicy) { bp.Spec.BackupRequest = "pre-upgrade-g2" })
	name := desired.JobName(h.get("shop"), desired.TriggerRequest, "pre-upgrade-g2")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, name) == nil }, "the Job starts")
	h.Eventually(func() bool {
		r := h.get("shop").Status.LastRequest
		return r != nil && r.ID == "pre-upgrade-g2" && r.Phase == componentsv1alpha1.PhaseRunning
	}, "the request is Running")

	h.stop()
	h = start(t, h) // a new controller process
	h.Eventually(func() bool { return h.get("shop").Status.ObservedGeneration == h.get("shop").Generation }, "the new controller reconciled")
	require.Len(t, h.jobs(), 1, "no second Job for the same request")

	h.finish(name, success(name))
	h.Eventually(func() bool {
		r := h.get("shop").Status.LastRequest
		return r != nil && r.Phase == componentsv1alpha1.PhaseSucceeded && r.BackupName == name
	}, "the request Succeeded")
	bp := h.get("shop")
	require.Len(t, bp.Status.Backups, 1)
	require.Equal(t, name, bp.Status.LastSuccessfulBackup.Name)
	require.Equal(t, int64(123456), bp.Status.Backups[0].SizeBytes)
	require.Equal(t, "17.2", bp.Status.Backups[0].DatabaseVersion)
	require.Equal(t, desired.TriggerRequest, bp.Status.Backups[0].Trigger)
	h.Eventually(func() bool {
		last, ok := testenv.Gauge(t, "canopy_backup_last_success_timestamp_seconds", map[string]string{"database_namespace": h.NS, "database": "shop"})
		return ok && last == float64(bp.Status.LastSuccessfulBackup.CompletionTime.Unix())
	}, "the last-success gauge shows the backup")
	h.WaitEvent(bp, "BackupSucceeded")
	require.Len(t, h.jobs(), 1)
}

// TestAnnotationStartsOneBackup: the canopy.dev/backup-now annotation, passed on by the Stack, starts
// one backup per value.
func TestAnnotationStartsOneBackup(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	h.policy("shop", func(bp *componentsv1alpha1.BackupPolicy) {
		bp.Annotations = map[string]string{canopyv1alpha1.AnnotationBackupNow: "1764158400"}
	})
	name := desired.JobName(h.get("shop"), desired.TriggerAnnotation, "1764158400")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, name) == nil }, "the Job starts")
	h.finish(name, success(name))
	h.Eventually(func() bool {
		r := h.get("shop").Status.LastAnnotationRequest
		return r != nil && r.Phase == componentsv1alpha1.PhaseSucceeded
	}, "the annotation's request Succeeded")
	require.Len(t, h.jobs(), 1)
}

// TestFailureIsReportedNeverSilent: a failed backup is a condition, an event, a counter and the
// request's outcome.
func TestFailureIsReportedNeverSilent(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	h.policy("shop", func(bp *componentsv1alpha1.BackupPolicy) { bp.Spec.BackupRequest = "r1" })
	name := desired.JobName(h.get("shop"), desired.TriggerRequest, "r1")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, name) == nil }, "the Job starts")
	before := testutil.ToFloat64(metrics.BackupFailures.WithLabelValues(h.NS, "shop"))
	h.finish(name, agent.Result{Operation: agent.OperationBackup, Succeeded: false, Name: name, Reason: agent.ReasonUnauthorized,
		Message: "the S3 service refused the credentials in Secret s3-creds"})
	h.Eventually(func() bool { return h.get("shop").Status.LastFailedBackup != nil }, "the failure is recorded")
	bp := h.get("shop")
	require.Equal(t, agent.ReasonUnauthorized, bp.Status.LastFailedBackup.Reason)
	require.Equal(t, "r1", bp.Status.LastFailedBackup.Request)
	stalled := conditions.Get(bp, componentsv1alpha1.ConditionStalled)
	require.Equal(t, agent.ReasonUnauthorized, stalled.Reason)
	require.Contains(t, stalled.Message, "refused the credentials")
	require.Equal(t, componentsv1alpha1.PhaseFailed, bp.Status.LastRequest.Phase)
	require.Equal(t, before+1, testutil.ToFloat64(metrics.BackupFailures.WithLabelValues(h.NS, "shop")))
	h.WaitEvent(bp, componentsv1alpha1.ReasonBackupFailed)
}

// TestRetriedFailureKeepsThePolicyReady: a backup that failed for a cause the schedule retries
// (the upload broke) leaves the policy Ready, not Stalled, with BackupHealthy False carrying the
// failure; the next successful backup makes it healthy again. Refused credentials, which need a
// person, still stall it (TestFailureIsReportedNeverSilent).
func TestRetriedFailureKeepsThePolicyReady(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	h.policy("shop", func(bp *componentsv1alpha1.BackupPolicy) { bp.Spec.BackupRequest = "r1" })
	name := desired.JobName(h.get("shop"), desired.TriggerRequest, "r1")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, name) == nil }, "the Job starts")
	h.finish(name, agent.Result{Operation: agent.OperationBackup, Succeeded: false, Name: name, Reason: agent.ReasonUploadFailed,
		Message: "connection reset by peer"})
	h.Eventually(func() bool {
		c := conditions.Get(h.get("shop"), componentsv1alpha1.ConditionBackupHealthy)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == agent.ReasonUploadFailed && strings.Contains(c.Message, "connection reset")
	}, "the failure is reported in BackupHealthy")
	bp := h.get("shop")
	require.True(t, conditions.IsTrue(bp, componentsv1alpha1.ConditionReady), "the schedule retries: the policy is Ready")
	require.Nil(t, conditions.Get(bp, componentsv1alpha1.ConditionStalled), "nothing needs a person")

	testenv.Mutate(t, h.C, h.Key("shop"), func() *componentsv1alpha1.BackupPolicy { return &componentsv1alpha1.BackupPolicy{} }, false,
		func(bp *componentsv1alpha1.BackupPolicy) { bp.Spec.BackupRequest = "r2" })
	name = desired.JobName(h.get("shop"), desired.TriggerRequest, "r2")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, name) == nil }, "the next Job starts")
	// Completed after the failure was recorded (status times have a resolution of one second).
	done := time.Now().UTC().Add(time.Second).Truncate(time.Second)
	h.finish(name, agent.Result{Operation: agent.OperationBackup, Succeeded: true, Name: name, SizeBytes: 1, SHA256: "ab",
		Location: "pvc:///shop/" + name + "/dump.pgc", StartTime: done.Add(-time.Second), CompletionTime: done})
	h.Eventually(func() bool { return conditions.IsTrue(h.get("shop"), componentsv1alpha1.ConditionBackupHealthy) }, "healthy again after a success")
}

// TestInvalidScheduleRange: a value out of range (minute 61) is refused at admission, naming the
// field; what CEL cannot afford to check (a range that ends before it starts) is refused by the
// controller, clearly.
func TestInvalidScheduleRange(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	bp := &componentsv1alpha1.BackupPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "early"},
		Spec: componentsv1alpha1.BackupPolicySpec{DatabaseName: "shop", StackName: "shop", AppVersion: "1.0", Schedule: "61 2 * * *",
			Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{
				Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}}}}
	err := h.C.Create(context.Background(), bp)
	require.True(t, apierrors.IsInvalid(err), "refused at admission: %v", err)
	require.Contains(t, err.Error(), "spec.schedule")

	h.policy("shop", func(bp *componentsv1alpha1.BackupPolicy) { bp.Spec.Schedule = "0 22-2 * * *" })
	h.Eventually(func() bool {
		c := conditions.Get(h.get("shop"), componentsv1alpha1.ConditionStalled)
		return c != nil && c.Reason == componentsv1alpha1.ReasonInvalidSpec
	}, "the schedule is refused")
	require.Contains(t, conditions.Get(h.get("shop"), componentsv1alpha1.ConditionStalled).Message, "0 22-2 * * *")
	require.True(t, apierrors.IsNotFound(h.Get(&batchv1.CronJob{}, "shop-backup")))
}

// TestHoldQueuesBackups: while a data operation holds the policy, the schedule is suspended and an
// annotation request waits, reported; the operation's own request waits only for a scheduled
// backup started before the hold (whose retention knows nothing of the operation); once the hold
// is lifted, the schedule resumes and the queued request runs.
func TestHoldQueuesBackups(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	h.policy("shop", func(bp *componentsv1alpha1.BackupPolicy) {
		bp.Annotations = map[string]string{canopyv1alpha1.AnnotationBackupNow: "a1"}
		bp.Spec.Hold = &componentsv1alpha1.BackupHold{Reason: "Restoring", Message: "restoring the backup shop-1 in place"}
		bp.Spec.ProtectedBackups = []string{"shop-1"}
	})
	cj := &batchv1.CronJob{}
	h.Eventually(func() bool { return h.Get(cj, "shop-backup") == nil && *cj.Spec.Suspend }, "the CronJob is created suspended")
	require.Contains(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, "--keep=shop-1")
	h.Eventually(func() bool {
		r := h.get("shop").Status.LastAnnotationRequest
		return r != nil && r.ID == "a1" && r.Phase == componentsv1alpha1.PhasePending && strings.Contains(r.Message, "restoring the backup shop-1")
	}, "the annotation request is queued, with the reason")
	bp := h.get("shop")
	held := conditions.Get(bp, componentsv1alpha1.ConditionHeld)
	require.NotNil(t, held)
	require.Equal(t, metav1.ConditionTrue, held.Status)
	require.Equal(t, "Restoring", held.Reason)
	require.Nil(t, bp.Status.NextScheduledTime, "nothing is scheduled while held")
	require.Empty(t, h.jobs())

	// A scheduled backup the CronJob started just before the hold is still running.
	sched := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "shop-backup-29000000", Labels: cj.Spec.JobTemplate.Labels},
		Spec: *cj.Spec.JobTemplate.Spec.DeepCopy()}
	require.NoError(t, h.C.Create(context.Background(), sched))
	testenvMutatePolicy(h, func(bp *componentsv1alpha1.BackupPolicy) { bp.Spec.BackupRequest = "pre-restore-1" })
	h.Eventually(func() bool {
		r := h.get("shop").Status.LastRequest
		return r != nil && r.ID == "pre-restore-1" && r.Phase == componentsv1alpha1.PhasePending && strings.Contains(r.Message, sched.Name)
	}, "the operation's backup waits for the running scheduled one")
	req := desired.JobName(bp, desired.TriggerRequest, "pre-restore-1")
	require.True(t, apierrors.IsNotFound(h.Get(&batchv1.Job{}, req)))
	h.finish(sched.Name, success("shop-20260101-020000"))
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, req) == nil }, "then it starts")
	now := desired.JobName(bp, desired.TriggerAnnotation, "a1")
	require.True(t, apierrors.IsNotFound(h.Get(&batchv1.Job{}, now)), "the annotation request still waits")

	// The operation ends.
	testenvMutatePolicy(h, func(bp *componentsv1alpha1.BackupPolicy) { bp.Spec.Hold, bp.Spec.ProtectedBackups = nil, nil })
	h.Eventually(func() bool { return h.Get(cj, "shop-backup") == nil && !*cj.Spec.Suspend }, "the schedule resumes")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, now) == nil }, "the queued request runs")
	h.Eventually(func() bool {
		bp := h.get("shop")
		return conditions.Get(bp, componentsv1alpha1.ConditionHeld) == nil && bp.Status.NextScheduledTime != nil
	}, "the policy no longer reports a hold")
}

func testenvMutatePolicy(h *harness, change func(*componentsv1alpha1.BackupPolicy)) {
	h.T.Helper()
	testenv.Mutate(h.T, h.C, h.Key("shop"), func() *componentsv1alpha1.BackupPolicy { return &componentsv1alpha1.BackupPolicy{} }, false, change)
}

// TestHoldSuspendsWithoutDatabaseStatus: a hold stops the schedule even while the Database has not
// reported (it was just recreated), when the CronJob cannot be rebuilt.
func TestHoldSuspendsWithoutDatabaseStatus(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	h.policy("shop")
	cj := &batchv1.CronJob{}
	h.Eventually(func() bool { return h.Get(cj, "shop-backup") == nil && !*cj.Spec.Suspend }, "the schedule runs")
	testenv.Mutate(h.T, h.C, h.Key("shop"), func() *componentsv1alpha1.Database { return &componentsv1alpha1.Database{} }, true,
		func(db *componentsv1alpha1.Database) { db.Status = componentsv1alpha1.DatabaseStatus{} })
	h.Eventually(func() bool {
		c := conditions.Get(h.get("shop"), componentsv1alpha1.ConditionReconciling)
		return c != nil && c.Reason == ReasonWaitingForDatabase
	}, "the policy waits for the Database")
	testenvMutatePolicy(h, func(bp *componentsv1alpha1.BackupPolicy) {
		bp.Spec.Hold = &componentsv1alpha1.BackupHold{Reason: "DatabaseUpgrading", Message: "upgrading PostgreSQL from 16.2 to 17"}
	})
	h.Eventually(func() bool { return h.Get(cj, "shop-backup") == nil && *cj.Spec.Suspend }, "the CronJob is suspended all the same")
}

// TestEncryptedBackupIsCatalogued: an encrypted backup's Job mounts the encryption Secret for the
// agent, and the catalogue records that the backup is encrypted and the key id it needs, never a
// key; a key missing from the Secret needs a person, so the policy is Stalled.
func TestEncryptedBackupIsCatalogued(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	h.secret("shop-backup-keys", map[string]string{"2026-02": testKey, "2026-03": testKey})
	h.policy("shop", func(bp *componentsv1alpha1.BackupPolicy) {
		bp.Spec.BackupRequest = "r1"
		bp.Spec.Destination.Encryption = &componentsv1alpha1.BackupEncryption{
			KeySecret: corev1.LocalObjectReference{Name: "shop-backup-keys"}, KeyID: "2026-02"}
	})
	name := desired.JobName(h.get("shop"), desired.TriggerRequest, "r1")
	job := &batchv1.Job{}
	h.Eventually(func() bool { return h.Get(job, name) == nil }, "the Job starts")
	pod := job.Spec.Template.Spec
	require.Contains(t, pod.Containers[0].Args, "--encryption-key-id=2026-02")
	mounted := false
	for _, v := range pod.Volumes {
		mounted = mounted || (v.Secret != nil && v.Secret.SecretName == "shop-backup-keys")
	}
	require.True(t, mounted, "the keys are a mounted Secret")

	res := success(name)
	res.Encrypted, res.KeyID = true, "2026-02"
	h.finish(name, res)
	h.Eventually(func() bool { return h.get("shop").Status.LastSuccessfulBackup != nil }, "the backup is recorded")
	rec := h.get("shop").Status.Backups[0]
	require.True(t, rec.Encrypted)
	require.Equal(t, "2026-02", rec.KeyID)
	require.Equal(t, "ab12", rec.SHA256, "the checksum of what is stored")

	h.database("keyless") // one policy per database: the backup gauges are per database
	h.policy("keyless", func(bp *componentsv1alpha1.BackupPolicy) {
		bp.Spec.BackupRequest = "r1"
		bp.Spec.Destination.Encryption = &componentsv1alpha1.BackupEncryption{
			KeySecret: corev1.LocalObjectReference{Name: "shop-backup-keys"}, KeyID: "2026-03"}
	})
	name = desired.JobName(h.get("keyless"), desired.TriggerRequest, "r1")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, name) == nil }, "the Job starts")
	// The key was in the Secret when the Job started, and removed before the agent read it.
	h.finish(name, agent.Result{Operation: agent.OperationBackup, Name: name, Reason: agent.ReasonEncryptionKeyMissing,
		Message: `the encryption Secret has no key "2026-03" (/etc/canopy/backup-keys); it holds only "2026-02"`})
	h.Eventually(func() bool {
		c := conditions.Get(h.get("keyless"), componentsv1alpha1.ConditionStalled)
		return c != nil && c.Reason == agent.ReasonEncryptionKeyMissing
	}, "a missing key is Stalled: retrying cannot cure it")
}
