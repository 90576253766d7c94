package outcome

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/apply"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/scheme"
)

// finishWorld is a Frontend at generation 2 whose status describes generation 1 and is Ready, in
// a fake API server that counts status writes.
type finishWorld struct {
	c      client.Client
	writes int
	fail   error // the next status write fails with it
}

func newFinishWorld(t *testing.T) (*finishWorld, *finishRun) {
	t.Helper()
	fe := &componentsv1alpha1.Frontend{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "shop", Generation: 2}}
	fe.Status.ObservedGeneration = 1
	fe.Status.Conditions = []metav1.Condition{{Type: componentsv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Available",
		ObservedGeneration: 1, LastTransitionTime: metav1.Now()}}
	w := &finishWorld{}
	w.c = fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(fe).WithStatusSubresource(fe).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch,
			opts ...client.SubResourcePatchOption) error {
			w.writes++
			if err := w.fail; err != nil {
				w.fail = nil
				return err
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		}}).Build()
	got := &componentsv1alpha1.Frontend{}
	require.NoError(t, w.c.Get(context.Background(), client.ObjectKeyFromObject(fe), got))
	return w, &finishRun{w: w, pass: &Pass[*componentsv1alpha1.Frontend]{Client: w.c, Obj: got, Before: got.DeepCopy(),
		Status: func(f *componentsv1alpha1.Frontend) any { return f.Status }}}
}

// finishRun is one pass of a finishWorld and what it left in the API server.
type finishRun struct {
	w    *finishWorld
	pass *Pass[*componentsv1alpha1.Frontend]
}

func (o *finishRun) finish(res ctrl.Result, err error) (ctrl.Result, error) {
	o.pass.Finish(context.Background(), &res, &err)
	return res, err
}

func (o *finishRun) stored(t *testing.T) *componentsv1alpha1.Frontend {
	t.Helper()
	got := &componentsv1alpha1.Frontend{}
	require.NoError(t, o.w.c.Get(context.Background(), client.ObjectKeyFromObject(o.pass.Obj), got))
	return got
}

func TestFinishSuccessStampsAndWrites(t *testing.T) {
	w, o := newFinishWorld(t)
	landed := 0
	o.pass.Landed(func() { landed++ })
	o.pass.Obj.Status.Version = "1.0"
	res, err := o.finish(ctrl.Result{RequeueAfter: time.Minute}, nil)
	require.NoError(t, err)
	require.Equal(t, ctrl.Result{RequeueAfter: time.Minute}, res)
	got := o.stored(t)
	require.Equal(t, int64(2), got.Status.ObservedGeneration, "a pass that succeeded observed the spec")
	require.Equal(t, "1.0", got.Status.Version)
	require.Equal(t, 1, w.writes, "one write")
	require.Equal(t, 1, landed)

	// At rest: the next pass computes the same status and sends nothing.
	o2 := &finishRun{w: w, pass: &Pass[*componentsv1alpha1.Frontend]{Client: w.c, Obj: got, Before: got.DeepCopy(), Status: o.pass.Status}}
	_, err = o2.finish(ctrl.Result{}, nil)
	require.NoError(t, err)
	require.Equal(t, 1, w.writes, "nothing changed, nothing sent")
}

func TestFinishThenStampsOnlyAfterItsWork(t *testing.T) {
	_, o := newFinishWorld(t)
	o.pass.Obj.Status.Version = "1.0"
	var seen *componentsv1alpha1.Frontend
	o.pass.Then(func(context.Context) error { seen = o.stored(t); return errors.New("marking the Job: boom") })
	_, err := o.finish(ctrl.Result{}, nil)
	require.ErrorContains(t, err, "boom")
	require.Equal(t, "1.0", seen.Status.Version, "the record lands before the work that follows it")
	require.Equal(t, int64(1), seen.Status.ObservedGeneration)
	got := o.stored(t)
	require.Equal(t, int64(1), got.Status.ObservedGeneration, "the pass failed: not observed")
	require.Equal(t, componentsv1alpha1.ReasonReconcileError, conditions.Get(got, componentsv1alpha1.ConditionReady).Reason)

	w, o := newFinishWorld(t)
	o.pass.Then(func(context.Context) error { return nil })
	_, err = o.finish(ctrl.Result{}, nil)
	require.NoError(t, err)
	require.Equal(t, int64(2), o.stored(t).Status.ObservedGeneration)
	require.Equal(t, 1, w.writes, "an unchanged status is not sent before the stamp")
}

func TestFinishErrorReportsWithoutStamp(t *testing.T) {
	w, o := newFinishWorld(t)
	landed := false
	o.pass.Landed(func() { landed = true })
	o.pass.Obj.Status.Version = "half-computed"
	boom := errors.New("the API server timed out")
	res, err := o.finish(ctrl.Result{}, fmt.Errorf("applying the Service: %w", boom))
	require.ErrorIs(t, err, boom, "returned: controller-runtime retries it with backoff")
	require.Equal(t, ctrl.Result{}, res)
	got := o.stored(t)
	require.Equal(t, int64(1), got.Status.ObservedGeneration, "a failed pass observed nothing")
	require.Empty(t, got.Status.Version, "only the conditions of the status last written change")
	for _, c := range []string{componentsv1alpha1.ConditionReady, componentsv1alpha1.ConditionReconciling} {
		cond := conditions.Get(got, c)
		require.NotNil(t, cond, c)
		require.Equal(t, componentsv1alpha1.ReasonReconcileError, cond.Reason, c)
		require.Contains(t, cond.Message, "the API server timed out", c)
	}
	require.False(t, conditions.IsTrue(got, componentsv1alpha1.ConditionReady))
	require.False(t, landed, "no transition landed")
	require.Equal(t, 1, w.writes)
}

func TestFinishConflictSettlesQuietly(t *testing.T) {
	gr := schema.GroupResource{Group: "components.canopy.dev", Resource: "frontends"}
	conflict := apierrors.NewConflict(gr, "shop", errors.New("the object has been modified"))
	backoff := ctrl.Result{Requeue: true} //nolint:staticcheck // what Settle returns

	w, o := newFinishWorld(t)
	res, err := o.finish(ctrl.Result{}, fmt.Errorf("applying: %w", conflict))
	require.NoError(t, err)
	require.Equal(t, backoff, res)
	require.Zero(t, w.writes, "a conflict is not reported in status")

	w, o = newFinishWorld(t)
	o.pass.Obj.Status.Version = "1.0"
	w.fail = conflict
	res, err = o.finish(ctrl.Result{}, nil)
	require.NoError(t, err, "the status write's own conflict too")
	require.Equal(t, backoff, res)
	require.Equal(t, int64(1), o.stored(t).Status.ObservedGeneration)
}

func TestFinishStalls(t *testing.T) {
	gk := schema.GroupKind{Kind: "Service"}
	for _, tc := range []struct {
		name   string
		err    error
		reason string
	}{
		{"a name conflict", &apply.NotControlledError{Kind: "Service", Name: "shop"}, componentsv1alpha1.ReasonNameConflict},
		{"a refused child", apierrors.NewInvalid(gk, "shop", field.ErrorList{field.Invalid(field.NewPath("spec"), "x", "no")}),
			canopyv1alpha1.ReasonChildRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, o := newFinishWorld(t)
			res, err := o.finish(ctrl.Result{}, fmt.Errorf("applying: %w", tc.err))
			require.NoError(t, err, "retrying cannot help")
			require.Equal(t, ctrl.Result{RequeueAfter: time.Minute}, res, "nothing watches what the user fixes")
			got := o.stored(t)
			require.Equal(t, tc.reason, conditions.Get(got, componentsv1alpha1.ConditionStalled).Reason)
			require.False(t, conditions.IsTrue(got, componentsv1alpha1.ConditionReady))
			require.Nil(t, conditions.Get(got, componentsv1alpha1.ConditionReconciling))
			require.Equal(t, int64(2), got.Status.ObservedGeneration, "the spec was observed: it is what stalls")
		})
	}
}
