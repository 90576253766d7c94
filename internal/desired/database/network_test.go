package database

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// managerDeployment reads the manager's Deployment from config/manager.
func managerDeployment(t *testing.T) *appsv1.Deployment {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "manager", "manager.yaml"))
	require.NoError(t, err)
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var d appsv1.Deployment
		require.NoError(t, yaml.Unmarshal(doc, &d))
		if d.Kind == "Deployment" {
			return &d
		}
	}
	t.Fatal("config/manager/manager.yaml holds no Deployment")
	return nil
}

// TestNetworkPolicyAdmitsTheManagerByItsOwnLabels: the manager is admitted from its namespace by
// labels its pod really carries, and a pod there with only the kubebuilder default label (which
// other operators in a shared OLM namespace carry) is not.
func TestNetworkPolicyAdmitsTheManagerByItsOwnLabels(t *testing.T) {
	np := NetworkPolicy(full(), "operators")
	var peer *metav1.LabelSelector
	for _, r := range np.Spec.Ingress {
		for _, p := range r.From {
			if p.NamespaceSelector != nil && p.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == "operators" {
				peer = p.PodSelector
			}
		}
	}
	require.NotNil(t, peer, "the manager's namespace is admitted")
	sel, err := metav1.LabelSelectorAsSelector(peer)
	require.NoError(t, err)

	pod := managerDeployment(t).Spec.Template.Labels
	require.True(t, sel.Matches(labels.Set(pod)), "config/manager's pod labels %v match %v", pod, peer)
	require.False(t, sel.Matches(labels.Set{"control-plane": "controller-manager"}), "another operator's manager is not admitted")
	require.False(t, sel.Matches(labels.Set{"app.kubernetes.io/name": "canopy", "control-plane": "controller-manager"}))
}
