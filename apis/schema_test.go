package apis_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/yaml"

	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestEveryFieldIsDocumented walks the generated CRDs: every field a user can set or read must
// carry a description, which is what `kubectl explain` shows.
func TestEveryFieldIsDocumented(t *testing.T) {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	require.NoError(t, err)
	require.Len(t, files, 4, "one CRD per kind: Stack, Database, Frontend, BackupPolicy")
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		crd := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, yaml.UnmarshalStrict(data, crd), f)
		for _, v := range crd.Spec.Versions {
			var missing []string
			walk(v.Schema.OpenAPIV3Schema, crd.Spec.Names.Kind, &missing)
			sort.Strings(missing)
			require.Empty(t, missing, "%s %s: fields without a description", crd.Name, v.Name)
		}
	}
}

func walk(s *apiextensionsv1.JSONSchemaProps, path string, missing *[]string) {
	for name, p := range s.Properties {
		child := path + "." + name
		if p.Description == "" && (name != "metadata" || strings.Contains(path, ".")) {
			*missing = append(*missing, child)
		}
		walk(&p, child, missing)
	}
	if s.Items != nil && s.Items.Schema != nil {
		walk(s.Items.Schema, path+"[]", missing)
	}
}

// TestExplainShowsDocumentedFields reads the OpenAPI v3 document the API server publishes for
// canopy.dev, the source of `kubectl explain stack.spec`, and checks that it documents the fields.
func TestExplainShowsDocumentedFields(t *testing.T) {
	e := testenv.Require(t, env)
	dc, err := discovery.NewDiscoveryClientForConfig(e.Config)
	require.NoError(t, err)
	// The API server publishes a new CRD's schema asynchronously.
	var raw []byte
	require.Eventually(t, func() bool {
		paths, err := dc.OpenAPIV3().Paths()
		if err != nil {
			return false
		}
		gv, ok := paths["apis/canopy.dev/v1alpha1"]
		if !ok {
			return false
		}
		raw, err = gv.Schema("application/json")
		return err == nil && strings.Contains(string(raw), "dev.canopy.v1alpha1.Stack")
	}, 30*time.Second, 200*time.Millisecond, "the API server publishes no OpenAPI document for canopy.dev/v1alpha1")

	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Description string `json:"description"`
				Properties  map[string]struct {
					Description string `json:"description"`
					Properties  map[string]struct {
						Description string `json:"description"`
					} `json:"properties"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	stack, ok := doc.Components.Schemas["dev.canopy.v1alpha1.Stack"]
	require.True(t, ok, "no Stack schema in the published document")
	require.Contains(t, stack.Description, "one application")
	spec := stack.Properties["spec"]
	require.NotEmpty(t, spec.Description)
	for _, field := range []string{"version", "frontend", "database", "backup", "restore", "restoreRequest", "tls",
		"monitoring", "deletionPolicy", "dataRetention", "paused", "rollout"} {
		require.NotEmpty(t, spec.Properties[field].Description, "stack.spec.%s has no description", field)
	}
}
