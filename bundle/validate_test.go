package bundle_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/manifests"
	"github.com/operator-framework/api/pkg/validation"
)

// K8sVersion is the Kubernetes release the validators check deprecated and removed APIs against:
// the one the tests run (envtest and the simulated cluster are v1.37.2).
const K8sVersion = "1.37"

// TestOperatorFrameworkValidators runs operator-framework/api's validators on the bundle root
// (so that metadata/annotations.yaml's package and channels are read): the default bundle
// validators plus the operatorframework suite (OperatorHubV2, StandardCapabilities,
// StandardCategories, AlphaDeprecatedAPIs, GoodPractices), with k8s-version set. Every message
// is printed; any error or warning fails.
func TestOperatorFrameworkValidators(t *testing.T) {
	// Not ".": the loader skips folders whose name starts with a dot.
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	b, errs, warns := validate(t, dir, true)
	t.Logf("validators: %d errors, %d warnings (bundle %s, package %s, channels %v)", len(errs), len(warns), b.Name, b.Package, b.Channels)
	if len(errs)+len(warns) > 0 {
		t.Fatalf("the validators found %d errors and %d warnings", len(errs), len(warns))
	}
	if b.Package != "canopy" || len(b.Channels) != 1 || b.Channels[0] != "stable" {
		t.Fatalf("the bundle's metadata was not read: package %q channels %v", b.Package, b.Channels)
	}
}

// TestValidatorsCatchAWarning is the negative control: the same run on a copy of the bundle
// whose channel is named alpha reports GoodPractices' channel-naming warning.
func TestValidatorsCatchAWarning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := os.CopyFS(dir, os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "metadata", "annotations.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(data), ": stable", ": alpha")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, warns := validate(t, dir, false)
	if !slices.ContainsFunc(warns, func(w string) bool { return strings.Contains(w, "alpha") }) {
		t.Fatalf("no warning about the channel alpha: %v", warns)
	}
}

// validate runs the validators on the bundle in dir and returns their errors and warnings,
// logging each when log is set.
func validate(t *testing.T, dir string, log bool) (b *manifests.Bundle, errs, warns []string) {
	t.Helper()
	b, err := manifests.GetBundleFromDir(dir)
	if err != nil {
		t.Fatalf("loading the bundle: %v", err)
	}
	if b.CSV == nil {
		t.Fatal("the bundle has no ClusterServiceVersion")
	}
	objs := append(b.ObjectsToValidate(), map[string]string{"k8s-version": K8sVersion})
	vals := validation.DefaultBundleValidators.WithValidators(
		validation.ObjectValidator,
		validation.OperatorHubV2Validator,
		validation.StandardCapabilitiesValidator,
		validation.StandardCategoriesValidator,
		validation.AlphaDeprecatedAPIsValidator,
		validation.GoodPracticesValidator,
	)
	for _, r := range vals.Validate(objs...) {
		for _, e := range r.Errors {
			errs = append(errs, r.Name+": "+e.Error())
			if log {
				t.Logf("ERROR %s: %s", r.Name, e.Error())
			}
		}
		for _, w := range r.Warnings {
			warns = append(warns, r.Name+": "+w.Error())
			if log {
				t.Logf("WARNING %s: %s", r.Name, w.Error())
			}
		}
	}
	return b, errs, warns
}
