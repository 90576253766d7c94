package outcome

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// maxErrorMessage bounds the error a condition carries.
const maxErrorMessage = 1024

// Finished wraps one of Canopy's reconcilers so that every reconcile ends the same way: its result
// goes through Settle, and an error that remains (one the controller retries with backoff) reaches
// the object's status as Ready=False and Reconciling=True with reason ReconcileError and the error
// as message, instead of leaving the Ready of the last successful pass for the user to trust.
// observedGeneration is left as it was: only a pass that succeeded observed the spec.
func Finished[T conditions.Object](c client.Client, newObj func() T, r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
		res, err := r.Reconcile(ctx, req)
		res, err = Settle(ctx, res, err)
		if err != nil {
			reportError(ctx, c, newObj(), req, err)
		}
		return res, err
	})
}

// reportError writes err into obj's Ready and Reconciling conditions; a failure to do so is only
// logged (the error itself is returned and retried anyway).
func reportError[T conditions.Object](ctx context.Context, c client.Client, obj T, req reconcile.Request, err error) {
	if getErr := c.Get(ctx, req.NamespacedName, obj); getErr != nil || !obj.GetDeletionTimestamp().IsZero() {
		return
	}
	before := obj.DeepCopyObject().(T)
	msg := err.Error()
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage] + "…"
	}
	msg = "the last reconcile failed and is retried: " + msg
	conditions.Set(obj, componentsv1alpha1.ConditionReady, "False", componentsv1alpha1.ReasonReconcileError, msg)
	conditions.Set(obj, componentsv1alpha1.ConditionReconciling, "True", componentsv1alpha1.ReasonReconcileError, msg)
	conditions.Remove(obj, componentsv1alpha1.ConditionStalled)
	if equality.Semantic.DeepEqual(obj.GetConditions(), before.GetConditions()) {
		return
	}
	// The lock refuses a write computed from a stale read, which could undo a newer status.
	if patchErr := c.Status().Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); patchErr != nil {
		log.FromContext(ctx).V(1).Info("could not report the error in status", "error", patchErr.Error())
	}
}
