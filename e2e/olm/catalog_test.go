//go:build e2e

package olm

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/lib/version"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/blang/semver/v4"

	"github.com/canopy-dev/canopy/internal/testenv"
)

// standIn describes a minimal bundle that provides some of the APIs Canopy depends on. It is not
// the upstream operator: a CSV written here, AllNamespaces only (like OperatorHub's cert-manager),
// the pinned module's CRDs for the kinds it owns, a Deployment of a placeholder image (kwok reports
// its pod ready; no container runs) and no webhooks (OLM would register them against pods that do
// not exist, and every create of those kinds would then fail).
type standIn struct {
	pkg     string // the package, prefixed stand-in- so no one mistakes it for the real one
	display string
	version string
	module  string // module@version holding the CRDs
	crds    []string
}

var standIns = []standIn{
	{pkg: "stand-in-cert-manager", display: "cert-manager (stand-in for Canopy's OLM test)", version: "1.20.3",
		module: "github.com/cert-manager/cert-manager@v1.20.3", crds: []string{
			"deploy/crds/cert-manager.io_certificates.yaml", "deploy/crds/cert-manager.io_certificaterequests.yaml",
			"deploy/crds/cert-manager.io_issuers.yaml", "deploy/crds/cert-manager.io_clusterissuers.yaml"}},
	{pkg: "stand-in-prometheus-operator", display: "Prometheus operator (stand-in for Canopy's OLM test)", version: "0.91.0",
		module: testenv.PrometheusOperatorModule, crds: []string{
			"example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
			"example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"}},
}

func (s standIn) csvName() string { return s.pkg + ".v" + s.version }

// writeBundle lays out the stand-in as a registry+v1 bundle folder under dir and returns it.
func (s standIn) writeBundle(t *testing.T, dir string) string {
	t.Helper()
	mod, err := testenv.DownloadModule(s.module)
	if err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(dir, s.pkg)
	for _, d := range []string{"manifests", "metadata"} {
		if err := os.MkdirAll(filepath.Join(b, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var owned []operatorsv1alpha1.CRDDescription
	for _, f := range s.crds {
		data, err := os.ReadFile(filepath.Join(mod, f))
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Storage {
				owned = append(owned, operatorsv1alpha1.CRDDescription{Name: crd.Name, Version: v.Name, Kind: crd.Spec.Names.Kind,
					DisplayName: crd.Spec.Names.Kind, Description: crd.Spec.Names.Kind + " (stand-in)"})
			}
		}
		if err := os.WriteFile(filepath.Join(b, "manifests", filepath.Base(f)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	labels := map[string]string{"app.kubernetes.io/name": s.pkg}
	csv := &operatorsv1alpha1.ClusterServiceVersion{
		TypeMeta: metav1.TypeMeta{APIVersion: operatorsv1alpha1.ClusterServiceVersionAPIVersion, Kind: operatorsv1alpha1.ClusterServiceVersionKind},
		ObjectMeta: metav1.ObjectMeta{Name: s.csvName(), Annotations: map[string]string{
			"description": "A stand-in written by Canopy's OLM end-to-end test; not the upstream operator."}},
		Spec: operatorsv1alpha1.ClusterServiceVersionSpec{
			DisplayName: s.display,
			Description: "Provides the APIs Canopy depends on, with the pinned module's CRDs, for Canopy's OLM end-to-end test.",
			Version:     version.OperatorVersion{Version: semver.MustParse(s.version)},
			Provider:    operatorsv1alpha1.AppLink{Name: "Canopy's tests"},
			Maturity:    "alpha",
			InstallModes: []operatorsv1alpha1.InstallMode{
				{Type: operatorsv1alpha1.InstallModeTypeOwnNamespace, Supported: false},
				{Type: operatorsv1alpha1.InstallModeTypeSingleNamespace, Supported: false},
				{Type: operatorsv1alpha1.InstallModeTypeMultiNamespace, Supported: false},
				{Type: operatorsv1alpha1.InstallModeTypeAllNamespaces, Supported: true},
			},
			CustomResourceDefinitions: operatorsv1alpha1.CustomResourceDefinitions{Owned: owned},
			InstallStrategy: operatorsv1alpha1.NamedInstallStrategy{
				StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment,
				StrategySpec: operatorsv1alpha1.StrategyDetailsDeployment{
					// A ServiceAccount exists only for a permissions entry; the pod needs one.
					Permissions: []operatorsv1alpha1.StrategyDeploymentPermissions{{ServiceAccountName: s.pkg,
						Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}}},
					DeploymentSpecs: []operatorsv1alpha1.StrategyDeploymentSpec{{Name: s.pkg, Spec: appsv1.DeploymentSpec{
						Replicas: ptr.To[int32](1),
						Selector: &metav1.LabelSelector{MatchLabels: labels},
						Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{
							ServiceAccountName: s.pkg,
							Containers: []corev1.Container{{Name: "stand-in", Image: "stand-in.invalid/" + s.pkg + ":v" + s.version,
								Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
									corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}}}},
						}},
					}}},
				},
			},
		},
	}
	data, err := yaml.Marshal(csv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b, "manifests", s.pkg+".clusterserviceversion.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	annotations := fmt.Sprintf(`annotations:
  operators.operatorframework.io.bundle.mediatype.v1: registry+v1
  operators.operatorframework.io.bundle.manifests.v1: manifests/
  operators.operatorframework.io.bundle.metadata.v1: metadata/
  operators.operatorframework.io.bundle.package.v1: %s
  operators.operatorframework.io.bundle.channels.v1: stable
  operators.operatorframework.io.bundle.channel.default.v1: stable
`, s.pkg)
	if err := os.WriteFile(filepath.Join(b, "metadata", "annotations.yaml"), []byte(annotations), 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

// packageBlobs are the olm.package and olm.channel blobs of a one-bundle package.
func packageBlobs(pkg, csvName string) string {
	return fmt.Sprintf(`---
schema: olm.package
name: %[1]s
defaultChannel: stable
---
schema: olm.channel
package: %[1]s
name: stable
entries:
  - name: %[2]s
`, pkg, csvName)
}

func opm(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := exec.Command(opmBin, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("opm %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// buildCatalog writes the test's file-based catalog: Canopy's bundles (folders) rendered with no
// image, so every manifest is inline, catalog/canopy's package, the given channel, and the
// stand-ins; it is validated with opm validate.
func buildCatalog(t *testing.T, canopyBundles []string, channel []byte) string {
	t.Helper()
	dir := t.TempDir()
	cat := filepath.Join(dir, "catalog")
	canopy := filepath.Join(cat, "canopy")
	if err := os.MkdirAll(canopy, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, b := range canopyBundles {
		if err := os.WriteFile(filepath.Join(canopy, fmt.Sprintf("bundle-%d.yaml", i)), opm(t, "render", b, "-o", "yaml"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(canopy, "package.yaml"), readFile(t, filepath.Join(root, "catalog", "canopy", "package.yaml")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(canopy, "channel.yaml"), channel, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, s := range standIns {
		b := s.writeBundle(t, filepath.Join(dir, "bundles"))
		out := append(opm(t, "render", b, "-o", "yaml"), []byte(packageBlobs(s.pkg, s.csvName()))...)
		if err := os.MkdirAll(filepath.Join(cat, s.pkg), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cat, s.pkg, "catalog.yaml"), out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opm(t, "validate", cat)
	return cat
}

// serveCatalog runs opm serve on the catalog, as the process name, and returns its address.
func serveCatalog(t *testing.T, name, cat string) string {
	t.Helper()
	port := freePort(t)
	if err := c.Run(name, opmBin, nil, "serve", cat, "-p", fmt.Sprint(port), "-t", filepath.Join(t.TempDir(), "termination-log")); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// freePort returns a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
