package backup

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/golden"
	"github.com/canopy-dev/canopy/internal/podsecurity"
)

func policy(dest componentsv1alpha1.BackupDestination) *componentsv1alpha1.BackupPolicy {
	return &componentsv1alpha1.BackupPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "apps", UID: "0b1c2d3e-0000-4000-8000-000000000004",
			Labels: map[string]string{"canopy.dev/stack": "shop"}},
		Spec: componentsv1alpha1.BackupPolicySpec{
			DatabaseName: "shop", StackName: "shop", AppVersion: "1.4.2", Schedule: "0 2 * * *", TimeZone: ptr.To("Europe/Paris"),
			Destination: dest, Retention: componentsv1alpha1.RetentionPolicy{KeepLast: ptr.To[int32](7), MaxAge: "720h"},
			ProtectedBackups:           []string{"shop-20251130-020000"},
			SuccessfulJobsHistoryLimit: ptr.To[int32](3), FailedJobsHistoryLimit: ptr.To[int32](3), TimeoutSeconds: 3600,
		},
	}
}

var (
	volume = componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{
		Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("10Gi")}}}
	s3 = componentsv1alpha1.BackupDestination{S3: &componentsv1alpha1.S3Destination{Endpoint: "https://s3.eu-west-3.amazonaws.com",
		Bucket: "acme-backups", Prefix: "prod", Region: "eu-west-3", CredentialsSecret: corev1.LocalObjectReference{Name: "s3-creds"}}}
	in = Input{AgentImage: "ghcr.io/canopy-dev/canopy:v0.1.0", PostgresImage: "docker.io/library/postgres:17.2",
		CredentialsSecret: "shop-db-credentials", DatabaseVersion: "17.2"}
)

func TestGoldens(t *testing.T) {
	v, s := policy(volume), policy(s3)
	v.Spec.ScratchSize = ptr.To(resource.MustParse("5Gi")) // as the Stack sets it; s3's is unset: no limit
	golden.YAML(t, "volume", VolumeClaim(v), CronJob(v, in), BackupJob(v, in, JobName(v, TriggerRequest, "pre-upgrade-g4"), TriggerRequest, "pre-upgrade-g4"))
	golden.YAML(t, "s3", CronJob(s, in), BackupJob(s, in, JobName(s, TriggerAnnotation, "1764158400"), TriggerAnnotation, "1764158400"))
}

// TestEncryptedBackups: an encrypted destination gives the agent the key id to encrypt with and
// the encryption Secret as a read-only volume (mode 0440, the pod's fsGroup reads it); the key
// is never an environment variable or an argument. The purge, which reads no dump, gets no key.
func TestEncryptedBackups(t *testing.T) {
	enc := *s3.DeepCopy()
	enc.Encryption = &componentsv1alpha1.BackupEncryption{KeySecret: corev1.LocalObjectReference{Name: "shop-backup-keys"}, KeyID: "2026-02"}
	bp := policy(enc)
	golden.YAML(t, "encrypted", CronJob(bp, in), BackupJob(bp, in, JobName(bp, TriggerAnnotation, "1764158400"), TriggerAnnotation, "1764158400"))
	for _, pod := range []corev1.PodSpec{BackupPod(bp, in, "x"), CronJob(bp, in).Spec.JobTemplate.Spec.Template.Spec} {
		require.NoError(t, podsecurity.CheckRestricted(&metav1.ObjectMeta{}, &pod))
		agentC := pod.Containers[0]
		require.Subset(t, agentC.Args, []string{"--encryption-key-dir=/etc/canopy/backup-keys", "--encryption-key-id=2026-02"})
		require.Contains(t, agentC.VolumeMounts, corev1.VolumeMount{Name: "encryption-keys", MountPath: "/etc/canopy/backup-keys", ReadOnly: true})
		for _, c := range append(pod.InitContainers, pod.Containers...) {
			for _, e := range c.Env {
				require.False(t, e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == "shop-backup-keys",
					"%s: keys are files, never env", c.Name)
			}
			if c.Name != "agent" {
				for _, m := range c.VolumeMounts {
					require.NotEqual(t, "encryption-keys", m.Name, "only the agent sees the keys")
				}
			}
		}
	}
	purge := PurgePod(bp, in)
	require.Len(t, purge.Volumes, 1, "only /tmp: the purge needs no key")
	require.NotContains(t, strings.Join(purge.Containers[0].Args, " "), "encryption")
	require.NotContains(t, strings.Join(BackupPod(policy(s3), in, "x").Containers[0].Args, " "), "encryption", "unencrypted by default")
}

func TestBackupPodsAreRestricted(t *testing.T) {
	for _, bp := range []*componentsv1alpha1.BackupPolicy{policy(volume), policy(s3)} {
		pod := BackupPod(bp, in, "x")
		require.NoError(t, podsecurity.CheckRestricted(&metav1.ObjectMeta{}, &pod))
	}
}

func TestClaimAndSchedule(t *testing.T) {
	bp := policy(volume)
	require.Empty(t, VolumeClaim(bp).OwnerReferences, "the backup volume must outlive its policy")
	require.Equal(t, "shop-backups", ClaimName(bp))
	named := policy(componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{ClaimName: "mine"}})
	require.Nil(t, VolumeClaim(named), "a named claim is the user's")
	require.Equal(t, "mine", ClaimName(named))
	require.Nil(t, VolumeClaim(policy(s3)))

	bp.Spec.Schedule = ""
	require.Nil(t, CronJob(bp, in), "no schedule: on-demand backups only")
	cj := CronJob(policy(volume), in)
	require.Equal(t, "Forbid", string(cj.Spec.ConcurrencyPolicy))
	require.Equal(t, "Europe/Paris", *cj.Spec.TimeZone)
}

func TestJobNamesAreStablePerRequest(t *testing.T) {
	bp := policy(volume)
	require.Equal(t, JobName(bp, TriggerRequest, "a"), JobName(bp, TriggerRequest, "a"))
	require.NotEqual(t, JobName(bp, TriggerRequest, "a"), JobName(bp, TriggerRequest, "b"))
	require.NotEqual(t, JobName(bp, TriggerRequest, "a"), JobName(bp, TriggerAnnotation, "a"))
	require.LessOrEqual(t, len(JobName(bp, TriggerAnnotation, "x")), 63)
}

// TestHoldAndProtectedBackups: a held policy suspends its CronJob; every backup that applies
// retention (scheduled, annotation) tells the agent which backups to keep, and requested backups,
// which apply no retention, need not.
func TestHoldAndProtectedBackups(t *testing.T) {
	bp := policy(volume)
	require.False(t, *CronJob(bp, in).Spec.Suspend)
	bp.Spec.Hold = &componentsv1alpha1.BackupHold{Reason: "DatabaseUpgrading", Message: "upgrading PostgreSQL from 16 to 17"}
	bp.Spec.ProtectedBackups = []string{"shop-pre-upgrade", "shop-20260101-020000"}
	cj := CronJob(bp, in)
	require.True(t, *cj.Spec.Suspend, "no scheduled run while held")
	keep := []string{"--keep=shop-pre-upgrade", "--keep=shop-20260101-020000"}
	require.Subset(t, cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, keep)
	now := BackupJob(bp, in, JobName(bp, TriggerAnnotation, "1"), TriggerAnnotation, "1")
	require.Subset(t, now.Spec.Template.Spec.Containers[0].Args, append(keep, "--keep-last=7"))
	req := BackupJob(bp, in, JobName(bp, TriggerRequest, "r"), TriggerRequest, "r")
	for _, a := range req.Spec.Template.Spec.Containers[0].Args {
		require.NotContains(t, a, "--keep", "a requested backup applies no retention")
	}
	bp.Spec.Hold = nil
	require.False(t, *CronJob(bp, in).Spec.Suspend, "the schedule resumes with the hold lifted")
}

// TestScratchSpaceIsBounded: the dump's emptyDir has the policy's scratch size as its limit, and
// the container that writes it requests that much ephemeral storage; every container has requests
// and a memory limit.
func TestScratchSpaceIsBounded(t *testing.T) {
	bp := policy(volume)
	bp.Spec.ScratchSize = ptr.To(resource.MustParse("5Gi"))
	for _, pod := range []corev1.PodSpec{BackupPod(bp, in, "shop-1"), CronJob(bp, in).Spec.JobTemplate.Spec.Template.Spec} {
		var work *corev1.Volume
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == "work" {
				work = &pod.Volumes[i]
			}
		}
		require.NotNil(t, work)
		require.Equal(t, "5Gi", work.EmptyDir.SizeLimit.String())
		dump := pod.InitContainers[0]
		require.Equal(t, "5Gi", ptr.To(dump.Resources.Requests[corev1.ResourceEphemeralStorage]).String())
		for _, c := range append(pod.InitContainers, pod.Containers...) {
			require.NotEmpty(t, c.Resources.Requests, "%s has requests", c.Name)
			require.False(t, ptr.To(c.Resources.Limits[corev1.ResourceMemory]).IsZero(), "%s has a memory limit", c.Name)
		}
	}
	purge := PurgePod(bp, in).Containers[0]
	require.False(t, ptr.To(purge.Resources.Limits[corev1.ResourceMemory]).IsZero())
}
