// Package backup computes, from a BackupPolicy and what the Database reports, the objects that take
// backups: the backup volume claim, the CronJob of scheduled backups and the Job of one on-demand
// backup. A backup pod runs PostgreSQL's own pg_dump (from the database's image, so the versions
// match) into a shared emptyDir, then the agent (Canopy's own image) checksums and stores it.
package backup

import (
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// Labels and annotations of backup objects.
const (
	// LabelPolicy names the BackupPolicy a Job belongs to.
	LabelPolicy = "canopy.dev/backup-policy"
	// LabelTrigger says what started a backup Job: Scheduled, Request or Annotation.
	LabelTrigger = "canopy.dev/backup-trigger"
	// AnnotationRequest records the request token (spec.backupRequest or the annotation's value).
	AnnotationRequest = "canopy.dev/backup-request"

	TriggerScheduled  = "Scheduled"
	TriggerRequest    = "Request"
	TriggerAnnotation = "Annotation"
)

// Input is what a backup pod needs besides the BackupPolicy, taken from the Database's status and
// the operator.
type Input struct {
	// AgentImage is Canopy's own image (the manager's).
	AgentImage string
	// PostgresImage is the database's image, so that pg_dump matches the server.
	PostgresImage string
	// CredentialsSecret is the database's credentials Secret (host, port, dbname, user, password).
	CredentialsSecret string
	// DatabaseVersion is recorded in each backup's manifest.
	DatabaseVersion string
}

// Name of the CronJob and prefix of the Jobs.
func Name(bp *componentsv1alpha1.BackupPolicy) string { return bp.Name + "-backup" }

// ClaimName is the volume Canopy creates when the destination names none.
func ClaimName(bp *componentsv1alpha1.BackupPolicy) string {
	if v := bp.Spec.Destination.Volume; v != nil && v.ClaimName != "" {
		return v.ClaimName
	}
	return bp.Name + "-backups"
}

// Labels of every object built for a BackupPolicy; backup pods carry them too, which is how the
// database's NetworkPolicy admits them.
func Labels(bp *componentsv1alpha1.BackupPolicy) map[string]string {
	return map[string]string{
		common.LabelName:      Name(bp),
		common.LabelInstance:  common.StackName(bp),
		common.LabelComponent: "backup",
		common.LabelManagedBy: common.ManagedBy,
		common.LabelStack:     common.StackName(bp),
		LabelPolicy:           bp.Name,
	}
}

func objectMeta(bp *componentsv1alpha1.BackupPolicy, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name, Namespace: bp.Namespace, Labels: Labels(bp),
		OwnerReferences: []metav1.OwnerReference{common.ControllerRef(componentsv1alpha1.GroupVersion.String(), "BackupPolicy", bp)},
	}
}

// StorageKey is the folder of a Stack's backups at the destination: "<namespace>.<stack>", so that
// Stacks of the same name in other namespaces (staging and production sharing a bucket) never see,
// let alone delete, each other's backups.
func StorageKey(namespace, stack string) string { return namespace + "." + stack }

func stackName(bp *componentsv1alpha1.BackupPolicy) string {
	stack := bp.Spec.StackName
	if stack == "" {
		stack = bp.Name
	}
	return StorageKey(bp.Namespace, stack)
}

func fromSecret(env, secret, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: env, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}}}
}

// DumpCommand is pg_dump in custom format into the shared folder; the connection comes from the
// standard PG* variables.
func DumpCommand() []string {
	return []string{"pg_dump", "--format=custom", "--no-password", "--file=" + agent.WorkDir + "/" + agent.DumpFile}
}

// agentArgs are the arguments of "canopy agent backup"; name is empty for scheduled runs, where the
// agent names the backup after the time it starts. retention is false for requested backups (before
// an upgrade, before a restore): they must not delete the backup a restore is about to read. When
// retention applies, it spares the policy's protected backups (--keep).
func agentArgs(bp *componentsv1alpha1.BackupPolicy, in Input, name string, retention bool) []string {
	args := []string{"agent", agent.OperationBackup,
		agent.FlagWorkDir + "=" + agent.WorkDir,
		agent.FlagStack + "=" + stackName(bp),
		agent.FlagDatabaseVersion + "=" + in.DatabaseVersion,
		agent.FlagAppVersion + "=" + bp.Spec.AppVersion,
		agent.FlagTerminationLog + "=" + agent.TerminationLog,
	}
	if name != "" {
		args = append(args, agent.FlagName+"="+name)
	}
	if r := bp.Spec.Retention; retention && r.KeepLast != nil {
		args = append(args, agent.FlagKeepLast+"="+strconv.Itoa(int(*r.KeepLast)))
	}
	if retention && bp.Spec.Retention.MaxAge != "" {
		args = append(args, agent.FlagMaxAge+"="+bp.Spec.Retention.MaxAge)
	}
	if retention {
		for _, name := range bp.Spec.ProtectedBackups {
			args = append(args, agent.FlagKeep+"="+name)
		}
	}
	return append(args, destinationArgs(bp.Spec.Destination)...)
}

// destinationArgs say where the agent stores or fetches backups.
func destinationArgs(d componentsv1alpha1.BackupDestination) []string {
	if s := d.S3; s != nil {
		return []string{
			agent.FlagS3Endpoint + "=" + s.Endpoint,
			agent.FlagS3Bucket + "=" + s.Bucket,
			agent.FlagS3Prefix + "=" + s.Prefix,
			agent.FlagS3Region + "=" + s.Region,
			agent.FlagS3PathStyle + "=" + strconv.FormatBool(s.PathStyle()),
		}
	}
	return []string{agent.FlagVolumePath + "=" + agent.VolumeMount}
}

// destinationAccess gives the agent container c what it needs to reach the policy's destination:
// the S3 credentials from their Secret, or the backup volume mounted; it returns the pod volumes
// to add.
func destinationAccess(bp *componentsv1alpha1.BackupPolicy, c *corev1.Container) []corev1.Volume {
	if s := bp.Spec.Destination.S3; s != nil {
		c.Env = append(c.Env,
			fromSecret(agent.EnvAccessKeyID, s.CredentialsSecret.Name, agent.SecretKeyAccessKeyID),
			fromSecret(agent.EnvSecretAccessKey, s.CredentialsSecret.Name, agent.SecretKeySecretAccessKey))
		return nil
	}
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "backups", MountPath: agent.VolumeMount})
	return []corev1.Volume{{Name: "backups", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(bp)}}}}
}

// BackupPod is the pod of one backup: pg_dump as an init container, then the agent. Scheduled and
// annotation-requested backups apply the retention policy; spec.backupRequest ones do not.
func BackupPod(bp *componentsv1alpha1.BackupPolicy, in Input, name string) corev1.PodSpec {
	return backupPod(bp, in, name, true)
}

func backupPod(bp *componentsv1alpha1.BackupPolicy, in Input, name string, retention bool) corev1.PodSpec {
	work := corev1.VolumeMount{Name: "work", MountPath: agent.WorkDir}
	dump := corev1.Container{
		Name:    "dump",
		Image:   in.PostgresImage,
		Command: DumpCommand(),
		Env: []corev1.EnvVar{
			fromSecret("PGHOST", in.CredentialsSecret, "host"),
			fromSecret("PGPORT", in.CredentialsSecret, "port"),
			fromSecret("PGDATABASE", in.CredentialsSecret, "dbname"),
			fromSecret("PGUSER", in.CredentialsSecret, "user"),
			fromSecret("PGPASSWORD", in.CredentialsSecret, "password"),
		},
		VolumeMounts: []corev1.VolumeMount{work},
		Resources:    common.PGToolResources(bp.Spec.ScratchSize), // it writes the dump
	}
	store := corev1.Container{
		Name:                     "agent",
		Image:                    in.AgentImage,
		Args:                     common.LiteralArgs(agentArgs(bp, in, name, retention)),
		VolumeMounts:             []corev1.VolumeMount{work},
		TerminationMessagePath:   agent.TerminationLog,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		Resources:                common.AgentResources(nil),
	}
	volumes := append([]corev1.Volume{common.ScratchVolume("work", bp.Spec.ScratchSize)}, destinationAccess(bp, &store)...)
	if enc := bp.Spec.Destination.Encryption; enc != nil {
		// The key encrypts new backups; the folder holds it (and the older keys, unused here).
		volumes = append(volumes, common.EncryptionKeys(enc, &store)...)
		store.Args = append(store.Args, agent.FlagEncryptionKeyID+"="+enc.KeyID)
	}
	pod := corev1.PodSpec{
		InitContainers: []corev1.Container{dump},
		Containers:     []corev1.Container{store},
		Volumes:        volumes,
		RestartPolicy:  corev1.RestartPolicyNever,
	}
	// Both images run as their own non-root user; the init container is restricted too.
	common.RestrictPod(&pod, ptr.To[int64](999))
	common.RestrictContainers(pod.InitContainers)
	return pod
}

func jobSpec(bp *componentsv1alpha1.BackupPolicy, in Input, name string, labels map[string]string, retention bool) batchv1.JobSpec {
	return batchv1.JobSpec{
		// One attempt: a failed backup is reported, and the next one is the schedule's or a new
		// request's, never a silent retry.
		BackoffLimit:          ptr.To[int32](0),
		ActiveDeadlineSeconds: ptr.To(bp.Spec.TimeoutSeconds),
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       backupPod(bp, in, name, retention),
		},
	}
}

// BackupJob takes one on-demand backup called name, for the given trigger and request token.
func BackupJob(bp *componentsv1alpha1.BackupPolicy, in Input, name, trigger, request string) *batchv1.Job {
	labels := Labels(bp)
	labels[LabelTrigger] = trigger
	meta := objectMeta(bp, name)
	meta.Labels = labels
	meta.Annotations = map[string]string{AnnotationRequest: request}
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec:       jobSpec(bp, in, name, labels, trigger != TriggerRequest),
	}
}

// Suspended reports whether scheduled backups wait: suspended by the user, or held while a data
// operation runs.
func Suspended(bp *componentsv1alpha1.BackupPolicy) bool {
	return bp.Spec.Suspend || bp.Spec.Hold != nil
}

// CronJob takes the scheduled backups; nil without a schedule. It is suspended while the policy is
// (see Suspended): a run that falls due meanwhile is started by the CronJob controller once it is
// resumed.
func CronJob(bp *componentsv1alpha1.BackupPolicy, in Input) *batchv1.CronJob {
	if bp.Spec.Schedule == "" {
		return nil
	}
	labels := Labels(bp)
	labels[LabelTrigger] = TriggerScheduled
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: objectMeta(bp, Name(bp)),
		Spec: batchv1.CronJobSpec{
			Schedule:                   string(bp.Spec.Schedule),
			TimeZone:                   bp.Spec.TimeZone,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			Suspend:                    ptr.To(Suspended(bp)),
			SuccessfulJobsHistoryLimit: bp.Spec.SuccessfulJobsHistoryLimit,
			FailedJobsHistoryLimit:     bp.Spec.FailedJobsHistoryLimit,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       jobSpec(bp, in, "", labels, true),
			},
		},
	}
}

// VolumeClaim is the backup volume Canopy creates; nil for S3 or a claim the user named.
func VolumeClaim(bp *componentsv1alpha1.BackupPolicy) *corev1.PersistentVolumeClaim {
	v := bp.Spec.Destination.Volume
	if v == nil || v.ClaimName != "" {
		return nil
	}
	// No owner reference: the claim holds the backups and must outlive its BackupPolicy, whatever
	// happens to it; only an explicit request deletes backups.
	meta := objectMeta(bp, ClaimName(bp))
	meta.OwnerReferences = nil
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: meta,
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: v.Storage.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: v.Storage.Size}},
		},
	}
}

// JobName of an on-demand backup: deterministic per request, so that a retry or a restart of the
// controller finds the Job it created instead of starting a second backup.
func JobName(bp *componentsv1alpha1.BackupPolicy, trigger, request string) string {
	return fmt.Sprintf("%s-%s-%s", bp.Name, map[string]string{TriggerRequest: "req", TriggerAnnotation: "now"}[trigger], shortHash(request))
}
