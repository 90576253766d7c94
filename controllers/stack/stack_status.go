package stack

import (
	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// notImplementedMessage says honestly why the Stack never becomes Ready in this release.
const notImplementedMessage = "Canopy does not yet turn Stacks into databases and web tiers: the stack controller is not implemented in this release"

// computeStatus sets the status the controller can truthfully report: not Ready, and stalled
// because nothing in this release acts on the spec.
func computeStatus(obj *canopyv1alpha1.Stack) {
	conditions.MarkStalled(obj, componentsv1alpha1.ReasonNotImplemented, notImplementedMessage)
	obj.Status.ObservedGeneration = obj.Generation
}
