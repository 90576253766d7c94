package backuppolicy

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestDeletedScheduleIsRecreated: a deleted CronJob or backup volume claim comes back at once, and
// the policy says so with a Recreated event naming the kind and the drift counter; an edited CronJob
// is reverted with Overwritten. The first creation is no remediation.
func TestDeletedScheduleIsRecreated(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	h.policy("shop")
	bp := h.waitReady("shop")
	require.NotContains(t, testenv.EventReasons(t, h.C, bp), "Recreated", "the first creation is no remediation")

	for _, c := range []struct {
		kind, name string
		obj        client.Object
	}{
		{"CronJob", "shop-backup", &batchv1.CronJob{}},
		{"PersistentVolumeClaim", "shop-backups", &corev1.PersistentVolumeClaim{}},
	} {
		counter := metrics.DriftCorrections.WithLabelValues(c.kind, "recreated")
		before := testutil.ToFloat64(counter)
		require.NoError(t, h.Get(c.obj, c.name))
		uid := c.obj.GetUID()
		require.NoError(t, h.C.Delete(context.Background(), c.obj))
		if len(c.obj.GetFinalizers()) > 0 {
			// The API server protects a claim in use (kubernetes.io/pvc-protection); envtest runs no
			// controller to lift it.
			testenv.Mutate(t, h.C, h.Key(c.name), func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} }, false,
				func(p *corev1.PersistentVolumeClaim) { p.Finalizers = nil })
		}
		h.Eventually(func() bool { return h.Get(c.obj, c.name) == nil && c.obj.GetUID() != uid }, "the %s is recreated", c.kind)
		h.Eventually(func() bool { return testutil.ToFloat64(counter) == before+1 }, "the %s's recreation is counted", c.kind)
		h.Eventually(func() bool {
			return slices.ContainsFunc(testenv.EventMessages(t, h.C, bp, "Recreated"), func(m string) bool { return strings.HasPrefix(m, "the "+c.kind+" ") })
		}, "a Recreated event names the %s", c.kind)
	}

	counter := metrics.DriftCorrections.WithLabelValues("CronJob", "overwritten")
	before := testutil.ToFloat64(counter)
	testenv.Mutate(t, h.C, h.Key("shop-backup"), func() *batchv1.CronJob { return &batchv1.CronJob{} }, false,
		func(cj *batchv1.CronJob) { cj.Spec.Schedule = "*/5 * * * *" })
	cj := &batchv1.CronJob{}
	h.Eventually(func() bool { return h.Get(cj, "shop-backup") == nil && cj.Spec.Schedule == "0 2 * * *" }, "the edit is reverted")
	h.Eventually(func() bool { return testutil.ToFloat64(counter) == before+1 }, "the overwrite is counted")
	h.WaitEvent(bp, "Overwritten")
}
