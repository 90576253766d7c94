package plugin

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/golden"
	"github.com/canopy-dev/canopy/internal/testenv"
)

func goldenText(t *testing.T, name, got string) {
	t.Helper()
	golden.Compare(t, filepath.Join("testdata", name+".golden.txt"), []byte(got))
}

// TestStatusReady: a healthy Stack reads as a tree with its workloads, conditions, the three
// newest backups and nothing to do.
func TestStatusReady(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	r := f.run("", "status", "shop")
	require.Equal(t, 0, r.code, r.err)
	goldenText(t, "status-ready", r.out)

	var rep StackReport
	r = f.run("", "status", "shop", "-o", "json")
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
	require.True(t, rep.Ready)
	require.Equal(t, "1.4.2", rep.Version)
	require.Len(t, rep.Backups, 3)
	require.Equal(t, 5, rep.BackupsTotal)
	require.Equal(t, "shop-kc-1780300000000", rep.Backups[0].Name, "newest first")
	require.Empty(t, rep.Problems)

	r = f.run("", "status", "shop", "--color", "always")
	require.Contains(t, r.out, "\x1b[32mReady\x1b[0m", "--color always paints Ready green")
	r = f.run("", "status", "shop", "--color", "auto")
	require.NotContains(t, r.out, "\x1b[", "--color auto writes no colour to what is not a terminal")

	r = f.run("", "status", "shop", "-o", "yaml")
	require.NoError(t, yaml.Unmarshal([]byte(r.out), &rep))
	require.Equal(t, "shop", rep.Name)
}

// TestStatusFailedUpgrade: a rolled-back upgrade, a migration Job that failed and a failed backup
// each say what is wrong and what to run next.
func TestStatusFailedUpgrade(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	testenv.Mutate(t, f.C, f.Key("shop"), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false, func(s *canopyv1alpha1.Stack) {
		s.Spec.Version = "1.5.0"
	})
	msg := "version 1.5.0 failed (MigrationFailed): the migration Job shop-migrate-1-5-0 failed: BackoffLimitExceeded"
	testenv.Mutate(t, f.C, f.Key("shop"), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, true, func(s *canopyv1alpha1.Stack) {
		s.Status.ObservedGeneration = s.Generation
		s.Status.Conditions = []metav1.Condition{
			cond("Ready", metav1.ConditionFalse, "UpgradeFailed", "the upgrade to 1.5.0 failed; 1.4.2 serves", 20*time.Minute),
			cond("Stalled", metav1.ConditionTrue, "UpgradeFailed", msg, 20*time.Minute),
			cond("Degraded", metav1.ConditionTrue, "UpgradeFailed", msg, 20*time.Minute),
			cond("DatabaseReady", metav1.ConditionTrue, "Available", "PostgreSQL 17.2 is ready", 5*time.Hour),
			cond("FrontendReady", metav1.ConditionFalse, "MigrationFailed", "the migration Job shop-migrate-1-5-0 failed", 20*time.Minute),
			cond("BackupReady", metav1.ConditionTrue, "Available", "the latest backup failed (UploadFailed) and the next one retries", 5*time.Hour),
			cond("BackupHealthy", metav1.ConditionFalse, "UploadFailed", "storing the dump failed: no space left on device", 9*time.Minute),
		}
		s.Status.Upgrade = &canopyv1alpha1.UpgradeStatus{FromVersion: "1.4.2", ToVersion: "1.5.0", Phase: "Failed", BackupName: "shop-pre-upgrade-g2",
			BackupRequest: "pre-upgrade-g2", StartTime: ptr.To(ago(25 * time.Minute)), Message: msg}
		s.Status.LastBackupFailure = &componentsv1alpha1.BackupFailure{JobName: "shop-backup-29650000", Time: ptr.To(ago(9 * time.Minute)),
			Reason: "UploadFailed", Message: "storing the dump failed: no space left on device"}
	})
	testenv.Mutate(t, f.C, f.Key("shop"), func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, true,
		func(fe *componentsv1alpha1.Frontend) {
			fe.Status.FailedVersion = "1.5.0"
			fe.Status.Migration = &componentsv1alpha1.MigrationStatus{Version: "1.5.0", JobName: "shop-migrate-1-5-0",
				Phase: "Failed", Message: "BackoffLimitExceeded"}
			fe.Status.Conditions = []metav1.Condition{
				cond("Ready", metav1.ConditionFalse, "MigrationFailed", "the migration Job shop-migrate-1-5-0 failed", 20*time.Minute),
				cond("Degraded", metav1.ConditionTrue, "MigrationFailed", "the migration Job shop-migrate-1-5-0 failed; 1.4.2 serves", 20*time.Minute)}
		})
	testenv.Mutate(t, f.C, f.Key("shop"), func() *componentsv1alpha1.BackupPolicy { return &componentsv1alpha1.BackupPolicy{} }, true,
		func(bp *componentsv1alpha1.BackupPolicy) {
			bp.Status.LastFailedBackup = &componentsv1alpha1.BackupFailure{JobName: "shop-backup-29650000", Time: ptr.To(ago(9 * time.Minute)),
				Reason: "UploadFailed", Message: "storing the dump failed: no space left on device"}
			bp.Status.Conditions = []metav1.Condition{
				cond("Ready", metav1.ConditionTrue, "Available", "the latest backup failed (UploadFailed) and the next one retries", 5*time.Hour),
				cond("BackupHealthy", metav1.ConditionFalse, "UploadFailed", "storing the dump failed: no space left on device", 9*time.Minute)}
		})
	f.failedJob("shop-migrate-1-5-0", "frontend")

	r := f.run("", "status", "shop")
	require.Equal(t, 0, r.code, r.err)
	goldenText(t, "status-failed-upgrade", r.out)
}

// TestStatusPausedMidRestore: a paused Stack restoring a backup shows the step in flight and how
// to resume; a Stack without backups says so.
func TestStatusPausedMidRestore(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	testenv.Mutate(t, f.C, f.Key("shop"), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false, func(s *canopyv1alpha1.Stack) {
		s.Spec.Paused = true
		s.Spec.RestoreRequest = &canopyv1alpha1.StackRestoreRequest{ID: "kc-1", BackupName: "shop-20260601-020000"}
	})
	testenv.Mutate(t, f.C, f.Key("shop"), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, true, func(s *canopyv1alpha1.Stack) {
		s.Status.ObservedGeneration = s.Generation
		s.Status.Conditions = []metav1.Condition{
			cond("Ready", metav1.ConditionFalse, "Restoring", "restoring shop-20260601-020000: step SafetyBackup", 2*time.Minute),
			cond("Paused", metav1.ConditionTrue, "Paused", "spec.paused stops every change", time.Minute),
			cond("Upgradeable", metav1.ConditionFalse, "DataOperationInProgress", "an in-place restore is in progress", 2*time.Minute),
		}
		s.Status.Restore = &canopyv1alpha1.RestoreProgress{ID: "kc-1", BackupName: "shop-20260601-020000", Step: "SafetyBackup"}
	})
	r := f.run("", "status", "shop")
	require.Equal(t, 0, r.code, r.err)
	goldenText(t, "status-paused-restoring", r.out)
}

// failedJob creates a component's Job that failed, as the Job controller reports it.
func (f *fixture) failedJob(name, component string) {
	f.T.Helper()
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: name, Labels: objLabels("shop", component)},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "c", Image: "x"}}}}}}
	require.NoError(f.T, f.C.Create(ctxOf(f), job))
	start := metav1.Now()
	job.Status.StartTime = &start
	job.Status.Failed = 1
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: start},
		{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded",
			Message: "Job has reached the specified backoff limit", LastTransitionTime: start}}
	require.NoError(f.T, f.C.Status().Update(ctxOf(f), job))
}

// TestStatusWithTheViewerRole: an application team with only Canopy's stack-viewer role (through
// kubectl's --as) sees the Stack and its components; the workloads it may not read are named.
func TestStatusWithTheViewerRole(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	ctx := t.Context()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: "viewer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"canopy.dev"}, Resources: []string{"stacks"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"components.canopy.dev"}, Resources: []string{"databases", "frontends", "backuppolicies"}, Verbs: []string{"get", "list"}}}}
	require.NoError(t, f.C.Create(ctx, role))
	require.NoError(t, f.C.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: "viewer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "viewer"},
		Subjects: []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "app-team"}}}))
	r := f.run("", "status", "shop", "--as", "app-team")
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "Stack NS/shop  Ready")
	require.Contains(t, r.out, "(not shown, your permissions do not allow reading them: StatefulSets, Deployments, CronJobs, Jobs)")
	require.NotContains(t, r.out, "StatefulSet shop-postgres")

	r = f.run("", "pause", "shop", "--as", "app-team")
	require.Contains(t, r.err, "changing Stack NS/shop:")
	require.Contains(t, r.err, "forbidden")
}

// TestStatusDegradedIssuer: a Stack that serves while its ingress certificate's issuer is missing
// (Ready, and Degraded with IssuerNotFound) says so, with the next step.
func TestStatusDegradedIssuer(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	msg := "frontend: the ClusterIssuer le-prod that spec.tls.issuerRef names does not exist in the cluster, so cert-manager cannot issue " +
		"the Certificate shop-web: create the ClusterIssuer, or correct tls.issuerRef (an Issuer must be in the Stack's namespace)"
	testenv.Mutate(t, f.C, f.Key("shop"), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, true, func(s *canopyv1alpha1.Stack) {
		s.Status.Conditions = append(s.Status.Conditions, cond("Degraded", metav1.ConditionTrue, componentsv1alpha1.ReasonIssuerNotFound, msg, time.Minute))
	})
	var rep StackReport
	r := f.run("", "status", "shop", "-o", "json")
	require.NoError(t, json.Unmarshal([]byte(r.out), &rep))
	require.Len(t, rep.Problems, 1)
	require.Equal(t, "degraded, IssuerNotFound: "+msg, rep.Problems[0].Message)
	require.Contains(t, rep.Problems[0].Next, "create the Issuer (in the Stack's namespace) or ClusterIssuer the message names")
}

// TestColorAuto: --color auto colours a terminal unless NO_COLOR is set, and nothing else;
// always and never do as they say. A pseudo-terminal stands in for the user's.
func TestColorAuto(t *testing.T) {
	tty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to stand in for a terminal: %v", err)
	}
	defer func() { _ = tty.Close() }()
	for _, tc := range []struct {
		color, noColor string
		out            io.Writer
		want           bool
	}{
		{"auto", "", tty, true},
		{"auto", "1", tty, false},
		{"auto", "", &bytes.Buffer{}, false},
		{"always", "1", &bytes.Buffer{}, true},
		{"never", "", tty, false},
	} {
		t.Setenv("NO_COLOR", tc.noColor)
		o := &Options{Streams: Streams{Out: tc.out}, Color: tc.color}
		require.Equal(t, tc.want, o.style().on, "--color %s, NO_COLOR=%q, output %T", tc.color, tc.noColor, tc.out)
	}
}
