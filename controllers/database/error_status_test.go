package database

import (
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestRetriedErrorReachesStatus: a pass that fails (an admission policy refuses its Secrets) is
// retried, and the user reads why in Ready and Reconciling (reason ReconcileError); observedGeneration
// stays unobserved. Once the policy goes, the Database becomes Ready.
func TestRetriedErrorReachesStatus(t *testing.T) {
	h := start(t)
	lift := h.RefuseCreates("", "secrets", metav1.StatusReasonForbidden, "secrets are frozen in this namespace",
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "probe"}})
	h.create("frozen", "17")
	h.Eventually(func() bool { return testenv.ReportsRetriedError(h.database("frozen"), "secrets are frozen") }, "the refusal is in Ready and Reconciling")
	require.Zero(t, h.database("frozen").Status.ObservedGeneration, "a failed pass observed nothing")

	lift()
	h.statefulSet("frozen", func(*appsv1.StatefulSet) bool { return true }, "the StatefulSet is created")
	h.runPod("frozen", true, "")
	h.waitReady("frozen")
}
