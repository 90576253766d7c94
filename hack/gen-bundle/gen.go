package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/operator-framework/api/pkg/lib/version"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/blang/semver/v4"

	"github.com/canopy-dev/canopy/internal/images"
)

// Package and channel of the bundle. bundle.Dockerfile carries the same values as labels (a test
// in bundle/ compares them with metadata/annotations.yaml).
const (
	PackageName = "canopy"
	// Channel is the only channel: GoodPractices wants channel names prefixed stable, fast or
	// candidate. The maturity (spec.maturity) stays alpha.
	Channel = "stable"
	// ScorecardImage runs scorecard's basic and OLM tests (`operator-sdk scorecard bundle/`).
	ScorecardImage = "quay.io/operator-framework/scorecard-test:v1.39.2"
	// WatchNamespaceEnv is filled by OLM from the OperatorGroup's target namespaces.
	WatchNamespaceEnv = "WATCH_NAMESPACE"
	// TargetNamespacesFieldPath is where OLM writes those namespaces on the operator's pod.
	TargetNamespacesFieldPath = "metadata.annotations['olm.targetNamespaces']"
	// InternalObjectsAnnotation hides the internal kinds in the console.
	InternalObjectsAnnotation = "operators.operatorframework.io/internal-objects"
	// PublicCRD is the one kind users create; every other owned CRD is internal.
	PublicCRD = "stacks.canopy.dev"
)

// Release is config/manifests/release.yaml.
type Release struct {
	Version   string `json:"version"`
	CreatedAt string `json:"createdAt"`
	Replaces  string `json:"replaces"`
	SkipRange string `json:"skipRange"`
}

// File is one generated file, relative to the bundle folder.
type File struct {
	Path string
	Data []byte
}

// Write generates the bundle from the repository at root into out: manifests/, metadata/ and
// tests/ are replaced; other files in out (README.md, tests of the bundle) are kept.
func Write(root, out string) error {
	files, err := Generate(root)
	if err != nil {
		return err
	}
	for _, dir := range []string{"manifests", "metadata", "tests"} {
		if err := os.RemoveAll(filepath.Join(out, dir)); err != nil {
			return err
		}
	}
	for _, f := range files {
		p := filepath.Join(out, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Generate computes every file of the bundle, sorted by path.
func Generate(root string) ([]File, error) {
	g := &generator{root: root}
	files, err := g.run()
	if err != nil {
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

type generator struct {
	root string
	// prefix and labels come from config/default's kustomization.
	prefix string
	labels map[string]string
}

func (g *generator) path(parts ...string) string {
	return filepath.Join(append([]string{g.root}, parts...)...)
}

func (g *generator) run() ([]File, error) {
	if err := g.readDefault(); err != nil {
		return nil, err
	}
	var rel Release
	if err := readYAML(g.path("config", "manifests", "release.yaml"), &rel); err != nil {
		return nil, err
	}
	var base operatorsv1alpha1.ClusterServiceVersion
	if err := readYAML(g.path("config", "manifests", "bases", PackageName+".clusterserviceversion.yaml"), &base); err != nil {
		return nil, err
	}
	csv := base.DeepCopy()
	var files []File

	// CRDs, byte for byte, and the owned list.
	crdFiles, err := filepath.Glob(g.path("config", "crd", "bases", "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(crdFiles)
	var owned []operatorsv1alpha1.CRDDescription
	for _, f := range crdFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		files = append(files, File{Path: filepath.Join("manifests", filepath.Base(f)), Data: data})
		human, ok := findOwned(base.Spec.CustomResourceDefinitions.Owned, crd.Name)
		if !ok {
			return nil, fmt.Errorf("the base CSV has no owned entry for %s: add its display name, description and descriptors", crd.Name)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			d := *human.DeepCopy()
			d.Name, d.Version, d.Kind = crd.Name, v.Name, crd.Spec.Names.Kind
			owned = append(owned, d)
		}
	}
	for _, h := range base.Spec.CustomResourceDefinitions.Owned {
		if !slices.ContainsFunc(owned, func(d operatorsv1alpha1.CRDDescription) bool { return d.Name == h.Name }) {
			return nil, fmt.Errorf("the base CSV describes %s, which config/crd/bases does not hold", h.Name)
		}
	}
	sort.Slice(owned, func(i, j int) bool {
		a, b := owned[i], owned[j]
		return a.Name+"/"+a.Version < b.Name+"/"+b.Version
	})
	csv.Spec.CustomResourceDefinitions.Owned = owned
	required := slices.Clone(base.Spec.CustomResourceDefinitions.Required)
	sort.Slice(required, func(i, j int) bool { return required[i].Name < required[j].Name })
	csv.Spec.CustomResourceDefinitions.Required = required

	// Name, version, annotations.
	v, err := semver.Parse(rel.Version)
	if err != nil {
		return nil, fmt.Errorf("release.yaml version: %w", err)
	}
	csv.Name = PackageName + ".v" + rel.Version
	csv.Spec.Version = version.OperatorVersion{Version: v}
	csv.Spec.Replaces = rel.Replaces
	if rel.CreatedAt == "" {
		return nil, errors.New("release.yaml has no createdAt")
	}
	ann := map[string]string{}
	for k, val := range base.Annotations {
		ann[k] = val
	}
	ann["containerImage"] = images.Canopy.Ref
	ann["createdAt"] = rel.CreatedAt
	if rel.SkipRange != "" {
		if _, err := semver.ParseRange(rel.SkipRange); err != nil {
			return nil, fmt.Errorf("release.yaml skipRange %q: %w", rel.SkipRange, err)
		}
		ann["olm.skipRange"] = rel.SkipRange
	}
	examples, err := g.examples()
	if err != nil {
		return nil, err
	}
	ann["alm-examples"] = examples
	var internal []string
	for _, d := range owned {
		if d.Name != PublicCRD && !slices.Contains(internal, d.Name) {
			internal = append(internal, d.Name)
		}
	}
	internalJSON, err := json.Marshal(internal)
	if err != nil {
		return nil, err
	}
	ann[InternalObjectsAnnotation] = string(internalJSON)
	csv.Annotations = ann

	// Icon.
	svg, err := os.ReadFile(g.path("config", "manifests", "bases", PackageName+".svg"))
	if err != nil {
		return nil, err
	}
	csv.Spec.Icon = []operatorsv1alpha1.Icon{{Data: base64.StdEncoding.EncodeToString(svg), MediaType: "image/svg+xml"}}

	// Images.
	for _, img := range images.Defaults() {
		csv.Spec.RelatedImages = append(csv.Spec.RelatedImages, operatorsv1alpha1.RelatedImage{Name: img.Name, Image: img.Ref})
	}

	// Install strategy.
	strategy, extra, err := g.install()
	if err != nil {
		return nil, err
	}
	csv.Spec.InstallStrategy = operatorsv1alpha1.NamedInstallStrategy{
		StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment,
		StrategySpec: strategy,
	}
	csv.APIVersion = operatorsv1alpha1.ClusterServiceVersionAPIVersion
	csv.Kind = operatorsv1alpha1.ClusterServiceVersionKind

	data, err := marshal(csv)
	if err != nil {
		return nil, err
	}
	files = append(files, File{Path: filepath.Join("manifests", PackageName+".clusterserviceversion.yaml"), Data: data})
	files = append(files, extra...)

	meta, err := g.metadata(required)
	if err != nil {
		return nil, err
	}
	return append(files, meta...), nil
}

func findOwned(list []operatorsv1alpha1.CRDDescription, name string) (operatorsv1alpha1.CRDDescription, bool) {
	for _, d := range list {
		if d.Name == name {
			return d, true
		}
	}
	return operatorsv1alpha1.CRDDescription{}, false
}

// readDefault reads the name prefix and the common labels config/default gives every object.
func (g *generator) readDefault() error {
	var k struct {
		NamePrefix string `json:"namePrefix"`
		Labels     []struct {
			IncludeSelectors bool              `json:"includeSelectors"`
			Pairs            map[string]string `json:"pairs"`
		} `json:"labels"`
	}
	if err := readLoose(g.path("config", "default", "kustomization.yaml"), &k); err != nil {
		return err
	}
	g.prefix = k.NamePrefix
	g.labels = map[string]string{}
	for _, l := range k.Labels {
		if l.IncludeSelectors {
			return errors.New("config/default: labels with includeSelectors are not supported by gen-bundle")
		}
		for key, val := range l.Pairs {
			g.labels[key] = val
		}
	}
	return nil
}

// withLabels returns the object's labels plus config/default's.
func (g *generator) withLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		out[k] = v
	}
	for k, v := range g.labels {
		out[k] = v
	}
	return out
}

// examples returns alm-examples: config/manifests/examples/*.yaml as a JSON array, sorted by kind.
func (g *generator) examples() (string, error) {
	files, err := filepath.Glob(g.path("config", "manifests", "examples", "*.yaml"))
	if err != nil {
		return "", err
	}
	var objs []map[string]any
	for _, f := range files {
		var u map[string]any
		if err := readYAML(f, &u); err != nil {
			return "", err
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		return "", errors.New("config/manifests/examples holds no example")
	}
	sort.Slice(objs, func(i, j int) bool {
		return fmt.Sprint(objs[i]["apiVersion"], objs[i]["kind"]) < fmt.Sprint(objs[j]["apiVersion"], objs[j]["kind"])
	})
	data, err := json.Marshal(objs)
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// install builds the CSV's install strategy from config/manager and config/rbac, and returns the
// RBAC and Service objects that ship beside the CSV.
func (g *generator) install() (operatorsv1alpha1.StrategyDetailsDeployment, []File, error) {
	var s operatorsv1alpha1.StrategyDetailsDeployment
	dep, err := g.deployment()
	if err != nil {
		return s, nil, err
	}
	s.DeploymentSpecs = []operatorsv1alpha1.StrategyDeploymentSpec{{Name: dep.Name, Spec: dep.Spec, Label: dep.Labels}}
	sa := dep.Spec.Template.Spec.ServiceAccountName

	objs, err := readObjects(g.path("config", "rbac"))
	if err != nil {
		return s, nil, err
	}
	roles := map[string][]rbacv1.PolicyRule{}
	clusterRoles := map[string]*rbacv1.ClusterRole{}
	var bindings []any
	for _, o := range objs {
		switch o.kind {
		case "Role":
			var r rbacv1.Role
			if err := yaml.Unmarshal(o.data, &r); err != nil {
				return s, nil, err
			}
			roles[r.Name] = r.Rules
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := yaml.Unmarshal(o.data, &r); err != nil {
				return s, nil, err
			}
			clusterRoles[r.Name] = &r
		case "RoleBinding":
			var b rbacv1.RoleBinding
			if err := yaml.Unmarshal(o.data, &b); err != nil {
				return s, nil, err
			}
			bindings = append(bindings, &b)
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			if err := yaml.Unmarshal(o.data, &b); err != nil {
				return s, nil, err
			}
			bindings = append(bindings, &b)
		case "ServiceAccount":
			// OLM creates the Deployment's ServiceAccount; shipping it is an error.
		default:
			return s, nil, fmt.Errorf("config/rbac: unexpected kind %s", o.kind)
		}
	}
	boundToSA := func(subjects []rbacv1.Subject) bool {
		return slices.ContainsFunc(subjects, func(x rbacv1.Subject) bool { return x.Kind == "ServiceAccount" && g.prefix+x.Name == sa })
	}
	var namespaced, cluster []rbacv1.PolicyRule
	bound := map[string]bool{}
	for _, b := range bindings {
		switch b := b.(type) {
		case *rbacv1.RoleBinding:
			if !boundToSA(b.Subjects) {
				continue
			}
			if b.RoleRef.Kind != "Role" {
				return s, nil, fmt.Errorf("RoleBinding %s binds a %s: not supported", b.Name, b.RoleRef.Kind)
			}
			rules, ok := roles[b.RoleRef.Name]
			if !ok {
				return s, nil, fmt.Errorf("RoleBinding %s: no Role %s in config/rbac", b.Name, b.RoleRef.Name)
			}
			namespaced = append(namespaced, rules...)
		case *rbacv1.ClusterRoleBinding:
			if !boundToSA(b.Subjects) {
				continue
			}
			r, ok := clusterRoles[b.RoleRef.Name]
			if !ok {
				return s, nil, fmt.Errorf("ClusterRoleBinding %s: no ClusterRole %s in config/rbac", b.Name, b.RoleRef.Name)
			}
			bound[r.Name] = true
			n, c, err := SplitRules(r.Rules)
			if err != nil {
				return s, nil, fmt.Errorf("ClusterRole %s: %w", r.Name, err)
			}
			namespaced = append(n, namespaced...)
			cluster = append(cluster, c...)
		}
	}
	if len(namespaced) > 0 {
		s.Permissions = []operatorsv1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: sa, Rules: namespaced}}
	}
	if len(cluster) > 0 {
		s.ClusterPermissions = []operatorsv1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: sa, Rules: cluster}}
	}

	// Standalone objects: the metrics Service and the metrics-reader ClusterRole. The Stack
	// editor/viewer roles are not shipped: OLM aggregates its own roles for every owned CRD.
	var extra []File
	reader, ok := clusterRoles["metrics-reader"]
	if !ok {
		return s, nil, errors.New("config/rbac has no metrics-reader ClusterRole")
	}
	reader = reader.DeepCopy()
	reader.Name = g.prefix + reader.Name
	reader.Labels = g.withLabels(reader.Labels)
	data, err := marshal(reader)
	if err != nil {
		return s, nil, err
	}
	extra = append(extra, File{Path: filepath.Join("manifests", reader.Name+"_rbac.authorization.k8s.io_v1_clusterrole.yaml"), Data: data})

	var svc corev1.Service
	if err := readYAML(g.path("config", "default", "metrics_service.yaml"), &svc); err != nil {
		return s, nil, err
	}
	svc.Name = g.prefix + svc.Name
	svc.Namespace = "" // OLM installs into the OperatorGroup's namespace
	svc.Labels = g.withLabels(svc.Labels)
	data, err = marshal(&svc)
	if err != nil {
		return s, nil, err
	}
	extra = append(extra, File{Path: filepath.Join("manifests", svc.Name+"_v1_service.yaml"), Data: data})
	monitoring, err := g.monitoring()
	if err != nil {
		return s, nil, err
	}
	return s, append(extra, monitoring...), nil
}

// monitoring reads the manager's ServiceMonitor and PrometheusRule from config/prometheus, renamed
// and labelled as config/default does. OLM may ship both: the Prometheus operator's CRDs are a
// required dependency, so they exist before the bundle installs. The ClusterRoleBinding of that
// folder is not shipped: which service account Prometheus runs as is the cluster's choice
// (docs/monitoring.md).
func (g *generator) monitoring() ([]File, error) {
	var files []File
	for _, o := range []struct {
		file, kind string
		typed      any
	}{{"monitor.yaml", "servicemonitor", &monitoringv1.ServiceMonitor{}}, {"prometheus_rule.yaml", "prometheusrule", &monitoringv1.PrometheusRule{}}} {
		path := g.path("config", "prometheus", o.file)
		// Strictly against the Prometheus operator's types (a misspelt field fails here), written
		// as the file has it (the types would add empty structs).
		if err := readYAML(path, o.typed); err != nil {
			return nil, err
		}
		obj := &unstructured.Unstructured{}
		if err := readYAML(path, &obj.Object); err != nil {
			return nil, err
		}
		obj.SetName(g.prefix + obj.GetName())
		obj.SetNamespace("") // OLM installs into the OperatorGroup's namespace
		obj.SetLabels(g.withLabels(obj.GetLabels()))
		data, err := yaml.Marshal(obj.Object)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: filepath.Join("manifests", obj.GetName()+"_monitoring.coreos.com_v1_"+o.kind+".yaml"), Data: data})
	}
	return files, nil
}

// deployment reads the manager's Deployment from config/manager, renamed and labelled as
// config/default does, with the image of its kustomization, and WATCH_NAMESPACE from the
// OperatorGroup.
func (g *generator) deployment() (*appsv1.Deployment, error) {
	objs, err := readObjects(g.path("config", "manager"))
	if err != nil {
		return nil, err
	}
	var dep *appsv1.Deployment
	for _, o := range objs {
		if o.kind == "Deployment" {
			if dep != nil {
				return nil, errors.New("config/manager holds more than one Deployment")
			}
			dep = &appsv1.Deployment{}
			if err := yaml.Unmarshal(o.data, dep); err != nil {
				return nil, err
			}
		}
	}
	if dep == nil {
		return nil, errors.New("config/manager holds no Deployment")
	}
	var k struct {
		Images []struct {
			Name    string `json:"name"`
			NewName string `json:"newName"`
			NewTag  string `json:"newTag"`
		} `json:"images"`
	}
	if err := readLoose(g.path("config", "manager", "kustomization.yaml"), &k); err != nil {
		return nil, err
	}
	dep.Name = g.prefix + dep.Name
	dep.Namespace = ""
	dep.Labels = g.withLabels(dep.Labels)
	pod := &dep.Spec.Template.Spec
	pod.ServiceAccountName = g.prefix + pod.ServiceAccountName
	for i := range pod.Containers {
		c := &pod.Containers[i]
		for _, img := range k.Images {
			if c.Image == img.Name || strings.HasPrefix(c.Image, img.Name+":") {
				c.Image = img.NewName + ":" + img.NewTag
			}
		}
		if c.Image != images.Canopy.Ref {
			return nil, fmt.Errorf("container %s runs %s, not internal/images.Canopy (%s)", c.Name, c.Image, images.Canopy.Ref)
		}
		for j := range c.Env {
			if c.Env[j].Name == WatchNamespaceEnv {
				c.Env[j].Value = ""
				c.Env[j].ValueFrom = &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: TargetNamespacesFieldPath}}
			}
		}
	}
	return dep, nil
}

// metadata writes metadata/annotations.yaml, metadata/dependencies.yaml and the scorecard config.
func (g *generator) metadata(required []operatorsv1alpha1.CRDDescription) ([]File, error) {
	annotations := "# Generated by hack/gen-bundle (make bundle). Must match the labels of bundle.Dockerfile (checked by a test).\n" +
		"annotations:\n"
	for _, kv := range AnnotationPairs() {
		annotations += fmt.Sprintf("  %s: %s\n", kv[0], kv[1])
	}

	type gvk struct {
		Group   string `json:"group"`
		Kind    string `json:"kind"`
		Version string `json:"version"`
	}
	type dep struct {
		Type  string `json:"type"`
		Value gvk    `json:"value"`
	}
	var deps struct {
		Dependencies []dep `json:"dependencies"`
	}
	for _, r := range required {
		_, group, ok := strings.Cut(r.Name, ".")
		if !ok {
			return nil, fmt.Errorf("required CRD %s: not <plural>.<group>", r.Name)
		}
		deps.Dependencies = append(deps.Dependencies, dep{Type: "olm.gvk", Value: gvk{Group: group, Kind: r.Kind, Version: r.Version}})
	}
	depData, err := yaml.Marshal(deps)
	if err != nil {
		return nil, err
	}
	depData = append([]byte("# Generated by hack/gen-bundle from the CSV's required CRDs: OLM resolves each API from the catalog.\n"), depData...)

	type test struct {
		Image      string            `json:"image"`
		Entrypoint []string          `json:"entrypoint"`
		Labels     map[string]string `json:"labels"`
	}
	var tests []test
	for _, t := range []struct{ suite, name string }{
		{"basic", "basic-check-spec"},
		{"olm", "olm-bundle-validation"},
		{"olm", "olm-crds-have-validation"},
		{"olm", "olm-crds-have-resources"},
		{"olm", "olm-spec-descriptors"},
		{"olm", "olm-status-descriptors"},
	} {
		tests = append(tests, test{Image: ScorecardImage, Entrypoint: []string{"scorecard-test", t.name},
			Labels: map[string]string{"suite": t.suite, "test": t.name + "-test"}})
	}
	sc := map[string]any{
		"apiVersion": "scorecard.operatorframework.io/v1alpha3",
		"kind":       "Configuration",
		"metadata":   map[string]any{"name": "config"},
		"stages":     []any{map[string]any{"parallel": true, "tests": tests}},
	}
	scData, err := yaml.Marshal(sc)
	if err != nil {
		return nil, err
	}
	scData = append([]byte("# Generated by hack/gen-bundle: scorecard's basic and OLM tests (`operator-sdk scorecard bundle/`).\n"), scData...)
	return []File{
		{Path: filepath.Join("metadata", "annotations.yaml"), Data: []byte(annotations)},
		{Path: filepath.Join("metadata", "dependencies.yaml"), Data: depData},
		{Path: filepath.Join("tests", "scorecard", "config.yaml"), Data: scData},
	}, nil
}

// AnnotationPairs are metadata/annotations.yaml's entries, in order: bundle.Dockerfile carries the
// same as labels.
func AnnotationPairs() [][2]string {
	return [][2]string{
		{"operators.operatorframework.io.bundle.mediatype.v1", "registry+v1"},
		{"operators.operatorframework.io.bundle.manifests.v1", "manifests/"},
		{"operators.operatorframework.io.bundle.metadata.v1", "metadata/"},
		{"operators.operatorframework.io.bundle.package.v1", PackageName},
		{"operators.operatorframework.io.bundle.channels.v1", Channel},
		{"operators.operatorframework.io.bundle.channel.default.v1", Channel},
		{"operators.operatorframework.io.test.mediatype.v1", "scorecard+v1"},
		{"operators.operatorframework.io.test.config.v1", "tests/scorecard/"},
	}
}

// object is one YAML document of a kustomize folder.
type object struct {
	kind string
	data []byte
}

// readObjects reads the resources a kustomization.yaml lists (files only), document by document.
func readObjects(dir string) ([]object, error) {
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := readLoose(filepath.Join(dir, "kustomization.yaml"), &k); err != nil {
		return nil, err
	}
	var out []object
	for _, r := range k.Resources {
		data, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			return nil, err
		}
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			var meta struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				return nil, fmt.Errorf("%s: %w", r, err)
			}
			if meta.Kind != "" {
				out = append(out, object{kind: meta.Kind, data: doc})
			}
		}
	}
	return out, nil
}

func readYAML(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// readLoose reads the fields of into from a file that holds others too (a kustomization).
func readLoose(path string, into any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// marshal writes an object as YAML without status and creation timestamps (zero values that
// would otherwise appear), with sorted keys.
func marshal(obj runtime.Object) ([]byte, error) {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	if deps, ok, _ := unstructured.NestedSlice(u, "spec", "install", "spec", "deployments"); ok {
		for _, d := range deps {
			if m, ok := d.(map[string]any); ok {
				unstructured.RemoveNestedField(m, "spec", "template", "metadata", "creationTimestamp")
			}
		}
		if err := unstructured.SetNestedSlice(u, deps, "spec", "install", "spec", "deployments"); err != nil {
			return nil, err
		}
	}
	return yaml.Marshal(u)
}
