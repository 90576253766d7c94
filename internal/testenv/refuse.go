package testenv

import (
	"context"
	"strings"

	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// RefuseCreates has an admission policy refuse, with reason and message, the creation of
// resource (of API group) in h's namespace, and returns once the policy is in force; lift lifts it
// and returns once creates pass it again. probe, an object of that resource, tries the policy in a
// dry run (it need not be valid: only the policy's message is looked for).
func (h *Harness) RefuseCreates(group, resource string, reason metav1.StatusReason, message string, probe client.Object) (lift func()) {
	ctx := context.Background()
	name := "refuse-" + resource + "-" + h.NS
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: []string{resource}}}}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: message, Reason: ptr.To(reason)}}}}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{corev1.LabelMetadataName: h.NS}}}}}
	require.NoError(h.T, h.C.Create(ctx, policy))
	require.NoError(h.T, h.C.Create(ctx, binding))
	h.T.Cleanup(func() { _ = h.C.Delete(ctx, binding); _ = h.C.Delete(ctx, policy) })
	probe.SetNamespace(h.NS)
	refused := func() bool {
		err := h.C.Create(ctx, probe.DeepCopyObject().(client.Object), client.DryRunAll)
		return err != nil && strings.Contains(err.Error(), message)
	}
	h.Eventually(refused, "the policy is in force")
	return func() {
		require.NoError(h.T, h.C.Delete(ctx, binding))
		h.Eventually(func() bool { return !refused() }, "the policy is lifted")
	}
}

// ReportsRetriedError reports whether obj's status says its last reconcile failed with an error
// naming message and is retried: Ready False and Reconciling True with reason ReconcileError.
func ReportsRetriedError(obj conditions.Object, message string) bool {
	r := conditions.Get(obj, componentsv1alpha1.ConditionReady)
	return r != nil && r.Status == metav1.ConditionFalse && r.Reason == componentsv1alpha1.ReasonReconcileError &&
		strings.Contains(r.Message, message) && conditions.IsTrue(obj, componentsv1alpha1.ConditionReconciling)
}
