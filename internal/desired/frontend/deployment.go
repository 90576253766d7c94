package frontend

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// Deployment runs the web tier at version (which the controller chooses: the spec's version, or the
// last good one during a migration or after a failed rollout). Rolling updates never take a pod
// away before its replacement is available.
func Deployment(fe *componentsv1alpha1.Frontend, version string) *appsv1.Deployment {
	podLabels := Labels(fe)
	podLabels[labelVersion] = common.VersionLabel(version)
	pod := corev1.PodSpec{
		Containers:                    []corev1.Container{appContainer(fe, version)},
		ImagePullSecrets:              fe.Spec.ImagePullSecrets,
		TerminationGracePeriodSeconds: ptr.To[int64](30),
	}
	mountDatabaseCA(fe, &pod)
	restrictedPod(fe, &pod)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(fe, Name(fe)),
		Spec: appsv1.DeploymentSpec{
			Replicas:                DesiredReplicas(fe),
			Selector:                &metav1.LabelSelector{MatchLabels: SelectorLabels(fe)},
			ProgressDeadlineSeconds: ptr.To(fe.Spec.ProgressDeadlineSeconds),
			RevisionHistoryLimit:    ptr.To[int32](5),
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromString("25%")),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: podAnnotations(fe, version)},
				Spec:       pod,
			},
		},
	}
}

// AnnotationCredentials rolls the pods when the database's credentials were rotated.
const AnnotationCredentials = "canopy.dev/credentials-revision" //nolint:gosec // G101: an annotation name, not a credential

func podAnnotations(fe *componentsv1alpha1.Frontend, version string) map[string]string {
	a := map[string]string{AnnotationVersion: version}
	if db := fe.Spec.Database; db != nil && db.CredentialsRevision != "" {
		a[AnnotationCredentials] = db.CredentialsRevision
	}
	return a
}
