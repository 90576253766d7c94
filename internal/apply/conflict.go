package apply

import (
	"context"
	"errors"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/patch"
)

// StallOnConflict ends a reconcile whose work returned a NotControlledError: someone else's
// object, or one orphaned when the owner's predecessor was deleted with propagationPolicy Orphan,
// is never taken over. obj is reported Stalled with reason NameConflict (observed records the
// generation) and looked at again in a minute, since nothing watches the foreign object. Any other
// outcome passes through.
func StallOnConflict[T conditions.Object](ctx context.Context, c client.Client, obj, before T, status func(T) any, observed func(T),
	res ctrl.Result, err error) (ctrl.Result, error) {
	var conflict *NotControlledError
	if !errors.As(err, &conflict) {
		return res, err
	}
	conditions.MarkStalled(obj, componentsv1alpha1.ReasonNameConflict, conflict.Error())
	observed(obj)
	if err := patch.Status(ctx, c, obj, before, status); client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: time.Minute}, nil
}
