// Package bundle_test checks the OLM bundle's metadata.
package bundle_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestAnnotationsMatchDockerfileLabels: OLM reads the annotations file, registries read the image
// labels; they must say the same.
func TestAnnotationsMatchDockerfileLabels(t *testing.T) {
	var meta struct {
		Annotations map[string]string `json:"annotations"`
	}
	data, err := os.ReadFile("metadata/annotations.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(data, &meta))

	dockerfile, err := os.ReadFile("../bundle.Dockerfile")
	require.NoError(t, err)
	labels := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^LABEL (\S+)=(\S+)$`).FindAllStringSubmatch(string(dockerfile), -1) {
		labels[m[1]] = m[2]
	}
	require.Equal(t, meta.Annotations, labels)
	require.Equal(t, "canopy", labels["operators.operatorframework.io.bundle.package.v1"])
	require.Equal(t, "registry+v1", labels["operators.operatorframework.io.bundle.mediatype.v1"])
}
