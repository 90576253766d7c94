// Package frontend computes, from a Frontend alone, the objects of a web tier: Deployment,
// Service, Ingress and its Certificate, HorizontalPodAutoscaler, PodDisruptionBudget,
// ServiceMonitor and the migration Job. The functions are pure and tested with golden files.
package frontend

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// Label keys, shared with the other builders.
const (
	labelName      = common.LabelName
	labelInstance  = common.LabelInstance
	labelComponent = common.LabelComponent
	labelManagedBy = common.LabelManagedBy
	labelVersion   = common.LabelVersion
	labelStack     = common.LabelStack

	// LabelMigration marks migration Jobs and their pods.
	LabelMigration = "canopy.dev/migration"

	// AnnotationVersion records on the Deployment's pod template the application version it runs.
	AnnotationVersion = "canopy.dev/version"
)

// Name of the Deployment, Service, Ingress, HPA, PDB and ServiceMonitor of a Frontend.
func Name(fe *componentsv1alpha1.Frontend) string { return fe.Name + "-web" }

// TLSSecretName holds the ingress certificate.
func TLSSecretName(fe *componentsv1alpha1.Frontend) string { return fe.Name + "-web-tls" }

// MigrationJobName is deterministic per version, so that one version's migration runs once however
// often the controller reconciles or restarts.
func MigrationJobName(fe *componentsv1alpha1.Frontend, version string) string {
	sum := sha256.Sum256([]byte(version))
	tag := strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, strings.ToLower(version))
	// A Job's name is also a label value of its pods: at most 63 characters, of which the hash
	// takes 7; the tag only helps a reader and gives way.
	budget := min(20, validation.LabelValueMaxLength-len(fe.Name+"-migrate-")-7)
	if len(tag) > budget {
		tag = tag[:max(budget, 0)]
	}
	return strings.Trim(fe.Name+"-migrate-"+strings.Trim(tag, "-"), "-") + "-" + hex.EncodeToString(sum[:3])
}

func stackName(fe *componentsv1alpha1.Frontend) string { return common.StackName(fe) }

// SelectorLabels select the web tier's pods; they never change for a given Frontend.
func SelectorLabels(fe *componentsv1alpha1.Frontend) map[string]string {
	return map[string]string{labelName: Name(fe), labelComponent: "frontend"}
}

// Labels of every object built for a Frontend.
func Labels(fe *componentsv1alpha1.Frontend) map[string]string {
	return map[string]string{
		labelName:      Name(fe),
		labelInstance:  stackName(fe),
		labelComponent: "frontend",
		labelManagedBy: "canopy",
		labelStack:     stackName(fe),
	}
}

func objectMeta(fe *componentsv1alpha1.Frontend, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       fe.Namespace,
		Labels:          Labels(fe),
		OwnerReferences: []metav1.OwnerReference{common.ControllerRef(componentsv1alpha1.GroupVersion.String(), "Frontend", fe)},
	}
}

// ImageRef is the image a version runs: repository:version, or the pinned digest as it is.
func ImageRef(image, version string) string {
	if strings.Contains(image, "@sha256:") {
		return image
	}
	return image + ":" + version
}

// DefaultReplicas run when neither replicas nor autoscaling is set.
const DefaultReplicas int32 = 2

// DesiredReplicas is the replica count the Deployment gets, or nil when the autoscaler owns it.
func DesiredReplicas(fe *componentsv1alpha1.Frontend) *int32 {
	switch {
	case fe.Spec.Stopped:
		return ptr.To[int32](0)
	case fe.Spec.Autoscaling != nil:
		return nil
	case fe.Spec.Replicas != nil:
		return ptr.To(*fe.Spec.Replicas)
	}
	return ptr.To(DefaultReplicas)
}
