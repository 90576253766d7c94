// Package patch writes objects back to the API server only when something changed, so that a
// steady-state reconcile issues no request at all.
package patch

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Status patches obj's status subresource with the difference from before, and sends nothing when
// the two statuses are semantically equal. status extracts the status field of the kind.
//
// The patch carries before's resourceVersion: a status computed from a stale read (the cache had not
// yet seen this controller's previous write) is refused with a conflict instead of being applied
// twice, so events and counters tied to a status transition fire once.
func Status[T client.Object](ctx context.Context, c client.Client, obj, before T, status func(T) any) error {
	if equality.Semantic.DeepEqual(status(obj), status(before)) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patching status of %s %s/%s: %w",
			kindOf(c.Scheme(), obj), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

func kindOf(s *runtime.Scheme, obj client.Object) string {
	if gvks, _, err := s.ObjectKinds(obj); err == nil && len(gvks) > 0 {
		return gvks[0].Kind
	}
	return fmt.Sprintf("%T", obj)
}
