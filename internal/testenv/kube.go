package testenv

import (
	"context"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// envtest runs no controller manager and no kubelet. These helpers play their part, writing what
// the StatefulSet, Deployment and Job controllers and the kubelet would, so that Canopy's
// controllers can be tested end to end on a real API server.

// RunStatefulSetPod creates the ready pod of a one-replica StatefulSet from its current template
// (with its claim as a volume) and marks the StatefulSet rolled out.
func (h *Harness) RunStatefulSetPod(stsName string) {
	h.T.Helper()
	ctx := context.Background()
	sts := &appsv1.StatefulSet{}
	require.NoError(h.T, h.Get(sts, stsName))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: stsName + "-0", Labels: sts.Spec.Template.Labels,
		Annotations: sts.Spec.Template.Annotations}, Spec: *sts.Spec.Template.Spec.DeepCopy()}
	for _, t := range sts.Spec.VolumeClaimTemplates {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: t.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: t.Name + "-" + pod.Name}}})
	}
	require.NoError(h.T, h.C.Create(ctx, pod))
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	require.NoError(h.T, h.C.Status().Update(ctx, pod))
	Mutate(h.T, h.C, h.Key(stsName), func() *appsv1.StatefulSet { return &appsv1.StatefulSet{} }, true, func(s *appsv1.StatefulSet) {
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			CurrentReplicas: 1, UpdatedReplicas: 1, CurrentRevision: "r", UpdateRevision: "r"}
	})
}

// RollOutDeployment marks a Deployment's current template fully rolled out and available.
func (h *Harness) RollOutDeployment(name string) {
	h.T.Helper()
	Mutate(h.T, h.C, h.Key(name), func() *appsv1.Deployment { return &appsv1.Deployment{} }, true, func(d *appsv1.Deployment) {
		r := int32(1)
		if d.Spec.Replicas != nil {
			r = *d.Spec.Replicas
		}
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}}
	})
}

// CompleteJob ends a Job successfully, its pod's container having written message as its
// termination message (what Canopy's agent reports).
func (h *Harness) CompleteJob(name, container, message string) {
	h.T.Helper()
	ctx := context.Background()
	job := &batchv1.Job{}
	require.NoError(h.T, h.Get(job, name))
	labels := map[string]string{"job-name": name}
	for k, v := range job.Spec.Template.Labels {
		labels[k] = v
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: name + "-done", Labels: labels}, Spec: *job.Spec.Template.Spec.DeepCopy()}
	require.NoError(h.T, h.C.Create(ctx, pod))
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: container, State: corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Message: message}}}}
	require.NoError(h.T, h.C.Status().Update(ctx, pod))
	now := metav1.Now()
	job.Status.StartTime, job.Status.CompletionTime, job.Status.Succeeded = &now, &now, 1
	job.Status.Conditions = []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	require.NoError(h.T, h.C.Status().Update(ctx, job))
}
