package apply_test

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	"github.com/canopy-dev/canopy/internal/apply"
	"github.com/canopy-dev/canopy/internal/desired/common"
	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env, testenv.Options{})) }

// TestEnsureOnACacheMiss runs Ensure and Create with the production cache, which holds only
// Canopy's labelled objects, against a real API server: a free name costs one request (the apply
// that creates the object, no read first), and a taken one is never written unless it is Canopy's
// or labelled for adoption.
func TestEnsureOnACacheMiss(t *testing.T) {
	e := testenv.Require(t, env)
	ns := e.Namespace(t)
	ctx := context.Background()
	mgr := e.StartManager(t, func(ctrl.Manager) error { return nil })
	c, live, requests := mgr.GetClient(), mgr.GetAPIReader(), testenv.RequestsOf(mgr)
	require.True(t, mgr.GetCache().WaitForCacheSync(ctx))
	require.NoError(t, client.IgnoreNotFound(c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "warm"}, &corev1.ConfigMap{})),
		"the ConfigMap informer is started and synced before counting")

	owner := metav1.OwnerReference{APIVersion: "components.canopy.dev/v1alpha1", Kind: "Database", Name: "shop",
		UID: "9a1c6c38-0f5e-4d51-a1a4-000000000001", Controller: ptr.To(true)}
	want := func(name string) *corev1.ConfigMap {
		return &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: []metav1.OwnerReference{owner},
				Labels: map[string]string{common.LabelManagedBy: common.ManagedBy}},
			Data: map[string]string{"k": "canopy"}}
	}
	existing := func(name string, labels map[string]string, refs ...metav1.OwnerReference) *corev1.ConfigMap {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, OwnerReferences: refs},
			Data: map[string]string{"k": "theirs"}}
		require.NoError(t, e.Client.Create(ctx, cm))
		return cm
	}
	read := func(name string) *corev1.ConfigMap {
		cm := &corev1.ConfigMap{}
		require.NoError(t, e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cm))
		return cm
	}
	for _, tc := range []struct {
		name     string
		existing *corev1.ConfigMap // created unlabelled for Canopy, so outside the cache
		result   apply.Result
		refused  bool
		requests int // sent by Ensure
	}{
		{name: "free", result: apply.Created, requests: 1},
		{name: "users", existing: existing("users", nil), refused: true, requests: 2},
		{name: "other-controller", existing: existing("other-controller", nil, metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap",
			Name: "x", UID: "9a1c6c38-0f5e-4d51-a1a4-000000000002", Controller: ptr.To(true)}), refused: true, requests: 2},
		{name: "canopys-unlabelled", existing: existing("canopys-unlabelled", nil, owner), result: apply.Updated, requests: 3},
		{name: "adoptable", existing: existing("adoptable", map[string]string{canopyv1alpha1.LabelAdopt: "true"}), result: apply.Updated, requests: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := requests.Count()
			res, err := apply.Ensure(ctx, c, live, "test", want(tc.name), nil)
			after, _ := requests.Count()
			require.Equal(t, tc.requests, after-before, "requests sent: %s", requests)
			got := read(tc.name)
			if tc.refused {
				var refused *apply.NotControlledError
				require.ErrorAs(t, err, &refused)
				require.Equal(t, tc.existing.ResourceVersion, got.ResourceVersion, "a foreign object is not written")
				require.Equal(t, "theirs", got.Data["k"])
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.result, res)
			require.Equal(t, "canopy", got.Data["k"])
			require.NotEmpty(t, got.Annotations[apply.AnnotationDesiredHash])
		})
	}
}

// TestCreateOnACacheMiss: Create sends one request for a free name, returns Canopy's own object of
// that name from the API server, and refuses a foreign one without writing it.
func TestCreateOnACacheMiss(t *testing.T) {
	e := testenv.Require(t, env)
	ns := e.Namespace(t)
	ctx := context.Background()
	canopy := map[string]string{common.LabelManagedBy: common.ManagedBy}
	secret := func(name string, labels map[string]string, password string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
			Data: map[string][]byte{"password": []byte(password)}}
	}
	require.NoError(t, e.Client.Create(ctx, secret("kept", canopy, "old")))
	require.NoError(t, e.Client.Create(ctx, secret("users", nil, "users")))

	found, err := apply.Create(ctx, e.Client, e.Client, secret("free", canopy, "new"))
	require.NoError(t, err)
	require.Nil(t, found, "created")

	found, err = apply.Create(ctx, e.Client, e.Client, secret("kept", canopy, "new"))
	require.NoError(t, err)
	require.NotNil(t, found, "Canopy's Secret of that name is returned")
	require.Equal(t, "old", string(found.(*corev1.Secret).Data["password"]), "and kept")

	found, err = apply.Create(ctx, e.Client, e.Client, secret("users", canopy, "new"))
	var refused *apply.NotControlledError
	require.ErrorAs(t, err, &refused)
	require.Nil(t, found)
	got := &corev1.Secret{}
	require.NoError(t, e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "users"}, got))
	require.Equal(t, "users", string(got.Data["password"]))
}
