package backup

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// TriggerPurge labels the Job that deletes every backup of a BackupPolicy being deleted with
// backupRetention: Delete.
const TriggerPurge = "purge"

// PurgeJobName is the one purge Job of a policy.
func PurgeJobName(bp *componentsv1alpha1.BackupPolicy) string { return bp.Name + "-purge" }

// PurgeJob deletes every backup of the policy's stack at its destination with `canopy agent
// purge`: the agent alone, with the destination's mount or credentials, no database access.
func PurgeJob(bp *componentsv1alpha1.BackupPolicy, in Input) *batchv1.Job {
	labels := Labels(bp)
	labels[LabelTrigger] = TriggerPurge
	meta := objectMeta(bp, PurgeJobName(bp))
	meta.Labels = labels
	pod := PurgePod(bp, in)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0), // a failure is reported; the user retries or skips it
			ActiveDeadlineSeconds: ptr.To(bp.Spec.TimeoutSeconds),
			Template:              corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		},
	}
}

// PurgePod is the purge Job's pod.
func PurgePod(bp *componentsv1alpha1.BackupPolicy, in Input) corev1.PodSpec {
	c := corev1.Container{
		Name:  "agent",
		Image: in.AgentImage,
		Args: common.LiteralArgs(append([]string{"agent", agent.OperationPurge,
			agent.FlagStack + "=" + stackName(bp),
			agent.FlagTerminationLog + "=" + agent.TerminationLog,
		}, destinationArgs(bp.Spec.Destination)...)),
		TerminationMessagePath:   agent.TerminationLog,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		Resources:                common.AgentResources(nil),
	}
	volumes := destinationAccess(bp, &c)
	pod := corev1.PodSpec{Containers: []corev1.Container{c}, Volumes: volumes, RestartPolicy: corev1.RestartPolicyNever}
	common.RestrictPod(&pod, ptr.To[int64](999))
	return pod
}
