package bundle_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

// TestMain starts a control plane for the tests that ask a real API server (the scope of every
// RBAC rule, the examples against the CRDs), with the dependencies' CRDs from the pinned modules.
// The other tests need none (go test -short runs only them).
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	cm, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	po, err := testenv.DownloadModule(testenv.PrometheusOperatorModule)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return testenv.Main(m, &env, testenv.Options{ExtraCRDDirs: []string{
		filepath.Join(cm, "deploy", "crds", "cert-manager.io_certificates.yaml"),
		filepath.Join(cm, "deploy", "crds", "cert-manager.io_issuers.yaml"),
		filepath.Join(cm, "deploy", "crds", "cert-manager.io_clusterissuers.yaml"),
		filepath.Join(po, "example", "prometheus-operator-crd", "monitoring.coreos.com_servicemonitors.yaml"),
		filepath.Join(po, "example", "prometheus-operator-crd", "monitoring.coreos.com_prometheusrules.yaml"),
	}})
}
