package database

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// RestoreInput is what a restore Job needs besides the Database.
type RestoreInput struct {
	// AgentImage is Canopy's own image.
	AgentImage string
	// PostgresImage is the database's image, so that pg_restore matches the server.
	PostgresImage string
	// Source is the backup to restore.
	Source componentsv1alpha1.BackupSource
}

// LabelRestore marks restore Jobs and their pods.
const LabelRestore = "canopy.dev/restore"

// RestoreJobName is deterministic per request: a retry or a restart finds the Job it created.
func RestoreJobName(db *componentsv1alpha1.Database, id string) string {
	sum := sha256.Sum256([]byte(id))
	return db.Name + "-restore-" + hex.EncodeToString(sum[:4])
}

// BackupClaimName is the volume a volume destination names, or the one Canopy creates for the
// backups of stack.
func BackupClaimName(d componentsv1alpha1.BackupDestination, stack string) string {
	if v := d.Volume; v != nil && v.ClaimName != "" {
		return v.ClaimName
	}
	return stack + "-backups"
}

// RestoreJob fetches and verifies a backup with the agent (an init container: the restore does not
// start unless the checksum matches the manifest), then loads it with pg_restore, in one
// transaction, into the application's database as the application's user.
func RestoreJob(db *componentsv1alpha1.Database, in RestoreInput, id string) *batchv1.Job {
	// Backups are stored under "<namespace>.<stack>"; a bare Stack name means this namespace.
	stack := in.Source.Stack
	if stack == "" {
		stack = common.StackName(db)
	}
	key := stack
	if !strings.Contains(stack, ".") {
		key = db.Namespace + "." + stack
	}
	work := corev1.VolumeMount{Name: "work", MountPath: agent.WorkDir}
	fetch := corev1.Container{
		Name:  "fetch",
		Image: in.AgentImage,
		Args: common.LiteralArgs(append([]string{"agent", agent.OperationRestore,
			agent.FlagWorkDir + "=" + agent.WorkDir,
			agent.FlagName + "=" + in.Source.BackupName,
			agent.FlagStack + "=" + key,
			agent.FlagTerminationLog + "=" + agent.TerminationLog,
		}, destinationFlags(in.Source.Destination)...)),
		VolumeMounts:             []corev1.VolumeMount{work},
		TerminationMessagePath:   agent.TerminationLog,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		// It writes the dump: as large as the database's volume at most.
		Resources: common.AgentResources(&db.Spec.Storage.Size),
	}
	volumes := []corev1.Volume{common.ScratchVolume("work", &db.Spec.Storage.Size)}
	if s := in.Source.Destination.S3; s != nil {
		fetch.Env = []corev1.EnvVar{
			secretEnv(agent.EnvAccessKeyID, s.CredentialsSecret.Name, agent.SecretKeyAccessKeyID),
			secretEnv(agent.EnvSecretAccessKey, s.CredentialsSecret.Name, agent.SecretKeySecretAccessKey),
		}
	} else {
		fetch.VolumeMounts = append(fetch.VolumeMounts, corev1.VolumeMount{Name: "backups", MountPath: agent.VolumeMount, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "backups",
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: BackupClaimName(in.Source.Destination, stack), ReadOnly: true}}})
	}
	// An encrypted backup is decrypted with the key its manifest names, from the Secret.
	volumes = append(volumes, common.EncryptionKeys(in.Source.Destination.Encryption, &fetch)...)
	load := corev1.Container{
		Name:    "restore",
		Image:   in.PostgresImage,
		Command: agent.RestoreCommand(""),
		// pg_restore's own error is the termination message when it fails.
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		Env: []corev1.EnvVar{
			secretEnv("PGHOST", CredentialsName(db), "host"),
			secretEnv("PGPORT", CredentialsName(db), "port"),
			secretEnv("PGDATABASE", CredentialsName(db), "dbname"),
			secretEnv("PGUSER", CredentialsName(db), "user"),
			secretEnv("PGPASSWORD", CredentialsName(db), "password"),
		},
		VolumeMounts: []corev1.VolumeMount{work},
		Resources:    common.PGToolResources(nil),
	}
	pod := corev1.PodSpec{InitContainers: []corev1.Container{fetch}, Containers: []corev1.Container{load}, Volumes: volumes,
		RestartPolicy: corev1.RestartPolicyNever}
	common.RestrictPod(&pod, ptr.To(PostgresUID))
	common.RestrictContainers(pod.InitContainers)

	labels := Labels(db)
	labels[common.LabelComponent] = "backup" // the database's NetworkPolicy admits backup and restore pods
	labels[LabelRestore] = db.Name
	meta := objectMeta(db, RestoreJobName(db, id))
	meta.Labels = labels
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To[int64](6 * 60 * 60),
			Template:              corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
}

// destinationFlags tell the agent where the backup is.
func destinationFlags(d componentsv1alpha1.BackupDestination) []string {
	if s := d.S3; s != nil {
		return []string{agent.FlagS3Endpoint + "=" + s.Endpoint, agent.FlagS3Bucket + "=" + s.Bucket, agent.FlagS3Prefix + "=" + s.Prefix,
			agent.FlagS3Region + "=" + s.Region, agent.FlagS3PathStyle + "=" + boolString(s.PathStyle())}
	}
	return []string{agent.FlagVolumePath + "=" + agent.VolumeMount}
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
