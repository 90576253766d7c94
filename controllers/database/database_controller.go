package database

import (
	"context"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/patch"
)

// +kubebuilder:rbac:groups=components.canopy.dev,resources=databases,verbs=get;list;watch
// +kubebuilder:rbac:groups=components.canopy.dev,resources=databases/status,verbs=get;update;patch

// Reconciler reconciles Database objects.
type Reconciler struct {
	client.Client
}

// SetupWithManager registers the controller. Only spec changes (new generations) trigger a
// reconcile: the controller's own status writes do not.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("database").
		For(&componentsv1alpha1.Database{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}

// Reconcile brings one Database's status up to date.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &componentsv1alpha1.Database{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := obj.DeepCopy()
	computeStatus(obj)
	return ctrl.Result{}, patch.Status(ctx, r.Client, obj, before, func(o *componentsv1alpha1.Database) any { return o.Status })
}
