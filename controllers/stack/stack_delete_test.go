package stack

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/scheme"
)

// TestDeleteWithChildCRDsMissing: when the component CRDs are gone (uninstalled before the Stacks),
// the finalizer is still removed.
func TestDeleteWithChildCRDsMissing(t *testing.T) {
	s := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "shop", Finalizers: []string{Finalizer}}}
	s.Spec.DeletionPolicy = canopyv1alpha1.DeletionPolicyDelete
	noMatch := func(obj client.Object) error {
		switch obj.(type) {
		case *componentsv1alpha1.Database, *componentsv1alpha1.Frontend, *componentsv1alpha1.BackupPolicy:
			return &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: componentsv1alpha1.GroupVersion.Group, Kind: "X"}}
		}
		return nil
	}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(s).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if err := noMatch(obj); err != nil {
				return err
			}
			return c.Get(ctx, key, obj, opts...)
		},
	}).Build()
	require.NoError(t, c.Delete(context.Background(), s)) // sets the deletion timestamp; the finalizer holds it
	require.NoError(t, c.Get(context.Background(), client.ObjectKeyFromObject(s), s))

	r := &Reconciler{Client: c, Recorder: record.NewFakeRecorder(10), Now: time.Now}
	res, err := r.reconcileDelete(context.Background(), s)
	require.NoError(t, err)
	require.Zero(t, res.RequeueAfter)
	err = c.Get(context.Background(), client.ObjectKeyFromObject(s), &canopyv1alpha1.Stack{})
	require.True(t, client.IgnoreNotFound(err) == nil && err != nil, "the Stack is gone once its finalizer is removed")
}
