package stack

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	"github.com/canopy-dev/canopy/internal/patch"
)

// +kubebuilder:rbac:groups=canopy.dev,resources=stacks,verbs=get;list;watch
// +kubebuilder:rbac:groups=canopy.dev,resources=stacks/status,verbs=get;update;patch

// Reconciler reconciles Stack objects.
type Reconciler struct {
	client.Client
}

// SetupWithManager registers the controller. Only spec changes (new generations) trigger a
// reconcile: the controller's own status writes do not.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("stack").
		For(&canopyv1alpha1.Stack{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// Reconcile brings one Stack's status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &canopyv1alpha1.Stack{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := obj.DeepCopy()
	computeStatus(obj)
	return ctrl.Result{}, patch.Status(ctx, r.Client, obj, before, func(o *canopyv1alpha1.Stack) any { return o.Status })
}
