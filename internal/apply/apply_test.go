package apply

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
)

func TestContains(t *testing.T) {
	for _, tc := range []struct {
		name       string
		have, want any
		ok         bool
	}{
		{"equal scalars", "a", "a", true},
		{"different scalars", "a", "b", false},
		{"int and float of one value", int64(3), float64(3), true},
		{"extra keys in have (defaults)", map[string]any{"a": "1", "b": "2"}, map[string]any{"a": "1"}, true},
		{"missing key", map[string]any{"b": "2"}, map[string]any{"a": "1"}, false},
		{"nested change", map[string]any{"s": map[string]any{"v": "16"}}, map[string]any{"s": map[string]any{"v": "17"}}, false},
		{"list equal", []any{"x", "y"}, []any{"x", "y"}, true},
		{"list with an element changed", []any{"x", "z"}, []any{"x", "y"}, false},
		{"list with an element removed", []any{"x"}, []any{"x", "y"}, false},
		{"list with another manager's extra element", []any{"x", "y", "z"}, []any{"x", "y"}, true},
		{"list of maps with defaults", []any{map[string]any{"name": "A", "value": "1", "d": "x"}}, []any{map[string]any{"name": "A", "value": "1"}}, true},
		{"owner references shared with another owner", map[string]any{"ownerReferences": []any{"other", "us"}},
			map[string]any{"ownerReferences": []any{"us"}}, true},
		{"owner reference removed", map[string]any{"ownerReferences": []any{"other"}}, map[string]any{"ownerReferences": []any{"us"}}, false},
		{"type mismatch", map[string]any{"a": []any{"1"}}, map[string]any{"a": "1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.ok, Contains(tc.have, tc.want))
		})
	}
}

func TestHashIsStableAndSensitive(t *testing.T) {
	a := map[string]any{"spec": map[string]any{"version": "1", "image": "x"}}
	b := map[string]any{"spec": map[string]any{"image": "x", "version": "1"}}
	ha, err := Hash(a)
	require.NoError(t, err)
	hb, err := Hash(b)
	require.NoError(t, err)
	require.Equal(t, ha, hb, "key order must not matter")
	c := map[string]any{"spec": map[string]any{"image": "x", "version": "2"}}
	hc, err := Hash(c)
	require.NoError(t, err)
	require.NotEqual(t, ha, hc)
}

// TestApplyNeverTakesOverAnObjectItDoesNotControl: an object with the desired name whose owner
// reference is gone (the garbage collector orphaned it when its owner was deleted with
// propagationPolicy Orphan) or names another controller is not written — re-adding the owner
// reference of a deleted owner would make the garbage collector delete the orphaned workload —
// unless it is labelled for adoption.
func TestApplyNeverTakesOverAnObjectItDoesNotControl(t *testing.T) {
	owner := metav1.OwnerReference{APIVersion: "components.canopy.dev/v1alpha1", Kind: "Database", Name: "shop",
		UID: types.UID("uid-db"), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}
	other := owner
	other.UID, other.Name = "uid-other", "other"
	desired := func() *corev1.ConfigMap {
		return &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "shop-postgres", OwnerReferences: []metav1.OwnerReference{owner}},
			Data:       map[string]string{"k": "v2"}}
	}
	existing := func(labels map[string]string, refs ...metav1.OwnerReference) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "shop-postgres", Labels: labels, OwnerReferences: refs},
			Data: map[string]string{"k": "v1"}}
	}
	for _, tc := range []struct {
		name     string
		existing *corev1.ConfigMap
		refused  bool
	}{
		{"orphaned: no owner reference any more", existing(nil), true},
		{"another controller", existing(nil, other), true},
		{"controlled by the desired controller", existing(nil, owner), false},
		{"orphaned but labelled for adoption", existing(map[string]string{canopyv1alpha1.LabelAdopt: "true"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			applied := 0
			c := fake.NewClientBuilder().WithObjects(tc.existing).WithInterceptorFuncs(interceptor.Funcs{
				Apply: func(context.Context, client.WithWatch, runtime.ApplyConfiguration, ...client.ApplyOption) error {
					applied++
					return nil
				},
			}).Build()
			res, err := Ensure(context.Background(), c, c, "test", desired(), nil)
			var conflict *NotControlledError
			if tc.refused {
				require.ErrorAs(t, err, &conflict)
				require.Equal(t, Unchanged, res)
				require.Zero(t, applied, "nothing is sent")
				require.Contains(t, err.Error(), "ConfigMap named shop-postgres")
				require.Contains(t, err.Error(), canopyv1alpha1.LabelAdopt+"=true")
				return
			}
			require.NoError(t, err)
			require.Equal(t, 1, applied)
		})
	}
	// An absent object is created.
	applied := 0
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Apply: func(context.Context, client.WithWatch, runtime.ApplyConfiguration, ...client.ApplyOption) error {
			applied++
			return nil
		},
	}).Build()
	res, err := Ensure(context.Background(), c, c, "test", desired(), nil)
	require.NoError(t, err)
	require.Equal(t, Created, res)
	require.Equal(t, 1, applied)
}

// TestLookupReadsTheAPIServerOnACacheMiss: the manager's cache holds only Canopy's labelled
// objects, so an object missing from it may still exist. Lookup asks the API server and refuses an
// object there that is not Canopy's; Create refuses one it collides with.
func TestLookupReadsTheAPIServerOnACacheMiss(t *testing.T) {
	owner := metav1.OwnerReference{APIVersion: "components.canopy.dev/v1alpha1", Kind: "Database", Name: "shop",
		UID: types.UID("uid-db"), Controller: ptr.To(true)}
	secret := func(labels map[string]string, refs ...metav1.OwnerReference) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "shop-db-credentials", Labels: labels, OwnerReferences: refs},
			Data: map[string][]byte{"password": []byte("users")}}
	}
	canopy := map[string]string{"app.kubernetes.io/managed-by": "canopy"}
	for _, tc := range []struct {
		name    string
		want    *corev1.Secret // the desired object: with or without a controller
		live    *corev1.Secret // what the API server holds; the cache is empty
		refused bool
	}{
		{"free name", secret(canopy), nil, false},
		{"a user's unlabelled Secret", secret(canopy), secret(nil), true},
		{"a user's Secret, desired with a controller", secret(canopy, owner), secret(nil), true},
		{"Canopy's, its labels removed by hand", secret(canopy, owner), secret(nil, owner), false},
		{"Canopy's kept Secret, outside the cache", secret(canopy), secret(canopy), false},
		{"labelled for adoption", secret(canopy), secret(map[string]string{canopyv1alpha1.LabelAdopt: "true"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := fake.NewClientBuilder().Build()
			b := fake.NewClientBuilder()
			if tc.live != nil {
				b = b.WithObjects(tc.live)
			}
			live := b.Build()
			found, err := Lookup(context.Background(), cache, live, tc.want)
			var conflict *NotControlledError
			if tc.refused {
				require.ErrorAs(t, err, &conflict)
				require.Contains(t, err.Error(), "Secret named shop-db-credentials")
				require.Nil(t, found)
			} else {
				require.NoError(t, err)
				require.Equal(t, tc.live == nil, found == nil)
			}
			// Create on the live client: a collision is accepted only with the same object.
			_, err = Create(context.Background(), live, live, tc.want.DeepCopy())
			if tc.refused {
				require.ErrorAs(t, err, &conflict)
			} else {
				require.NoError(t, err)
			}
			got := &corev1.Secret{}
			require.NoError(t, live.Get(context.Background(), client.ObjectKeyFromObject(tc.want), got))
			if tc.live != nil {
				require.Equal(t, tc.live.Data, got.Data, "an existing Secret's data is never replaced")
			}
		})
	}
}
