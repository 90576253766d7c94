package integrations

import (
	"context"
	"fmt"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/scheme"
)

func TestSetCondition(t *testing.T) {
	db := &componentsv1alpha1.Database{}
	const c = componentsv1alpha1.ConditionCertificatesAvailable
	SetCondition(db, c, true, false, "cert-manager")
	require.Equal(t, componentsv1alpha1.ReasonCRDNotInstalled, conditions.Get(db, c).Reason)
	require.Equal(t, metav1.ConditionFalse, conditions.Get(db, c).Status)
	SetCondition(db, c, true, true, "cert-manager")
	require.True(t, conditions.IsTrue(db, c))
	SetCondition(db, c, false, true, "cert-manager")
	require.Nil(t, conditions.Get(db, c), "not requested, not reported")
}

// TestDetect: an API is available when its CRD exists, is not being deleted, and the mapper maps
// the version Canopy writes; monitoring needs both of its kinds.
func TestDetect(t *testing.T) {
	const cert, sm, pr = "certificates.cert-manager.io", "servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"
	all := []string{cert, sm, pr}
	for _, tc := range []struct {
		name        string
		crds        []string
		terminating string
		mapped      []schema.GroupVersionKind
		// established CRDs serve v1, the version Canopy writes.
		established bool
		want        Available
		notServed   bool // Detect says discovery lags
		// refused: the API server refuses lists of the kinds (a CRD installed again, mapped by
		// the mapper from before, not served yet); uid is the CRDs' UID.
		refused bool
		uid     types.UID
	}{
		{name: "nothing installed", want: Available{}},
		{name: "everything", crds: all, mapped: []schema.GroupVersionKind{certificate.gvk, serviceMonitor.gvk, prometheusRule.gvk},
			want: Available{Certificates: true, Monitoring: true}},
		{name: "monitoring needs both kinds", crds: all, mapped: []schema.GroupVersionKind{certificate.gvk, serviceMonitor.gvk},
			want: Available{Certificates: true}},
		{name: "CRDs created, not Established yet", crds: all, want: Available{}},
		{name: "CRDs Established, discovery lags", crds: all, established: true, mapped: []schema.GroupVersionKind{certificate.gvk},
			want: Available{Certificates: true}, notServed: true},
		{name: "CRDs removed, the mapper still remembers", mapped: []schema.GroupVersionKind{certificate.gvk, serviceMonitor.gvk, prometheusRule.gvk},
			want: Available{}},
		{name: "a CRD being deleted", crds: all, terminating: pr, mapped: []schema.GroupVersionKind{certificate.gvk, serviceMonitor.gvk, prometheusRule.gvk},
			want: Available{Certificates: true}},
		{name: "another version served", crds: all, mapped: []schema.GroupVersionKind{
			{Group: "cert-manager.io", Version: "v2", Kind: "Certificate"}, serviceMonitor.gvk, prometheusRule.gvk},
			want: Available{Monitoring: true}},
		{name: "CRDs installed again, mapped from before, not served yet", crds: all, uid: "again", refused: true,
			mapped: []schema.GroupVersionKind{certificate.gvk, serviceMonitor.gvk, prometheusRule.gvk}, want: Available{}, notServed: true},
		{name: "CRDs installed again, served", crds: all, uid: "again",
			mapped: []schema.GroupVersionKind{certificate.gvk, serviceMonitor.gvk, prometheusRule.gvk}, want: Available{Certificates: true, Monitoring: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(scheme.New())
			for _, name := range tc.crds {
				crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: name, UID: tc.uid}}
				if tc.established {
					crd.Spec.Versions = []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1", Served: true}}
					crd.Status.Conditions = []apiextensionsv1.CustomResourceDefinitionCondition{
						{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue}}
				}
				if name == tc.terminating {
					crd.DeletionTimestamp = &metav1.Time{Time: time.Now()}
					crd.Finalizers = []string{"customresourcecleanup.apiextensions.k8s.io"}
				}
				b.WithObjects(crd)
			}
			m := meta.NewDefaultRESTMapper(nil)
			for _, gvk := range tc.mapped {
				m.Add(gvk, meta.RESTScopeNamespace)
			}
			if tc.refused {
				b.WithInterceptorFuncs(interceptor.Funcs{List: func(_ context.Context, _ client.WithWatch, l client.ObjectList, _ ...client.ListOption) error {
					return apierrors.NewNotFound(schema.GroupResource{Group: l.GetObjectKind().GroupVersionKind().Group}, "")
				}})
			}
			c := b.Build()
			got, err := Detect(context.Background(), c, c, m)
			require.Equal(t, tc.want, got)
			if tc.notServed {
				require.ErrorIs(t, err, ErrNotServedYet, "a reconcile fails and is retried with backoff")
			} else {
				require.NoError(t, err)
			}
		})
	}
}

// TestEnqueueAll: a CRD event reconciles every object, once: a reconcile that finds discovery
// behind the CRD fails and is retried with backoff (TestDetect), so no timer looks again.
func TestEnqueueAll(t *testing.T) {
	a := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "a"}}
	b := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: "m", Name: "b"}}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(a, b).Build()
	h := enqueueAll(c, &componentsv1alpha1.DatabaseList{})
	crd := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "servicemonitors.monitoring.coreos.com"}}
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	want := []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(a)}, {NamespacedName: client.ObjectKeyFromObject(b)}}

	h.Update(context.Background(), event.UpdateEvent{ObjectOld: crd, ObjectNew: crd}, q)
	var got []reconcile.Request
	for range want {
		r, shutdown := q.Get()
		require.False(t, shutdown)
		got = append(got, r)
		q.Done(r)
	}
	require.ElementsMatch(t, want, got)
	require.Zero(t, q.Len(), "nothing else is queued")
}

// removals records the informers removed from a cache.
type removals struct {
	cache.Informers
	removed []string
}

func (r *removals) RemoveInformer(_ context.Context, obj client.Object) error {
	r.removed = append(r.removed, fmt.Sprintf("%T", obj))
	return nil
}

// TestForget: a deleted optional CRD takes its kind's informer out of the cache; other CRDs do not.
func TestForget(t *testing.T) {
	r := &removals{}
	forget(context.Background(), r, "servicemonitors.monitoring.coreos.com")
	forget(context.Background(), r, "certificates.cert-manager.io")
	forget(context.Background(), r, "widgets.example.com")
	require.Equal(t, []string{"*v1.ServiceMonitor", "*v1.Certificate"}, r.removed)
}

// TestOnCRDEvent: a CRD being deleted takes its kind's informer out at once (before its watch can
// fail), and again when it is gone; every event still reaches the enqueuing handler.
func TestOnCRDEvent(t *testing.T) {
	r := &removals{}
	var passed []string
	h := onCRDEvent(r, handler.Funcs{
		CreateFunc: func(context.Context, event.CreateEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			passed = append(passed, "create")
		},
		UpdateFunc: func(context.Context, event.UpdateEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			passed = append(passed, "update")
		},
		DeleteFunc: func(context.Context, event.DeleteEvent, workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			passed = append(passed, "delete")
		},
	})
	crd := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "prometheusrules.monitoring.coreos.com"}}
	terminating := crd.DeepCopy()
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	ctx := context.Background()
	h.Create(ctx, event.CreateEvent{Object: crd}, nil)
	h.Update(ctx, event.UpdateEvent{ObjectOld: crd, ObjectNew: crd}, nil)
	require.Empty(t, r.removed, "a served CRD keeps its informer")
	h.Update(ctx, event.UpdateEvent{ObjectOld: crd, ObjectNew: terminating}, nil)
	require.Equal(t, []string{"*v1.PrometheusRule"}, r.removed, "removed as soon as the CRD is being deleted")
	h.Delete(ctx, event.DeleteEvent{Object: terminating}, nil)
	require.Equal(t, []string{"*v1.PrometheusRule", "*v1.PrometheusRule"}, r.removed)
	require.Equal(t, []string{"create", "update", "update", "delete"}, passed)
}

// TestRelease: a dynamic watch that runs while Detect says its kind is gone has its informer
// forgotten, once; Ensure starts it again when the kind is back.
func TestRelease(t *testing.T) {
	r := &removals{}
	starts := 0
	w, err := NewDynamicWatch(&certmanagerv1.Certificate{}, r, func() error { starts++; return nil })
	require.NoError(t, err)
	ctx := context.Background()
	w.Release(ctx)
	require.Empty(t, r.removed, "a watch never started has no informer")
	require.NoError(t, w.Ensure())
	require.NoError(t, w.Ensure())
	require.Equal(t, 1, starts)
	w.Release(ctx)
	w.Release(ctx)
	require.Equal(t, []string{"*v1.Certificate"}, r.removed, "forgotten once")
	require.NoError(t, w.Ensure())
	require.Equal(t, 2, starts, "started again")
}
