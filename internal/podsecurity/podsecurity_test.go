package podsecurity

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestManagerDeploymentIsRestricted checks the pod template Canopy ships for its own manager.
func TestManagerDeploymentIsRestricted(t *testing.T) {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(root, "config", "manager", "manager.yaml"))
	require.NoError(t, err)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	found := false
	for {
		var d appsv1.Deployment
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if d.Kind != "Deployment" {
			continue
		}
		found = true
		require.NoError(t, CheckRestricted(&d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec))
	}
	require.True(t, found, "config/manager/manager.yaml holds no Deployment")
}

// TestBundleDeploymentIsRestricted checks the manager's pod as OLM creates it, from the CSV's
// install strategy.
func TestBundleDeploymentIsRestricted(t *testing.T) {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(root, "bundle", "manifests", "canopy.clusterserviceversion.yaml"))
	require.NoError(t, err)
	var csv operatorsv1alpha1.ClusterServiceVersion
	require.NoError(t, yaml.Unmarshal(data, &csv))
	deployments := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs
	require.NotEmpty(t, deployments)
	for _, d := range deployments {
		require.NoError(t, CheckRestricted(&d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec), d.Name)
	}
}

// TestCheckRestrictedCatchesViolations proves the check can fail.
func TestCheckRestrictedCatchesViolations(t *testing.T) {
	spec := &corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}
	err := CheckRestricted(&metav1.ObjectMeta{}, spec)
	require.ErrorContains(t, err, "allowPrivilegeEscalation")
	require.ErrorContains(t, err, "runAsNonRoot")
	require.ErrorContains(t, err, "seccompProfile")
}
