// Package common holds what every builder of desired objects shares: label keys, owner references
// and the restricted Pod Security settings.
package common

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
)

// Standard label keys. Every object Canopy creates carries LabelManagedBy=ManagedBy, which is also
// the manager's cache selector for the built-in kinds.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelVersion   = "app.kubernetes.io/version"
	// LabelStack names the owning Stack; the database's NetworkPolicy selects clients with it.
	LabelStack = "canopy.dev/stack"

	ManagedBy = "canopy"
)

// VersionLabel is the value of LabelVersion for an application version. A version is an image tag,
// which may start with '_', end with '.' or '-' and run to 128 characters; a label value may not:
// such a version is cut to 63 characters and trimmed to letters and digits at both ends. The label
// only describes; the exact version is kept in annotations.
func VersionLabel(version string) string {
	if len(validation.IsValidLabelValue(version)) == 0 {
		return version
	}
	if len(version) > validation.LabelValueMaxLength {
		version = version[:validation.LabelValueMaxLength]
	}
	notAlnum := func(r rune) bool { return r < '0' || (r > '9' && r < 'A') || (r > 'Z' && r < 'a') || r > 'z' }
	return strings.TrimFunc(version, notAlnum)
}

// ManagerPodLabels are the labels of the manager's pod (config/manager) that the databases'
// NetworkPolicies admit it by. They are Canopy's own: under OLM the install namespace is shared
// with other operators, most of which label their managers control-plane: controller-manager.
func ManagerPodLabels() map[string]string {
	return map[string]string{LabelName: "canopy", LabelComponent: "manager"}
}

// ControllerRef makes owner the controller of the object it is set on, so the object is garbage
// collected with its owner.
func ControllerRef(apiVersion, kind string, owner metav1.Object) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(),
		Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
	}
}

// StackName is the Stack an internal object belongs to (its label), or the object's own name.
func StackName(obj metav1.Object) string {
	if s := obj.GetLabels()[LabelStack]; s != "" {
		return s
	}
	return obj.GetName()
}

// RestrictPod applies the restricted Pod Security Standard to a pod spec: non-root, the runtime's
// seccomp profile, no service account token, and for every container no privilege escalation, all
// capabilities dropped and a read-only root filesystem with a writable /tmp. uid, when set, is the
// user (and group, and fsGroup) the image expects.
func RestrictPod(spec *corev1.PodSpec, uid *int64) {
	spec.AutomountServiceAccountToken = ptr.To(false)
	spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if uid != nil {
		spec.SecurityContext.RunAsUser = ptr.To(*uid)
		spec.SecurityContext.RunAsGroup = ptr.To(*uid)
		spec.SecurityContext.FSGroup = ptr.To(*uid)
		spec.SecurityContext.FSGroupChangePolicy = ptr.To(corev1.FSGroupChangeOnRootMismatch)
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	for i := range spec.Containers {
		c := &spec.Containers[i]
		c.SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
	}
}

// RestrictContainers applies the container part of the restricted standard to containers that
// RestrictPod did not see (init containers), with the writable /tmp it mounts.
func RestrictContainers(cs []corev1.Container) {
	for i := range cs {
		c := &cs[i]
		c.SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
	}
}
