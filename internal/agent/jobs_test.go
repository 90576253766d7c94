package agent_test

// The backup pods come from the Job builder (internal/desired/backup); the restore pod is what a
// restore Job runs: the agent as an init container, then RestoreCommand in the database's image.

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/desired/backup"
)

const (
	dbSecret = "shop-db-credentials"
	s3Secret = "shop-backup-s3"
)

// policy is a BackupPolicy as the stack controller writes it (defaults applied by hand).
func policy(stack string, dest componentsv1alpha1.BackupDestination, retention componentsv1alpha1.RetentionPolicy) *componentsv1alpha1.BackupPolicy {
	return &componentsv1alpha1.BackupPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: stack + "-db", Namespace: "apps", UID: "0b1c2d3e-0000-4000-8000-000000000009",
			Labels: map[string]string{"canopy.dev/stack": stack}},
		Spec: componentsv1alpha1.BackupPolicySpec{
			DatabaseName: stack, StackName: stack, AppVersion: "2.3.1",
			Destination: dest, Retention: retention, TimeoutSeconds: 3600,
		},
	}
}

func volumeDestination() componentsv1alpha1.BackupDestination {
	return componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{
		Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}}
}

func s3Destination(ww *world, prefix string) componentsv1alpha1.BackupDestination {
	return componentsv1alpha1.BackupDestination{S3: &componentsv1alpha1.S3Destination{
		Endpoint: ww.s3.endpoint, Bucket: testBucket, Prefix: prefix, Region: "us-east-1",
		CredentialsSecret: corev1.LocalObjectReference{Name: s3Secret}, ForcePathStyle: ptr.To(true)}}
}

// backupInput is what the backup controller takes from the Database's status.
func backupInput() backup.Input {
	return backup.Input{AgentImage: "ghcr.io/canopy-dev/canopy:test", PostgresImage: "docker.io/library/postgres:15",
		CredentialsSecret: dbSecret, DatabaseVersion: "15"}
}

// testSecrets are the Secrets a backup or restore pod reads: the database's credentials for db and
// the S3 keys.
func testSecrets(ww *world, db, accessKey, secretKey string) secrets {
	return secrets{
		dbSecret: ww.pg.credentials(db),
		s3Secret: {agent.SecretKeyAccessKeyID: accessKey, agent.SecretKeySecretAccessKey: secretKey},
	}
}

// runBackupPod runs the pod of backup.BackupPod and returns the agent's Result with the run.
func runBackupPod(t *testing.T, ww *world, bp *componentsv1alpha1.BackupPolicy, name string, sec secrets, claims map[string]string) (agent.Result, podRun) {
	t.Helper()
	pod := backup.BackupPod(bp, backupInput(), name)
	run := runPod(t, ww, pod, sec, claims)
	dump := run.container("dump")
	require.NotNil(t, dump)
	require.Equal(t, 0, dump.exitCode, "pg_dump failed:\n%s", dump.output)
	return run.container("agent").result(t), run
}

// restorePod fetches backup name with the agent (as an init container, so that pg_restore only
// runs if it succeeded) and restores it with RestoreCommand into database, connecting with the
// credentials Secret. It reuses the backup pod's destination arguments, volumes and security
// settings, as a restore Job builder sharing the backup builder's code would.
func restorePod(t *testing.T, backupPod corev1.PodSpec, stack, name, database string) corev1.PodSpec {
	t.Helper()
	require.Len(t, backupPod.Containers, 1)
	fetch := *backupPod.Containers[0].DeepCopy()
	fetch.Name = "fetch"
	fetch.Args = []string{"agent", agent.OperationRestore,
		agent.FlagWorkDir + "=" + agent.WorkDir,
		agent.FlagStack + "=" + stack,
		agent.FlagName + "=" + name,
		agent.FlagTerminationLog + "=" + agent.TerminationLog,
	}
	for _, a := range backupPod.Containers[0].Args {
		if strings.HasPrefix(a, agent.FlagVolumePath+"=") || strings.HasPrefix(a, "--s3-") {
			fetch.Args = append(fetch.Args, a)
		}
	}
	dump := backupPod.InitContainers[0]
	restore := corev1.Container{
		Name:         "restore",
		Image:        dump.Image,
		Command:      agent.RestoreCommand(database),
		Env:          dump.Env, // PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD from the credentials Secret
		VolumeMounts: []corev1.VolumeMount{{Name: "work", MountPath: agent.WorkDir}, {Name: "tmp", MountPath: "/tmp"}},
	}
	pod := *backupPod.DeepCopy()
	pod.InitContainers = []corev1.Container{fetch}
	pod.Containers = []corev1.Container{restore}
	return pod
}
