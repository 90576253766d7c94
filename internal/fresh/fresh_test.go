package fresh

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/scheme"
)

// lagging is a cache that holds a copy of the object taken when the test says so.
type lagging struct {
	held client.Object
}

func (l *lagging) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if l.held == nil || client.ObjectKeyFromObject(l.held) != key {
		return apierrors.NewNotFound(componentsv1alpha1.GroupVersion.WithResource("frontends").GroupResource(), key.Name)
	}
	l.held.(*componentsv1alpha1.Frontend).DeepCopyInto(obj.(*componentsv1alpha1.Frontend))
	return nil
}

func (l *lagging) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("not used")
}

func TestReadsTheCacheOnlyWhenItHoldsTheLastVersion(t *testing.T) {
	ctx := context.Background()
	fe := &componentsv1alpha1.Frontend{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "apps"}}
	liveGets := 0
	failWrites := false
	api := interceptor.NewClient(fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(fe).
		WithStatusSubresource(&componentsv1alpha1.Frontend{}).Build(), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			liveGets++
			return c.Get(ctx, key, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch,
			opts ...client.SubResourcePatchOption) error {
			if failWrites {
				return apierrors.NewConflict(componentsv1alpha1.GroupVersion.WithResource("frontends").GroupResource(), obj.GetName(), errors.New("stale"))
			}
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
	})
	cache := &lagging{}
	r := &Reader[*componentsv1alpha1.Frontend]{Cached: cache, Live: api}
	c := r.Track(api)
	key := client.ObjectKeyFromObject(fe)
	read := func() *componentsv1alpha1.Frontend {
		got := &componentsv1alpha1.Frontend{}
		require.NoError(t, r.Get(ctx, key, got))
		return got
	}

	first := read()
	require.Equal(t, 1, liveGets, "nothing seen yet: the API server")
	cache.held = first.DeepCopy()
	read()
	require.Equal(t, 1, liveGets, "the cache holds the version read: no request")

	// A status write: until the cache holds its version, reads go to the API server.
	written := first.DeepCopy()
	written.Status.Version = "1.1"
	require.NoError(t, c.Status().Patch(ctx, written, client.MergeFrom(first)))
	require.Equal(t, "1.1", read().Status.Version, "the cache is behind the write: read from the API server")
	require.Equal(t, 2, liveGets)
	cache.held = written.DeepCopy()
	require.Equal(t, "1.1", read().Status.Version)
	require.Equal(t, 2, liveGets, "the cache caught up with the write")

	// Someone else writes: the cache holds another version than the one last seen.
	other := written.DeepCopy()
	other.Spec.Version = "1.2"
	require.NoError(t, api.Update(ctx, other))
	cache.held = other.DeepCopy()
	require.Equal(t, "1.2", read().Spec.Version)
	require.Equal(t, 3, liveGets, "a version this controller has not seen: read from the API server")

	// A failed write leaves the version unknown.
	failWrites = true
	stale := other.DeepCopy()
	stale.Status.Version = "x"
	require.Error(t, c.Status().Patch(ctx, stale, client.MergeFrom(other)))
	read()
	require.Equal(t, 4, liveGets, "after a failed write: the API server")

	// Writes of other kinds are not this reader's.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "apps"}}
	require.NoError(t, c.Create(ctx, cm))
	require.NoError(t, c.Patch(ctx, cm, client.RawPatch("application/merge-patch+json", []byte(`{"data":{"a":"b"}}`))))
	read()
	require.Equal(t, 4, liveGets, "a ConfigMap's write changes nothing")

	// Deleted: forgotten, and a NotFound is the API server's.
	require.NoError(t, c.Delete(ctx, other))
	require.True(t, apierrors.IsNotFound(r.Get(ctx, key, &componentsv1alpha1.Frontend{})))
	require.Equal(t, 5, liveGets)
}
