package outcome

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func TestSettle(t *testing.T) {
	gr := schema.GroupResource{Group: "components.canopy.dev", Resource: "frontends"}
	conflict := apierrors.NewConflict(gr, "shop", errors.New("the object has been modified"))
	terminating := &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden,
		Message: `deployments.apps "shop-web" is forbidden: unable to create new content in namespace shop because it is being terminated`,
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause, Field: "shop"}}}}}
	forbidden := apierrors.NewForbidden(gr, "shop", errors.New("RBAC says no"))
	other := errors.New("boom")
	later := ctrl.Result{RequeueAfter: time.Minute}
	backoff := ctrl.Result{Requeue: true} //nolint:staticcheck // what Settle returns
	for _, tc := range []struct {
		name    string
		res     ctrl.Result
		err     error
		wantRes ctrl.Result
		wantErr error
	}{
		{"success passes", later, nil, later, nil},
		{"a conflict is retried with backoff, quietly", later, conflict, backoff, nil},
		{"a wrapped conflict too", ctrl.Result{}, fmt.Errorf("patching status: %w", conflict), backoff, nil},
		{"a namespace being deleted ends it", ctrl.Result{}, fmt.Errorf("applying Deployment: %w", terminating), ctrl.Result{}, nil},
		{"another refusal is an error", ctrl.Result{}, forbidden, ctrl.Result{}, forbidden},
		{"any other error passes", later, other, later, other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Settle(context.Background(), tc.res, tc.err)
			require.Equal(t, tc.wantRes, res)
			require.Equal(t, tc.wantErr, err)
		})
	}
}

func TestSettled(t *testing.T) {
	gr := schema.GroupResource{Resource: "stacks"}
	inner := reconcile.Func(func(context.Context, reconcile.Request) (ctrl.Result, error) {
		return ctrl.Result{}, apierrors.NewConflict(gr, "shop", errors.New("modified"))
	})
	res, err := Settled(inner).Reconcile(context.Background(), reconcile.Request{})
	require.NoError(t, err)
	require.True(t, res.Requeue, "retried through the rate limiter") //nolint:staticcheck // what Settle returns
}
