package database

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestDeletedChildrenAreRecreated: a deleted StatefulSet, Service or NetworkPolicy comes back, and
// the Database says so with a Recreated event and the drift counter; the first creation does not.
func TestDeletedChildrenAreRecreated(t *testing.T) {
	h := start(t)
	db := h.readyDatabase("gone", "17.2")
	require.NotContains(t, testenv.EventReasons(t, h.C, db), "Recreated", "the first creation is no remediation")

	for _, c := range []struct {
		kind, name string
		obj        client.Object
	}{
		{"StatefulSet", "gone-postgres", &appsv1.StatefulSet{}},
		{"Service", "gone-postgres", &corev1.Service{}},
		{"NetworkPolicy", "gone-postgres", &networkingv1.NetworkPolicy{}},
	} {
		counter := metrics.DriftCorrections.WithLabelValues(c.kind, "recreated")
		before := testutil.ToFloat64(counter)
		require.NoError(t, h.Get(c.obj, c.name))
		uid := c.obj.GetUID()
		require.NoError(t, h.C.Delete(context.Background(), c.obj))
		h.Eventually(func() bool { return h.Get(c.obj, c.name) == nil && c.obj.GetUID() != uid }, "the %s is recreated", c.kind)
		h.Eventually(func() bool { return testutil.ToFloat64(counter) == before+1 }, "the %s's recreation is counted", c.kind)
	}
	h.WaitEvent(db, "Recreated")
}
