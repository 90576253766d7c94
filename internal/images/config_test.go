package images

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// TestManagerDeploymentCarriesEveryImage: OLM sets no RELATED_IMAGE_* variable, so config/manager's
// Deployment carries one for every default image, with the default reference, and
// RELATED_IMAGE_CANOPY (the backup and restore Jobs' image) is the manager's own image as the
// kustomization and the Makefile's IMG set it.
func TestManagerDeploymentCarriesEveryImage(t *testing.T) {
	root := filepath.Join("..", "..")
	data, err := os.ReadFile(filepath.Join(root, "config", "manager", "manager.yaml"))
	require.NoError(t, err)
	var dep *appsv1.Deployment
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		var d appsv1.Deployment
		require.NoError(t, yaml.Unmarshal(doc, &d))
		if d.Kind == "Deployment" {
			dep = &d
		}
	}
	require.NotNil(t, dep)
	require.Len(t, dep.Spec.Template.Spec.Containers, 1)
	env := map[string]string{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if regexp.MustCompile(`^RELATED_IMAGE_`).MatchString(e.Name) {
			require.Nil(t, e.ValueFrom, e.Name)
			env[e.Name] = e.Value
		}
	}
	want := map[string]string{}
	for _, img := range Defaults() {
		want[img.Env] = img.Ref
	}
	require.Equal(t, want, env)

	var kust struct {
		Images []struct{ Name, NewName, NewTag string } `json:"images"`
	}
	data, err = os.ReadFile(filepath.Join(root, "config", "manager", "kustomization.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &kust))
	require.Len(t, kust.Images, 1)
	require.Equal(t, Canopy.Ref, kust.Images[0].NewName+":"+kust.Images[0].NewTag, "config/manager/kustomization.yaml")

	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^IMG \?= (\S+)$`).FindSubmatch(makefile)
	require.NotNil(t, m, "the Makefile sets IMG")
	require.Equal(t, Canopy.Ref, string(m[1]), "the Makefile's IMG")
}
