//go:build realpods

package real

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/e2e/real/cluster"
	"github.com/canopy-dev/canopy/internal/desired/backup"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestUpgradeBacksUpFirst: an application upgrade takes a real pre-upgrade backup of the running
// database before its migration Job starts; the backup object holds what the catalogue says, the
// new version serves, and the rows written before the upgrade are there.
func TestUpgradeBacksUpFirst(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	newStack(t, ns, "up", withS3Backups(t, ns), func(s *canopyv1alpha1.Stack) { s.Spec.Frontend.Replicas = nil })
	waitReady(t, ns, "up", appVersions[0])
	url := fmt.Sprintf("http://up-web.%s.svc/", ns)
	code, body, err := post(t, url+"notes", "before-upgrade")
	require.NoError(t, err)
	require.Equal(t, 200, code, body)

	update(t, ns, "up", func(s *canopyv1alpha1.Stack) { s.Spec.Version = appVersions[1] })
	t.Logf("upgrade to Ready: %s", waitReady(t, ns, "up", appVersions[1]))
	u := stack(t, ns, "up").Status.Upgrade
	require.Equal(t, canopyv1alpha1.UpgradeSucceeded, u.Phase)
	require.NotEmpty(t, u.BackupName, "a backup was taken before the upgrade")
	record := catalogued(t, ns, "up", u.BackupName)
	requireStoredAsCatalogued(t, record)
	backupJob := theJob(t, ns, func(j batchv1.Job) bool { return j.Annotations["canopy.dev/backup-request"] == u.BackupRequest })
	migration := theJob(t, ns, func(j batchv1.Job) bool {
		return j.Labels["canopy.dev/migration"] == "true" && j.Labels["app.kubernetes.io/version"] == appVersions[1]
	})
	require.NotNil(t, backupJob.Status.CompletionTime)
	require.False(t, migration.CreationTimestamp.Before(backupJob.Status.CompletionTime), "the migration starts after the backup completed")
	dep := &appsv1.Deployment{}
	require.NoError(t, c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "up-web"}, dep))
	require.Equal(t, cluster.SampleAppRepository+":"+appVersions[1], dep.Spec.Template.Spec.Containers[0].Image)
	code, body, err = get(url)
	require.NoError(t, err)
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `1 notes, last "before-upgrade"`, "the upgraded application reads the rows written before")
	t.Logf("pre-upgrade backup %s: %d bytes, stored as catalogued", record.Name, record.SizeBytes)
}

// TestScheduledAndPluginBackups: a backup scheduled every minute (the real CronJob controller) and
// one asked for with `kubectl canopy backup --wait` are both real dumps in the bucket, stored as
// catalogued, one Job for the plugin's request; the Stack's status and `kubectl canopy status`
// show them.
func TestScheduledAndPluginBackups(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "bk", withS3Backups(t, ns), func(s *canopyv1alpha1.Stack) {
		s.Spec.Frontend.Replicas = nil
		s.Spec.Backup.Schedule = "* * * * *"
	})
	waitReady(t, ns, "bk", appVersions[0])

	start := time.Now()
	out, err := kubectlCanopy(t, ns, "backup", "bk", "--wait", "--timeout", "4m")
	require.NoError(t, err, "kubectl canopy backup --wait")
	require.Contains(t, out, "catalogued", "the plugin follows the backup until the catalogue holds it")
	t.Logf("kubectl canopy backup --wait returned after %s", time.Since(start).Round(100*time.Millisecond))

	byTrigger := map[string]componentsv1alpha1.BackupRecord{}
	require.True(t, assertEventually(wait, time.Second, func() bool {
		bp := &componentsv1alpha1.BackupPolicy{}
		if c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bk"}, bp) != nil {
			return false
		}
		for _, b := range bp.Status.Backups {
			if b.SHA256 != "" {
				byTrigger[b.Trigger] = b
			}
		}
		return byTrigger["Annotation"].Name != "" && byTrigger["Scheduled"].Name != ""
	}), "a scheduled and an on-demand backup are catalogued (have %v)", byTrigger)
	for trigger, b := range byTrigger {
		requireStoredAsCatalogued(t, b)
		t.Logf("%s backup %s: %d bytes, stored as catalogued", trigger, b.Name, b.SizeBytes)
	}
	onDemand := 0
	jobs := &batchv1.JobList{}
	require.NoError(t, c.Client.List(ctx, jobs, client.InNamespace(ns)))
	for _, j := range jobs.Items {
		if j.Labels[backup.LabelTrigger] == "Annotation" {
			onDemand++
		}
	}
	require.Equal(t, 1, onDemand, "one Job for the plugin's request")
	require.True(t, assertEventually(wait, time.Second, func() bool { return stack(t, ns, "bk").Status.LastBackup != nil }),
		"the Stack reports its last backup")
	out, err = kubectlCanopy(t, ns, "status", "bk")
	require.NoError(t, err)
	for _, want := range []string{"CronJob bk-backup", "Backups (", byTrigger["Scheduled"].Name, byTrigger["Annotation"].Name} {
		require.Contains(t, out, want, "kubectl canopy status shows the schedule and the backups")
	}
}

// catalogued returns the BackupPolicy's record of the backup name.
func catalogued(t *testing.T, ns, policy, name string) componentsv1alpha1.BackupRecord {
	t.Helper()
	bp := &componentsv1alpha1.BackupPolicy{}
	require.NoError(t, c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: policy}, bp))
	for _, b := range bp.Status.Backups {
		if b.Name == name {
			return b
		}
	}
	require.Failf(t, "not catalogued", "backup %s is not in the catalogue of %s", name, policy)
	return componentsv1alpha1.BackupRecord{}
}

// theJob returns the one Job in ns that match selects.
func theJob(t *testing.T, ns string, match func(batchv1.Job) bool) batchv1.Job {
	t.Helper()
	jobs := &batchv1.JobList{}
	require.NoError(t, c.Client.List(context.Background(), jobs, client.InNamespace(ns)))
	var found []batchv1.Job
	for _, j := range jobs.Items {
		if match(j) {
			found = append(found, j)
		}
	}
	require.Len(t, found, 1)
	return found[0]
}

// kubectlCanopy runs the kubectl plugin (bin/real/kubectl-canopy, built by make real-tools) as
// the cluster's administrator would.
func kubectlCanopy(t *testing.T, ns string, args ...string) (string, error) {
	t.Helper()
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	var out, errb bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "bin", "real", "kubectl-canopy"),
		append([]string{"--kubeconfig", c.Kubeconfig, "-n", ns, "--color", "never"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Logf("kubectl canopy %v: %v\n%s", args, err, errb.String())
		return out.String(), err
	}
	return out.String(), nil
}
