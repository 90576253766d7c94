package stack

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/stack"
	"github.com/canopy-dev/canopy/internal/patch"
)

// deletionPredicate lets the start of a deletion through even if nothing else changed.
type deletionPredicate struct{ predicate.Funcs }

func (deletionPredicate) Update(e event.UpdateEvent) bool {
	return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
}

// reconcileDelete tears the Stack down. Delete: the children go in reverse rollout order (Frontend,
// BackupPolicy, Database), each deletion awaited, so the web tier stops before its database; data
// volumes and backups stay unless the spec asked (the children carry that in volumeRetention and
// backupRetention). Orphan: the children are deleted with orphan propagation, so the workloads they
// created lose their owner references and keep running. A child whose CRD is gone counts as gone;
// a child that does not go away within the step timeout is left behind with a Warning, so the
// finalizer never wedges.
func (r *Reconciler) reconcileDelete(ctx context.Context, s *canopyv1alpha1.Stack) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(s, Finalizer) {
		return reconcile.Result{}, nil
	}
	key := ctrl.ObjectKey{Namespace: s.Namespace, Name: desired.Name(s)}
	// Reverse rollout order.
	type step struct {
		kind string
		obj  ctrl.Object
	}
	order := make([]step, 0, len(children))
	for i := len(children) - 1; i >= 0; i-- {
		order = append(order, step{children[i].kind, children[i].newObj()})
	}
	orphan := s.Spec.DeletionPolicy == canopyv1alpha1.DeletionPolicyOrphan
	propagation := metav1.DeletePropagationBackground
	if orphan {
		propagation = metav1.DeletePropagationOrphan
	}
	deadline := s.DeletionTimestamp.Add(s.StepTimeout())
	now := r.Now()

	for _, child := range order {
		err := r.Get(ctx, key, child.obj)
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			continue
		}
		if err != nil {
			return reconcile.Result{}, fmt.Errorf("reading the %s: %w", child.kind, err)
		}
		if !metav1.IsControlledBy(child.obj, s) {
			continue // not ours: never delete it
		}
		if err := r.passSkipPurge(ctx, s, child.obj); err != nil {
			return reconcile.Result{}, err
		}
		if child.obj.GetDeletionTimestamp().IsZero() {
			if !orphan {
				// The data retention the spec asks for now reaches the child, and its controller
				// observes it, before the child is deleted.
				waiting, err := r.setDeletionRetention(ctx, s, child.obj)
				if err != nil {
					return reconcile.Result{}, err
				}
				if waiting != "" && now.Before(deadline) {
					if err := r.markDeleting(ctx, s, waiting); err != nil {
						return reconcile.Result{}, err
					}
					return reconcile.Result{RequeueAfter: deadline.Sub(now)}, nil
				}
			}
			if err := r.Delete(ctx, child.obj, ctrl.PropagationPolicy(propagation)); ctrl.IgnoreNotFound(err) != nil && !meta.IsNoMatchError(err) {
				return reconcile.Result{}, fmt.Errorf("deleting the %s: %w", child.kind, err)
			}
			r.Recorder.Eventf(s, corev1.EventTypeNormal, "Deleting", "deleting the %s %s (%s)", child.kind, key.Name, propagation)
		}
		if orphan {
			continue // orphaning is done by the garbage collector; nothing to wait for
		}
		if now.Before(deadline) {
			msg := fmt.Sprintf("waiting for the %s %s to be deleted", child.kind, key.Name)
			if c := conditions.Get(child.obj.(conditions.Object), componentsv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
				msg += ": " + c.Message // what holds it, and what the user can do (a failed backup purge)
			}
			if err := r.markDeleting(ctx, s, msg); err != nil {
				return reconcile.Result{}, err
			}
			// The child's disappearance is watched; the requeue only enforces the deadline.
			return reconcile.Result{RequeueAfter: deadline.Sub(now)}, nil
		}
		r.Recorder.Eventf(s, corev1.EventTypeWarning, "DeletionTimeout",
			"the %s %s was not deleted within %s; continuing without it (remove its finalizers to let it go)", child.kind, key.Name, s.StepTimeout())
	}

	base := s.DeepCopy()
	controllerutil.RemoveFinalizer(s, Finalizer)
	if err := r.Patch(ctx, s, ctrl.MergeFromWithOptions(base, ctrl.MergeFromWithOptimisticLock{})); err != nil {
		return reconcile.Result{}, ctrl.IgnoreNotFound(err)
	}
	r.Recorder.Eventf(s, corev1.EventTypeNormal, "Deleted", "torn down with deletionPolicy %s", s.Spec.DeletionPolicy)
	return reconcile.Result{}, nil
}

// markDeleting says in status what the deletion waits for.
func (r *Reconciler) markDeleting(ctx context.Context, s *canopyv1alpha1.Stack, msg string) error {
	before := s.DeepCopy()
	conditions.MarkReconciling(s, canopyv1alpha1.ReasonDeleting, msg)
	return patch.Status(ctx, r.Client, s, before, func(x *canopyv1alpha1.Stack) any { return x.Status })
}

// setDeletionRetention writes the data retention that spec.dataRetention asks for into a Database
// or BackupPolicy about to be deleted (they hold Retain until then), and reports what the deletion
// waits for: the child's controller observing that spec.
func (r *Reconciler) setDeletionRetention(ctx context.Context, s *canopyv1alpha1.Stack, obj ctrl.Object) (string, error) {
	ret := desired.DeletionRetention(s)
	var field string
	var want, have componentsv1alpha1.RetainPolicy
	var observed int64
	switch c := obj.(type) {
	case *componentsv1alpha1.Database:
		field, want, have, observed = "volumeRetention", ret.PersistentVolumeClaims, c.Spec.VolumeRetention, c.Status.ObservedGeneration
	case *componentsv1alpha1.BackupPolicy:
		field, want, have, observed = "backupRetention", ret.Backups, c.Spec.BackupRetention, c.Status.ObservedGeneration

	default:
		return "", nil
	}
	if want != componentsv1alpha1.Delete {
		return "", nil // Retain is what the child already holds
	}
	kind := fmt.Sprintf("%T", obj)[len("*v1alpha1."):]
	if have != want {
		patch := []byte(fmt.Sprintf(`{"spec":{%q:%q}}`, field, want))
		if err := r.Patch(ctx, obj, ctrl.RawPatch(types.MergePatchType, patch)); err != nil {
			return "", fmt.Errorf("setting %s on the %s: %w", field, kind, err)
		}
		return fmt.Sprintf("waiting for the %s to observe %s: Delete before deleting it", kind, field), nil
	}
	if observed < obj.GetGeneration() {
		return fmt.Sprintf("waiting for the %s to observe %s: Delete before deleting it", kind, field), nil
	}
	return "", nil
}

// passSkipPurge copies the Stack's canopy.dev/skip-backup-purge annotation to its BackupPolicy, also
// once the policy is being deleted: that is when a failed purge holds it, and the user, who never
// touches the internal kinds, answers on the Stack.
func (r *Reconciler) passSkipPurge(ctx context.Context, s *canopyv1alpha1.Stack, obj ctrl.Object) error {
	if _, ok := obj.(*componentsv1alpha1.BackupPolicy); !ok {
		return nil
	}
	skip := s.Annotations[canopyv1alpha1.AnnotationSkipBackupPurge]
	if skip == "" || obj.GetAnnotations()[canopyv1alpha1.AnnotationSkipBackupPurge] == skip {
		return nil
	}
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, canopyv1alpha1.AnnotationSkipBackupPurge, skip))
	if err := r.Patch(ctx, obj, ctrl.RawPatch(types.MergePatchType, patch)); ctrl.IgnoreNotFound(err) != nil {
		return fmt.Errorf("passing %s to the BackupPolicy: %w", canopyv1alpha1.AnnotationSkipBackupPurge, err)
	}
	return nil
}
