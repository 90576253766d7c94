package bundle_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/canopy-dev/canopy/internal/images"
)

// loadCSV reads the bundle's ClusterServiceVersion.
func loadCSV(t *testing.T) *operatorsv1alpha1.ClusterServiceVersion {
	t.Helper()
	var csv operatorsv1alpha1.ClusterServiceVersion
	data, err := os.ReadFile(filepath.Join("manifests", "canopy.clusterserviceversion.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(data, &csv))
	return &csv
}

// loadCRDs reads the bundle's CRDs by name.
func loadCRDs(t *testing.T) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("manifests", "*.canopy.dev_*.yaml"))
	require.NoError(t, err)
	files2, err := filepath.Glob(filepath.Join("manifests", "canopy.dev_*.yaml"))
	require.NoError(t, err)
	out := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, f := range append(files, files2...) {
		var crd apiextensionsv1.CustomResourceDefinition
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(data, &crd))
		out[crd.Name] = &crd
	}
	require.Len(t, out, 4, "the four CRDs")
	return out
}

// schemaAt returns the schema of a descriptor path ("a.b.c", array items are traversed
// implicitly; "a[0].b" and "a.0.b" index arrays), or nil when the schema has no such field.
func schemaAt(s *apiextensionsv1.JSONSchemaProps, path string) *apiextensionsv1.JSONSchemaProps {
	path = regexp.MustCompile(`\[\d+\]`).ReplaceAllString(path, "")
	for _, part := range strings.Split(path, ".") {
		for s.Items != nil && s.Items.Schema != nil {
			s = s.Items.Schema
		}
		if regexp.MustCompile(`^\d+$`).MatchString(part) {
			continue
		}
		p, ok := s.Properties[part]
		if !ok {
			return nil
		}
		s = &p
	}
	return s
}

func versionSchema(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition, version string) *apiextensionsv1.JSONSchemaProps {
	t.Helper()
	for _, v := range crd.Spec.Versions {
		if v.Name == version {
			return v.Schema.OpenAPIV3Schema
		}
	}
	t.Fatalf("%s has no version %s", crd.Name, version)
	return nil
}

// TestScorecardEquivalents makes the checks of scorecard's basic and OLM tests without a cluster:
// every alm-example has a spec (basic-check-spec); every top-level key of an example's spec is a
// property of the CRD's schema (olm-crds-have-validation) and has a spec descriptor
// (olm-spec-descriptors); every owned CRD lists the resources it creates (olm-crds-have-resources).
// Stronger than scorecard: every descriptor path exists in the CRD's schema, and every top-level
// spec and status field of the Stack (the kind users create) has a descriptor.
func TestScorecardEquivalents(t *testing.T) {
	csv := loadCSV(t)
	crds := loadCRDs(t)
	owned := map[string]operatorsv1alpha1.CRDDescription{}
	for _, d := range csv.Spec.CustomResourceDefinitions.Owned {
		owned[d.Kind] = d
		require.NotEmpty(t, d.Resources, "%s lists no resources", d.Name)
		require.NotEmpty(t, d.DisplayName, d.Name)
		require.NotEmpty(t, d.Description, d.Name)
		crd, ok := crds[d.Name]
		require.True(t, ok, "owned %s has no CRD in the bundle", d.Name)
		schema := versionSchema(t, crd, d.Version)
		for _, sd := range d.SpecDescriptors {
			require.NotNil(t, schemaAt(schema, "spec."+sd.Path), "%s: spec descriptor %q is not in the schema", d.Name, sd.Path)
			require.NotEmpty(t, sd.DisplayName, "%s: spec descriptor %s", d.Name, sd.Path)
		}
		for _, sd := range d.StatusDescriptors {
			require.NotNil(t, schemaAt(schema, "status."+sd.Path), "%s: status descriptor %q is not in the schema", d.Name, sd.Path)
			require.NotEmpty(t, sd.DisplayName, "%s: status descriptor %s", d.Name, sd.Path)
		}
	}

	var examples []map[string]any
	require.NoError(t, json.Unmarshal([]byte(csv.Annotations["alm-examples"]), &examples))
	kinds := map[string]bool{}
	for _, ex := range examples {
		kind, _ := ex["kind"].(string)
		kinds[kind] = true
		d, ok := owned[kind]
		require.True(t, ok, "example of %s, which the CSV does not own", kind)
		require.Equal(t, strings.SplitN(d.Name, ".", 2)[1]+"/"+d.Version, ex["apiVersion"], kind)
		spec, ok := ex["spec"].(map[string]any)
		require.True(t, ok && len(spec) > 0, "the %s example has no spec", kind)
		schema := versionSchema(t, crds[d.Name], d.Version)
		for key := range spec {
			require.NotNil(t, schemaAt(schema, "spec."+key), "%s example: spec.%s is not in the schema", kind, key)
			require.True(t, slices.ContainsFunc(d.SpecDescriptors, func(s operatorsv1alpha1.SpecDescriptor) bool { return s.Path == key }),
				"%s example: spec.%s has no spec descriptor", kind, key)
		}
	}
	require.Len(t, kinds, len(owned), "one example per owned kind")

	stack := owned["Stack"]
	schema := versionSchema(t, crds[stack.Name], stack.Version)
	for key := range schema.Properties["spec"].Properties {
		require.True(t, slices.ContainsFunc(stack.SpecDescriptors, func(s operatorsv1alpha1.SpecDescriptor) bool { return s.Path == key }),
			"Stack spec.%s has no spec descriptor", key)
	}
	for key := range schema.Properties["status"].Properties {
		require.True(t, slices.ContainsFunc(stack.StatusDescriptors, func(s operatorsv1alpha1.StatusDescriptor) bool { return s.Path == key }),
			"Stack status.%s has no status descriptor", key)
	}
}

// TestCSVMetadata: what OperatorHub and the console read, and what Canopy's decisions fix.
func TestCSVMetadata(t *testing.T) {
	csv := loadCSV(t)
	a := csv.Annotations
	require.Equal(t, "canopy.v"+csv.Spec.Version.String(), csv.Name)
	require.Equal(t, "Application Runtime, Database", a["categories"])
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`, a["createdAt"])
	require.NotEmpty(t, a["description"])
	require.NotEmpty(t, a["repository"])
	require.NotEmpty(t, a["support"])
	require.Len(t, csv.Spec.Icon, 1)
	require.Equal(t, "image/svg+xml", csv.Spec.Icon[0].MediaType)
	require.NotEmpty(t, csv.Spec.Keywords)
	require.NotEmpty(t, csv.Spec.Links)
	require.NotEmpty(t, csv.Spec.Maintainers)
	require.Equal(t, "1.37.0", csv.Spec.MinKubeVersion)

	// AllNamespaces only (the dependencies' install modes; docs/olm.md).
	modes := map[operatorsv1alpha1.InstallModeType]bool{}
	for _, m := range csv.Spec.InstallModes {
		modes[m.Type] = m.Supported
	}
	require.Equal(t, map[operatorsv1alpha1.InstallModeType]bool{
		operatorsv1alpha1.InstallModeTypeOwnNamespace: false, operatorsv1alpha1.InstallModeTypeSingleNamespace: false,
		operatorsv1alpha1.InstallModeTypeMultiNamespace: false, operatorsv1alpha1.InstallModeTypeAllNamespaces: true,
	}, modes)

	// internal-objects: every owned CRD but the Stack.
	var internal []string
	require.NoError(t, json.Unmarshal([]byte(a["operators.operatorframework.io/internal-objects"]), &internal))
	var want []string
	for _, d := range csv.Spec.CustomResourceDefinitions.Owned {
		if d.Name != "stacks.canopy.dev" {
			want = append(want, d.Name)
		}
	}
	sort.Strings(internal)
	require.Equal(t, want, internal)

	// Dependencies: the same three APIs as olm.gvk and as required CRDs.
	var deps struct {
		Dependencies []struct {
			Type  string            `json:"type"`
			Value map[string]string `json:"value"`
		} `json:"dependencies"`
	}
	data, err := os.ReadFile(filepath.Join("metadata", "dependencies.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(data, &deps))
	var gotDeps, gotRequired []string
	for _, d := range deps.Dependencies {
		require.Equal(t, "olm.gvk", d.Type)
		gotDeps = append(gotDeps, d.Value["group"]+"/"+d.Value["version"]+"/"+d.Value["kind"])
	}
	for _, r := range csv.Spec.CustomResourceDefinitions.Required {
		require.NotEmpty(t, r.Description, r.Name)
		_, group, _ := strings.Cut(r.Name, ".")
		gotRequired = append(gotRequired, group+"/"+r.Version+"/"+r.Kind)
	}
	sort.Strings(gotDeps)
	sort.Strings(gotRequired)
	wantDeps := []string{"cert-manager.io/v1/Certificate", "monitoring.coreos.com/v1/PrometheusRule", "monitoring.coreos.com/v1/ServiceMonitor"}
	require.Equal(t, wantDeps, gotDeps)
	require.Equal(t, wantDeps, gotRequired)
}

// TestImagesAgree: relatedImages, the RELATED_IMAGE_* variables of the CSV's Deployment, the
// containerImage annotation, the Deployment's image and the Makefile's IMG all come from
// internal/images.
func TestImagesAgree(t *testing.T) {
	csv := loadCSV(t)
	var related []string
	for _, r := range csv.Spec.RelatedImages {
		related = append(related, r.Name+"="+r.Image)
	}
	var want []string
	wantEnv := map[string]string{}
	for _, img := range images.Defaults() {
		want = append(want, img.Name+"="+img.Ref)
		wantEnv[img.Env] = img.Ref
	}
	require.Equal(t, want, related)

	deps := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs
	require.Len(t, deps, 1)
	containers := deps[0].Spec.Template.Spec.Containers
	require.Len(t, containers, 1)
	c := containers[0]
	require.Equal(t, images.Canopy.Ref, c.Image)
	require.Equal(t, images.Canopy.Ref, csv.Annotations["containerImage"])
	env := map[string]string{}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "RELATED_IMAGE_") {
			env[e.Name] = e.Value
		}
	}
	require.Equal(t, wantEnv, env)
	require.Equal(t, c.Image, env[images.Canopy.Env], "backup and restore Jobs run the manager's own image")

	makefile, err := os.ReadFile(filepath.Join("..", "Makefile"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^IMG \?= (\S+)$`).FindSubmatch(makefile)
	require.NotNil(t, m)
	require.Equal(t, c.Image, string(m[1]), "the Makefile's IMG")
}

// TestInstallStrategy: the Deployment OLM creates watches the OperatorGroup's namespaces, leaves
// OPERATOR_CONDITION_NAME to OLM, and its ServiceAccount is not shipped as a manifest.
func TestInstallStrategy(t *testing.T) {
	csv := loadCSV(t)
	dep := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs[0]
	require.Equal(t, "canopy-controller-manager", dep.Name)
	pod := dep.Spec.Template.Spec
	require.Equal(t, "canopy-controller-manager", pod.ServiceAccountName)
	var watch *corev1.EnvVar
	for i, e := range pod.Containers[0].Env {
		require.NotEqual(t, "OPERATOR_CONDITION_NAME", e.Name, "OLM injects it")
		if e.Name == "WATCH_NAMESPACE" {
			watch = &pod.Containers[0].Env[i]
		}
	}
	require.NotNil(t, watch)
	require.NotNil(t, watch.ValueFrom)
	require.Equal(t, "metadata.annotations['olm.targetNamespaces']", watch.ValueFrom.FieldRef.FieldPath)
	for _, p := range append(csv.Spec.InstallStrategy.StrategySpec.Permissions, csv.Spec.InstallStrategy.StrategySpec.ClusterPermissions...) {
		require.Equal(t, pod.ServiceAccountName, p.ServiceAccountName)
	}

	files, err := filepath.Glob(filepath.Join("manifests", "*"))
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var meta struct{ Kind string }
		require.NoError(t, yaml.Unmarshal(data, &meta))
		require.NotEqual(t, "ServiceAccount", meta.Kind, f)
	}
}

// configRules reads the rules config/rbac grants the manager's ServiceAccount: manager-role and
// the leader-election Role.
func configRules(t *testing.T) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.ClusterRole
	data, err := os.ReadFile(filepath.Join("..", "config", "rbac", "role.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &role))
	var leader rbacv1.Role
	data, err = os.ReadFile(filepath.Join("..", "config", "rbac", "leader_election_role.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &leader))
	return append(role.Rules, leader.Rules...)
}

// grants flattens rules into "group/resource verb" and "url verb" entries.
func grants(rules []rbacv1.PolicyRule) []string {
	set := map[string]bool{}
	for _, r := range rules {
		for _, v := range r.Verbs {
			for _, u := range r.NonResourceURLs {
				set[u+" "+v] = true
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					set[g+"/"+res+" "+v] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestPermissionsAreConfigRBAC: permissions ∪ clusterPermissions grant exactly what config/rbac
// grants the manager; no rule writes CRDs; the operatorconditions rule is gone (OLM's own Role
// grants the gate what it needs).
func TestPermissionsAreConfigRBAC(t *testing.T) {
	csv := loadCSV(t)
	s := csv.Spec.InstallStrategy.StrategySpec
	var all []rbacv1.PolicyRule
	for _, p := range append(s.Permissions, s.ClusterPermissions...) {
		all = append(all, p.Rules...)
	}
	require.Equal(t, grants(configRules(t)), grants(all))
	for _, g := range grants(all) {
		require.NotContains(t, g, "operatorconditions")
		if strings.HasPrefix(g, "apiextensions.k8s.io/customresourcedefinitions ") {
			verb := strings.Fields(g)[1]
			require.Contains(t, []string{"get", "list", "watch"}, verb, "CRDs are only read: %s", g)
		}
	}
}
