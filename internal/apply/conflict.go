package apply

import (
	"context"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/patch"
)

// StallOnConflict ends a reconcile whose work returned a NotControlledError (someone else's
// object, or one orphaned when the owner's predecessor was deleted with propagationPolicy Orphan,
// is never taken over: Stalled with reason NameConflict) or a child the API server refused as
// invalid (Stalled with reason InvalidSpec). observed records the generation; the object is looked
// at again in a minute, since nothing watches the foreign object. Any other outcome passes through
// (outcome.Finished reports an error that remains).
func StallOnConflict[T conditions.Object](ctx context.Context, c client.Client, obj, before T, status func(T) any, observed func(T),
	res ctrl.Result, err error) (ctrl.Result, error) {
	var conflict *NotControlledError
	switch {
	case errors.As(err, &conflict):
		conditions.MarkStalled(obj, componentsv1alpha1.ReasonNameConflict, conflict.Error())
	case apierrors.IsInvalid(err):
		// The API server refused a child built from this spec: retrying cannot help, the spec (or
		// an adopted object) must change.
		conditions.MarkStalled(obj, componentsv1alpha1.ReasonInvalidSpec, err.Error())
	default:
		return res, err
	}
	observed(obj)
	if err := patch.Status(ctx, c, obj, before, status); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: time.Minute}, nil
}
