package bundle_test

import (
	"path/filepath"
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
	var errs, warns int
	for _, r := range vals.Validate(objs...) {
		for _, e := range r.Errors {
			errs++
			t.Logf("ERROR %s: %s", r.Name, e.Error())
		}
		for _, w := range r.Warnings {
			warns++
			t.Logf("WARNING %s: %s", r.Name, w.Error())
		}
	}
	t.Logf("validators: %d errors, %d warnings (bundle %s, package %s, channels %v)", errs, warns, b.Name, b.Package, b.Channels)
	if errs+warns > 0 {
		t.Fatalf("the validators found %d errors and %d warnings", errs, warns)
	}
	if b.Package != "canopy" || len(b.Channels) != 1 || b.Channels[0] != "stable" {
		t.Fatalf("the bundle's metadata was not read: package %q channels %v", b.Package, b.Channels)
	}
}
