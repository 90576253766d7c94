package frontend

import (
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// notImplementedMessage says honestly why the Frontend never becomes Ready in this release.
const notImplementedMessage = "Canopy does not yet run web tiers: the frontend controller is not implemented in this release"

// computeStatus sets the status the controller can truthfully report: not Ready, and stalled
// because nothing in this release acts on the spec.
func computeStatus(obj *componentsv1alpha1.Frontend) {
	conditions.MarkStalled(obj, componentsv1alpha1.ReasonNotImplemented, notImplementedMessage)
	obj.Status.ObservedGeneration = obj.Generation
}
