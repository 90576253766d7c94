package apply

import (
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// StallOnConflict marks obj Stalled when err is one that retrying cannot fix, and reports whether
// it did: a NotControlledError (someone else's object, or one orphaned when the owner's
// predecessor was deleted with propagationPolicy Orphan, is never taken over: reason NameConflict)
// or a child the API server refused as invalid (reason ChildRejected: the spec, or an adopted
// object, must change). outcome's Finish ends such a pass as a successful one that looks again in
// a minute, since nothing watches the foreign object a user fixes.
func StallOnConflict(obj conditions.Object, err error) bool {
	var conflict *NotControlledError
	switch {
	case errors.As(err, &conflict):
		conditions.MarkStalled(obj, componentsv1alpha1.ReasonNameConflict, conflict.Error())
	case apierrors.IsInvalid(err):
		conditions.MarkStalled(obj, canopyv1alpha1.ReasonChildRejected, err.Error())
	default:
		return false
	}
	return true
}
