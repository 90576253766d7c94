package frontend

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// TestRetriedErrorReachesStatus: a pass that fails (here an admission policy refuses the Service)
// is retried, and the user reads why in Ready and Reconciling (reason ReconcileError) instead of the
// status of an earlier pass; observedGeneration stays unobserved. Once the policy goes, the Frontend
// becomes Ready.
func TestRetriedErrorReachesStatus(t *testing.T) {
	refuseServices(t, metav1.StatusReasonForbidden, componentsv1alpha1.ReasonReconcileError, componentsv1alpha1.ConditionReconciling)
}

// TestInvalidChildStalls: a child the API server refuses as invalid cannot be fixed by retrying:
// Stalled with reason ChildRejected, as the Stack reports it (and looked at again in a minute, not
// in a tight loop).
func TestInvalidChildStalls(t *testing.T) {
	refuseServices(t, metav1.StatusReasonInvalid, canopyv1alpha1.ReasonChildRejected, componentsv1alpha1.ConditionStalled)
}

// refuseServices has an admission policy refuse the Frontend's Service with reason refusal, checks
// the Frontend reports it in Ready (with reason) and condition, then lifts the policy and checks the
// Frontend becomes Ready.
func refuseServices(t *testing.T, refusal metav1.StatusReason, reason, condition string) {
	h := start(t)
	ctx := context.Background()
	name := "no-services-" + h.NS
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"services"}}}}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: "services are frozen in this namespace",
				Reason: ptr.To(refusal)}}}}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: h.NS}}}}}
	require.NoError(t, h.C.Create(ctx, policy))
	require.NoError(t, h.C.Create(ctx, binding))
	t.Cleanup(func() { _ = h.C.Delete(ctx, binding); _ = h.C.Delete(ctx, policy) })
	probe := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "probe"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	h.Eventually(func() bool { return h.C.Create(ctx, probe.DeepCopy(), client.DryRunAll) != nil }, "the policy is in force")

	h.create("frozen", "1.0")
	h.Eventually(func() bool {
		fe := h.frontend("frozen")
		r := conditions.Get(fe, componentsv1alpha1.ConditionReady)
		return r != nil && r.Reason == reason && strings.Contains(r.Message, "services are frozen") && conditions.IsTrue(fe, condition)
	}, "the refusal is in Ready and %s", condition)
	if refusal != metav1.StatusReasonInvalid {
		require.Zero(t, h.frontend("frozen").Status.ObservedGeneration, "a failed pass observed nothing")
	}

	require.NoError(t, h.C.Delete(ctx, binding))
	h.Eventually(func() bool { return h.C.Create(ctx, probe.DeepCopy(), client.DryRunAll) == nil }, "the policy is lifted")
	h.deploymentAt("frozen", "1.0")
	h.rolledOut("frozen")
	h.waitReady("frozen", "1.0")
}
