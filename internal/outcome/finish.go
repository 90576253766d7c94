package outcome

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/apply"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/patch"
)

// maxErrorMessage bounds the error a condition carries.
const maxErrorMessage = 1024

// Object is a Canopy kind as the finish of a reconcile sees it.
type Object interface {
	conditions.Object
	GetObservedGeneration() int64
	SetObservedGeneration(int64)
}

// Pass is one reconcile of Obj. Its Finish, deferred by each controller once Obj is read, is the
// one place a reconcile writes its status and stamps observedGeneration.
type Pass[T Object] struct {
	Client client.Client
	Obj    T
	// Before is Obj as last read or written: the status write is a patch from it, refused if stale.
	Before T
	// Status returns the kind's status, so that an unchanged one is not sent.
	Status func(T) any

	landed []func()
	then   []func(context.Context) error
}

// Landed runs f once the status Finish writes has landed: events and counters tied to a status
// transition then fire once, not again for a write refused as stale.
func (p *Pass[T]) Landed(f func()) { p.landed = append(p.landed, f) }

// Then runs f after the status is written, for work that must follow it (marking a result that
// the status now records). observedGeneration is stamped only once f succeeded.
func (p *Pass[T]) Then(f func(context.Context) error) { p.then = append(p.then, f) }

// Wrote tells the pass that the controller wrote Obj's status itself (a record that must land
// before the pass changes children): later writes are patches from it.
func (p *Pass[T]) Wrote() { p.Before = p.Obj.DeepCopyObject().(T) }

// Finish ends the pass given its result and error (deferred, with pointers to Reconcile's named
// results):
//   - a name conflict or a refused child is Stalled (apply.StallOnConflict), looked at again in a
//     minute, and otherwise ends like a success;
//   - a success stamps observedGeneration and writes the status;
//   - a write conflict is retried through the rate limiter, quietly (Settle);
//   - any other error leaves observedGeneration alone (the pass observed nothing) and reaches
//     status as Ready=False and Reconciling=True with reason ReconcileError, instead of leaving the
//     Ready of the last successful pass for the user to trust.
func (p *Pass[T]) Finish(ctx context.Context, res *ctrl.Result, err *error) {
	*res, *err = p.finish(ctx, *res, *err)
}

func (p *Pass[T]) finish(ctx context.Context, res ctrl.Result, err error) (ctrl.Result, error) {
	if apply.StallOnConflict(p.Obj, err) {
		res, err = ctrl.Result{RequeueAfter: time.Minute}, nil
	}
	if err == nil {
		err = client.IgnoreNotFound(p.write(ctx))
	}
	res, err = Settle(ctx, res, err)
	if err != nil {
		p.reportError(ctx, err)
	}
	return res, err
}

// write writes the status; work that must follow it runs between the record and the stamp.
func (p *Pass[T]) write(ctx context.Context) error {
	if len(p.then) > 0 {
		if err := patch.Status(ctx, p.Client, p.Obj, p.Before, p.Status); err != nil {
			return err
		}
		p.Wrote()
		p.runLanded()
		for _, f := range p.then {
			if err := f(ctx); err != nil {
				return err
			}
		}
	}
	p.Obj.SetObservedGeneration(p.Obj.GetGeneration())
	if err := patch.Status(ctx, p.Client, p.Obj, p.Before, p.Status); err != nil {
		return err
	}
	p.Wrote()
	p.runLanded()
	return nil
}

func (p *Pass[T]) runLanded() {
	for _, f := range p.landed {
		f()
	}
	p.landed = nil
}

// reportError writes err into the Ready and Reconciling conditions of the status last written; a
// failure to do so is only logged (the error itself is returned and retried anyway).
func (p *Pass[T]) reportError(ctx context.Context, err error) {
	obj := p.Before.DeepCopyObject().(T)
	msg := err.Error()
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage] + "…"
	}
	msg = "the last reconcile failed and is retried: " + msg
	conditions.Set(obj, componentsv1alpha1.ConditionReady, "False", componentsv1alpha1.ReasonReconcileError, msg)
	conditions.Set(obj, componentsv1alpha1.ConditionReconciling, "True", componentsv1alpha1.ReasonReconcileError, msg)
	conditions.Remove(obj, componentsv1alpha1.ConditionStalled)
	if equality.Semantic.DeepEqual(obj.GetConditions(), p.Before.GetConditions()) {
		return
	}
	if patchErr := patch.Status(ctx, p.Client, obj, p.Before, p.Status); client.IgnoreNotFound(patchErr) != nil {
		log.FromContext(ctx).V(1).Info("could not report the error in status", "error", patchErr.Error())
	}
}
