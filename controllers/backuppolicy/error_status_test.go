package backuppolicy

import (
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestRetriedErrorReachesStatus: a pass that fails (an admission policy refuses the backup volume) is
// retried, and the user reads why in Ready and Reconciling (reason ReconcileError); observedGeneration
// stays unobserved. Once the policy goes, the policy becomes Ready.
func TestRetriedErrorReachesStatus(t *testing.T) {
	h := start(t, nil)
	lift := h.RefuseCreates("", "persistentvolumeclaims", metav1.StatusReasonForbidden, "claims are frozen in this namespace",
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "probe"}, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}})
	h.database("shop")
	h.policy("shop")
	h.Eventually(func() bool { return testenv.ReportsRetriedError(h.get("shop"), "claims are frozen") }, "the refusal is in Ready and Reconciling")
	require.Zero(t, h.get("shop").Status.ObservedGeneration, "a failed pass observed nothing")

	lift()
	h.Eventually(func() bool { return h.Get(&batchv1.CronJob{}, "shop-backup") == nil }, "the CronJob is created")
	h.Eventually(func() bool {
		bp := h.get("shop")
		return bp.Status.ObservedGeneration == bp.Generation && conditions.IsTrue(bp, componentsv1alpha1.ConditionReady)
	}, "the policy is Ready")
}
