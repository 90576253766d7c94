// Package integrations detects the optional APIs Canopy uses when they are installed — cert-manager
// and the Prometheus operator — and lets controllers react when their CRDs appear or go, without a
// restart (detect.go, watch.go), and reports them in conditions. Canopy never installs them.
package integrations

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// Reason of an available integration.
const ReasonAvailable = "Available"

// SetCondition reports an optional integration on obj: absent when not requested, True when its API
// is installed, False with CRDNotInstalled when it is not.
func SetCondition(obj conditions.Object, condType string, requested, available bool, what string) {
	switch {
	case !requested:
		conditions.Remove(obj, condType)
	case available:
		conditions.Set(obj, condType, metav1.ConditionTrue, ReasonAvailable, "the "+what+" API is installed")
	default:
		conditions.Set(obj, condType, metav1.ConditionFalse, componentsv1alpha1.ReasonCRDNotInstalled,
			"the "+what+" CRDs are not installed; the objects are skipped and created once they are")
	}
}
