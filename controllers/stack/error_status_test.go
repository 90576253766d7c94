package stack

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestRetriedErrorReachesStatus: a pass that fails (an admission policy refuses the Database) is
// retried, and the user reads why in Ready and Reconciling (reason ReconcileError) instead of a
// stale Ready; observedGeneration stays unobserved. Once the policy goes, the Stack becomes Ready.
func TestRetriedErrorReachesStatus(t *testing.T) {
	h := start(t)
	lift := h.RefuseCreates("components.canopy.dev", "databases", metav1.StatusReasonForbidden, "databases are frozen in this namespace",
		&componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Name: "probe"}, Spec: componentsv1alpha1.DatabaseSpec{Version: "17",
			Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}})
	h.newStack("frozen", "1.0")
	h.Eventually(func() bool { return testenv.ReportsRetriedError(h.stack("frozen"), "databases are frozen") }, "the refusal is in Ready and Reconciling")
	require.Zero(t, h.stack("frozen").Status.ObservedGeneration, "a failed pass observed nothing")

	lift()
	h.Eventually(func() bool { return h.Get(&componentsv1alpha1.Database{}, "frozen") == nil }, "the Database is created")
	h.databaseReady("frozen")
	h.Eventually(func() bool { return h.Get(&componentsv1alpha1.Frontend{}, "frozen") == nil }, "the Frontend is created")
	h.Eventually(func() bool { return h.Get(&componentsv1alpha1.BackupPolicy{}, "frozen") == nil }, "the BackupPolicy is created")
	h.backupReady("frozen", nil)
	h.frontendServing("frozen", "1.0")
	h.waitReady("frozen")
}
