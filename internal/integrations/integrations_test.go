package integrations

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
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

func TestDetect(t *testing.T) {
	m := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "cert-manager.io", Version: "v1"}, {Group: "monitoring.coreos.com", Version: "v1"}})
	require.Equal(t, Available{}, Detect(m))
	m.Add(schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}, meta.RESTScopeNamespace)
	require.Equal(t, Available{Certificates: true}, Detect(m), "monitoring needs both of its kinds")
	m.Add(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"}, meta.RESTScopeNamespace)
	require.Equal(t, Available{Certificates: true, Monitoring: true}, Detect(m))
}

// TestEnqueueAllLooksAgainAfterDiscovery: a CRD event reconciles every object now, and again once
// discovery has caught up with the CRD (its Established event can come first). The queue is
// controller-runtime's priority queue, which folds a delayed add into a queued entry.
func TestEnqueueAllLooksAgainAfterDiscovery(t *testing.T) {
	var scheduled []time.Duration
	var looks []func()
	defer func(orig func(time.Duration, func())) { later = orig }(later)
	later = func(d time.Duration, f func()) { scheduled, looks = append(scheduled, d), append(looks, f) }

	a := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "a"}}
	b := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: "m", Name: "b"}}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(a, b).Build()
	h := EnqueueAll(c, &componentsv1alpha1.DatabaseList{})
	crd := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "servicemonitors.monitoring.coreos.com"}}
	q := priorityqueue.New[reconcile.Request]("test")
	defer q.ShutDown()
	want := []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(a)}, {NamespacedName: client.ObjectKeyFromObject(b)}}

	drain := func(round string) {
		t.Helper()
		var got []reconcile.Request
		for range want {
			r, shutdown := q.Get()
			require.False(t, shutdown)
			got = append(got, r)
			q.Done(r)
		}
		require.ElementsMatch(t, want, got, round)
		require.Zero(t, q.Len(), round)
	}
	h.Update(context.Background(), event.UpdateEvent{ObjectOld: crd, ObjectNew: crd}, q)
	drain("now")
	require.Equal(t, discoveryLags, scheduled)
	require.GreaterOrEqual(t, scheduled[len(scheduled)-1], 30*time.Second, "the last look is late enough for a loaded server")
	for i, look := range looks {
		look()
		drain(fmt.Sprintf("look %d, after %s", i+1, scheduled[i]))
	}
}
