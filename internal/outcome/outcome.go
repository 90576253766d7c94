// Package outcome gives the errors a reconcile meets in normal operation their meaning before
// controller-runtime sees them, so that what it logs as "Reconciler error" (and counts in
// controller_runtime_reconcile_errors_total, which alerts read) is an error.
package outcome

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Settle maps a reconcile's result:
//   - a conflict (another writer, or this controller's cache one write behind) is retried with a
//     fresh read after the controller's per-object backoff (5 ms, doubling), and not reported: a
//     status-only change that caused it brings no event, since the controllers watch generation
//     changes, and a writer that keeps winning is not raced in a tight loop;
//   - a create refused because the namespace is being deleted ends the reconcile: the namespace's
//     deletion takes everything in it;
//   - anything else passes through.
func Settle(ctx context.Context, res ctrl.Result, err error) (ctrl.Result, error) {
	switch {
	case err == nil:
		return res, nil
	case apierrors.IsConflict(err):
		log.FromContext(ctx).V(1).Info("retrying after a write conflict", "conflict", err.Error())
		// Requeue is the one result that goes through the rate limiter without counting an error.
		return ctrl.Result{Requeue: true}, nil //nolint:staticcheck // the backoff is the point
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		log.FromContext(ctx).V(1).Info("the namespace is being deleted; nothing more to create", "refused", err.Error())
		return ctrl.Result{}, nil
	}
	return res, err
}

// Settled wraps a reconciler so that its results go through Settle.
func Settled(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (ctrl.Result, error) {
		res, err := r.Reconcile(ctx, req)
		return Settle(ctx, res, err)
	})
}
