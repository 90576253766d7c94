package mgroptions

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	toolscache "k8s.io/client-go/tools/cache"
)

// The cache holds every object Canopy owns, decoded, for as long as the manager runs; at 500
// Stacks the managed fields (bytes the API server keeps per field manager) were the largest part of
// the heap and Pods' specs the next (make bench). A transform trims each object before it is
// stored, so only what a controller reads is kept. Canopy never writes an object read from the
// cache back whole (it applies objects built from the spec), so nothing trimmed can be lost.

// stripManagedFields drops managed fields: no controller reads them, except on Deployments.
func stripManagedFields(in any) (any, error) {
	// Only when set, as controller-runtime's own TransformStripManagedFields (kubernetes#124337).
	if obj, err := meta.Accessor(in); err == nil && obj.GetManagedFields() != nil {
		obj.SetManagedFields(nil)
	}
	return in, nil
}

// keepDeployment keeps a Deployment's managed fields: the frontend controller reads them to learn
// whether its apply still owns spec.replicas before an autoscaler takes them over.
func keepDeployment(in any) (any, error) { return in, nil }

// slimPod keeps of a Pod what the controllers read: its metadata (labels, annotations, owner,
// deletion), the names and images of its containers, the claims it mounts, and its status. A
// PostgreSQL pod's spec (environment, probes, security context, mounts) is most of its size.
func slimPod(in any) (any, error) {
	pod, ok := in.(*corev1.Pod)
	if !ok {
		return stripManagedFields(in)
	}
	pod.ManagedFields = nil
	spec := corev1.PodSpec{NodeName: pod.Spec.NodeName}
	for _, c := range pod.Spec.Containers {
		spec.Containers = append(spec.Containers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: v.Name,
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: v.PersistentVolumeClaim}})
		}
	}
	pod.Spec = spec
	return pod, nil
}

// Transform returns the cache transform of a kind Canopy caches by label (exported for the tests
// that prove a controller still reads, from a trimmed object, what it read from the whole one).
func Transform(obj any) toolscache.TransformFunc {
	switch obj.(type) {
	case *appsv1.Deployment:
		return keepDeployment
	case *corev1.Pod:
		return slimPod
	default:
		return stripManagedFields
	}
}
