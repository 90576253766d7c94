//go:build e2e

// Package olm installs Canopy with a real OLM v0 (v0.42.0's olm and catalog operators, built from
// source and run as local processes) on a bare simulated cluster of its own (cluster name
// canopy-olm, so it runs beside the main suite): OLM reads Canopy's bundle from a file-based catalog
// served by opm, resolves Canopy's API dependencies to stand-in bundles and installs all three.
// Run with `make e2e-olm`; e2e/README.md describes what it proves and what it cannot.
package olm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	operatorsv1 "github.com/operator-framework/api/pkg/operators/v1"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/canopy-dev/canopy/e2e/cluster"
	"github.com/canopy-dev/canopy/internal/scheme"
	"github.com/canopy-dev/canopy/internal/testenv"
)

const (
	// clusterName differs from the main suite's (canopy-e2e) and the demo's (canopy-demo).
	clusterName = "canopy-olm"
	// olmModule is the OLM release hack/tools/olm builds; its CRDs come from the same module.
	olmModule  = "github.com/operator-framework/operator-lifecycle-manager"
	olmVersion = "v0.42.0"
	// catalogNamespace is the catalog operator's global catalog namespace (its --namespace).
	catalogNamespace = "olm"
	// operatorsNamespace holds the global OperatorGroup, as on OperatorHub.io's installs.
	operatorsNamespace = "operators"
)

var (
	c    *cluster.Cluster
	olmc client.Client // a client that knows OLM's types
	root string
	// opmBin serves and renders catalogs.
	opmBin string
)

// auditPolicy records, at Metadata level, every request of a ServiceAccount of the operators
// namespace (the one OLM creates for Canopy among them), and nothing else.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts:operators"]
- level: None
`

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	log.SetLogger(logr.Discard())
	var err error
	if root, err = testenv.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bins, err := cluster.FindBinaries(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e-olm:", err)
		return 1
	}
	bins.Canopy = filepath.Join(root, "bin", "canopy")
	if p := os.Getenv("CANOPY_BINARY"); p != "" { // a canopy built elsewhere than make build's
		bins.Canopy = p
	}
	olmBin, catalogBin := filepath.Join(root, "bin", "k8s", "olm-"+olmVersion), filepath.Join(root, "bin", "k8s", "catalog-"+olmVersion)
	opms, _ := filepath.Glob(filepath.Join(root, "bin", "opm-v*"))
	for _, p := range []string{olmBin, catalogBin} {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "e2e-olm: %v: run `make olm-tools`\n", err)
			return 1
		}
	}
	if len(opms) == 0 {
		fmt.Fprintln(os.Stderr, "e2e-olm: no bin/opm-*: run `make opm`")
		return 1
	}
	opmBin = opms[len(opms)-1]

	dir := filepath.Join(root, "bin", "e2e-olm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logf := func(f string, a ...any) { fmt.Printf("e2e-olm: "+f+"\n", a...) }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	c, err = cluster.Start(ctx, cluster.Options{Name: clusterName, Dir: dir, Nodes: 1, Root: root, Binaries: bins,
		Log: logf, Bare: true, AuditPolicy: policy})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e-olm: starting the cluster:", err)
		if c != nil {
			fmt.Fprintln(os.Stderr, c.TailLog("kwokctl.log", 40))
		}
		return 1
	}
	defer func() { c.Stop() }()
	if err := startOLM(ctx, olmBin, catalogBin); err != nil {
		fmt.Fprintln(os.Stderr, "e2e-olm: starting OLM:", err)
		dumpLogs()
		return 1
	}
	logf("cluster and OLM ready in %s", time.Since(start).Round(100*time.Millisecond))
	code := m.Run()
	if code != 0 {
		dumpLogs()
	}
	return code
}

// startOLM installs OLM's CRDs from the pinned module, creates the namespaces and the global
// OperatorGroup, and starts the olm and catalog operators.
func startOLM(ctx context.Context, olmBin, catalogBin string) error {
	mod, err := testenv.DownloadModule(olmModule + "@" + olmVersion)
	if err != nil {
		return err
	}
	s := scheme.New()
	for _, add := range []func(*runtime.Scheme) error{operatorsv1alpha1.AddToScheme, operatorsv1.AddToScheme} {
		if err := add(s); err != nil {
			return err
		}
	}
	if olmc, err = client.New(c.Config, client.Options{Scheme: s}); err != nil {
		return err
	}
	if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join(mod, "deploy", "chart", "crds")},
		ErrorIfPathMissing: true, MaxTime: time.Minute}); err != nil {
		return fmt.Errorf("installing OLM's CRDs: %w", err)
	}
	for _, ns := range []string{catalogNamespace, operatorsNamespace} {
		if err := olmc.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); client.IgnoreAlreadyExists(err) != nil {
			return err
		}
	}
	// No target namespaces and no selector: AllNamespaces, the only mode Canopy supports.
	og := &operatorsv1.OperatorGroup{ObjectMeta: metav1.ObjectMeta{Namespace: operatorsNamespace, Name: "global-operators"}}
	if err := olmc.Create(ctx, og); err != nil {
		return fmt.Errorf("creating the OperatorGroup: %w", err)
	}
	// Both serve health and metrics on the fixed :8080 (no flag moves it); whichever binds second
	// only logs the error, which the test does not need.
	if err := c.Run("olm", olmBin, nil, "--namespace="+catalogNamespace, "--writeStatusName=", "--writePackageServerStatusName="); err != nil {
		return err
	}
	return c.Run("catalog", catalogBin, nil, "--namespace="+catalogNamespace, "--writeStatusName=")
}

func dumpLogs() {
	if exited := c.Exited(); len(exited) > 0 {
		fmt.Fprintf(os.Stderr, "e2e-olm: processes that ended on their own: %v\n", exited)
	}
	for _, name := range []string{"olm.log", "catalog.log", "opm-serve.log", "manager.log"} {
		fmt.Fprintf(os.Stderr, "e2e-olm: %s (tail):\n%s\n", name, c.TailLog(name, 30))
	}
	dst := filepath.Join(root, "bin", "e2e-olm", "cluster-logs")
	if err := c.KeepClusterLogs(dst); err != nil {
		fmt.Fprintln(os.Stderr, "e2e-olm: keeping the cluster's logs:", err)
	} else {
		fmt.Fprintln(os.Stderr, "e2e-olm: the cluster's logs (kube-apiserver, audit.log, ...) are in "+dst)
	}
}
