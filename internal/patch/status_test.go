package patch

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/scheme"
)

func TestStatusSkipsUnchangedAndPatchesChanged(t *testing.T) {
	db := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "db"}}
	patches := 0
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(db).WithStatusSubresource(db).
		WithInterceptorFuncs(interceptor.Funcs{SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch,
			opts ...client.SubResourcePatchOption) error {
			patches++
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		}}).Build()
	ctx := context.Background()
	status := func(d *componentsv1alpha1.Database) any { return d.Status }

	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(db), db))
	before := db.DeepCopy()
	require.NoError(t, Status(ctx, c, db, before, status))
	require.Zero(t, patches, "an unchanged status must not be sent")

	db.Status.Version = "17.2"
	require.NoError(t, Status(ctx, c, db, before, status))
	require.Equal(t, 1, patches)
	got := &componentsv1alpha1.Database{}
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(db), got))
	require.Equal(t, "17.2", got.Status.Version)
}
