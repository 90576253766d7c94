package database

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// NetworkPolicy admits to PostgreSQL only the client pods the spec selects (the Stack's web tier,
// migration and backup jobs), and to the exporter only the Prometheus namespace when monitoring is
// on. Everything else is refused.
//
// operatorNamespace, when known, also admits Canopy's manager (by common.ManagerPodLabels), which
// connects as the superuser to rotate credentials.
func NetworkPolicy(db *componentsv1alpha1.Database, operatorNamespace string) *networkingv1.NetworkPolicy {
	tcp := ptr.To(corev1.ProtocolTCP)
	var clients []networkingv1.NetworkPolicyPeer
	for i := range db.Spec.Clients {
		clients = append(clients, networkingv1.NetworkPolicyPeer{PodSelector: db.Spec.Clients[i].DeepCopy()})
	}
	if operatorNamespace != "" {
		clients = append(clients, networkingv1.NetworkPolicyPeer{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": operatorNamespace}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: common.ManagerPodLabels()},
		})
	}
	rules := []networkingv1.NetworkPolicyIngressRule{}
	if len(clients) > 0 {
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			From:  clients,
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp, Port: ptr.To(intstr.FromInt32(Port))}},
		})
	}
	if monitoringOn(db) {
		scraper := networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{}}
		if ns := db.Spec.Monitoring.PrometheusNamespace; ns != "" {
			scraper.NamespaceSelector.MatchLabels = map[string]string{"kubernetes.io/metadata.name": ns}
		}
		rules = append(rules, networkingv1.NetworkPolicyIngressRule{
			From:  []networkingv1.NetworkPolicyPeer{scraper},
			Ports: []networkingv1.NetworkPolicyPort{{Protocol: tcp, Port: ptr.To(intstr.FromInt32(ExporterPort))}},
		})
	}
	return &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(db, Name(db)),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: SelectorLabels(db)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress:     rules,
		},
	}
}

// PodDisruptionBudget for a single instance: one voluntary disruption at a time. A budget that
// allowed none would block every node drain forever; this one makes the policy explicit and lets a
// drain proceed with a short, planned interruption.
func PodDisruptionBudget(db *componentsv1alpha1.Database) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(db, Name(db)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable: ptr.To(intstr.FromInt32(1)),
			Selector:       &metav1.LabelSelector{MatchLabels: SelectorLabels(db)},
		},
	}
}
