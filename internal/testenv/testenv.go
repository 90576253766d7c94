// Package testenv runs tests against a real kube-apiserver and etcd (envtest) with Canopy's CRDs
// installed. A package starts one environment in TestMain and gives each test its own namespace.
//
// The binaries come from KUBEBUILDER_ASSETS, which `make test` sets to the folder where it built
// them from source; without it the newest ./bin/envtest-* folder of the repository is used.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/canopy-dev/canopy/internal/scheme"
)

// ModulePath is the Go module path of the repository, used to find its root.
const ModulePath = "github.com/canopy-dev/canopy"

// Env is a running control plane with Canopy's CRDs.
type Env struct {
	// Config connects to the API server as an administrator.
	Config *rest.Config
	// Client is a direct (uncached) client for the Canopy scheme.
	Client client.Client
	// Scheme knows every kind Canopy uses.
	Scheme *runtime.Scheme

	env *envtest.Environment
}

// Options tune Start.
type Options struct {
	// ExtraCRDDirs are installed besides config/crd/bases (for example cert-manager's CRDs).
	ExtraCRDDirs []string
	// AdmissionPlugins are enabled in kube-apiserver besides its defaults (for example
	// OwnerReferencesPermissionEnforcement, which OpenShift turns on).
	AdmissionPlugins []string
}

// Start starts etcd and kube-apiserver and installs the CRDs.
func Start(opts Options) (*Env, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	assets, err := assetsDir(root)
	if err != nil {
		return nil, err
	}
	s := scheme.New()
	env := &envtest.Environment{
		CRDDirectoryPaths:     append([]string{filepath.Join(root, "config", "crd", "bases")}, opts.ExtraCRDDirs...),
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		Scheme:                s,
	}
	if len(opts.AdmissionPlugins) > 0 {
		env.ControlPlane.GetAPIServer().Configure().Append("enable-admission-plugins", strings.Join(opts.AdmissionPlugins, ","))
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest with binaries from %s: %w", assets, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("creating the test client: %w", err)
	}
	return &Env{Config: cfg, Client: c, Scheme: s, env: env}, nil
}

// Stop stops the control plane.
func (e *Env) Stop() error {
	if e == nil || e.env == nil {
		return nil
	}
	return e.env.Stop()
}

// Main is the body of a TestMain that needs a control plane: it starts one, runs the tests, stops
// it, and returns the exit code. With -short it runs the tests without a control plane, and
// *env stays nil so that Require skips the tests that need one.
func Main(m *testing.M, env **Env, opts Options) int {
	flag.Parse() // testing.Short needs parsed flags; m.Run parses them only later.
	if testing.Short() {
		return m.Run()
	}
	e, err := Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	*env = e
	// Controllers log through controller-runtime; tests read their effects, not their logs, unless
	// CANOPY_TEST_LOG=1 asks for them.
	if os.Getenv("CANOPY_TEST_LOG") == "1" {
		ctrllog.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	} else {
		ctrllog.SetLogger(logr.Discard())
	}
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv: stopping:", err)
	}
	return code
}

// Require returns the control plane, or ends t without one (go test -short): see Unavailable.
func Require(t testing.TB, env *Env) *Env {
	t.Helper()
	if env == nil {
		Unavailable(t, "needs a control plane (etcd and kube-apiserver), which -short does not start; run make test")
	}
	return env
}

// InCI reports whether the environment variable CI is set to anything but false.
func InCI() bool {
	v := os.Getenv("CI")
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err != nil || b
}

// Unavailable ends a test whose environment is missing (a control plane, PostgreSQL, an S3 server).
// In CI everything must run, so the test fails; elsewhere it is skipped, saying what is missing and
// that CI runs it.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI must run this test, but its environment is missing: %s", reason)
	}
	t.Skipf("environment missing outside CI (CI unset; CI runs this test): %s", reason)
}

var nonName = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace for the test, named after it, and deletes it when the test ends.
// (envtest runs no namespace controller, so the objects inside are not garbage collected; unique
// names keep tests apart.)
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	base := strings.Trim(nonName.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	if len(base) > 40 {
		base = strings.Trim(base[:40], "-")
	}
	suffix := make([]byte, 3)
	_, _ = rand.Read(suffix)
	name := base + "-" + hex.EncodeToString(suffix)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Client.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		// Runs after the test's managers stopped (cleanups run last first): the status as written.
		checkKstatus(t, e.Client, name)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = e.Client.Delete(ctx, ns)
	})
	return name
}

// RepoRoot finds the repository root: the nearest parent of the working directory whose go.mod
// declares Canopy's module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module "+ModulePath+"\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: no parent directory holds the go.mod of " + ModulePath)
		}
		dir = parent
	}
}

func assetsDir(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	matches, _ := filepath.Glob(filepath.Join(root, "bin", "envtest-*"))
	if len(matches) == 0 {
		return "", errors.New("testenv: no control plane binaries: run `make envtest` (or `make test`), " +
			"or point KUBEBUILDER_ASSETS at a folder with etcd and kube-apiserver")
	}
	sort.Strings(matches)
	return matches[len(matches)-1], nil
}

// Kubeconfig returns a kubeconfig for the control plane's administrator.
func (e *Env) Kubeconfig() ([]byte, error) {
	if len(e.env.KubeConfig) == 0 {
		return nil, errors.New("testenv: the control plane has no kubeconfig")
	}
	return e.env.KubeConfig, nil
}

// ModuleDir returns the folder of a module in the Go module cache, as resolved by this repository's
// go.mod; tests read CRDs shipped in dependencies' sources from it.
func ModuleDir(module string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating module %s: %w", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// PrometheusOperatorModule is the pinned prometheus-operator release whose CRDs tests install (the
// operator itself is not a dependency of Canopy: only its API types are).
const PrometheusOperatorModule = "github.com/prometheus-operator/prometheus-operator@v0.91.0"

// DownloadModule fetches module@version through the Go module proxy (cached) and returns its folder.
func DownloadModule(moduleAtVersion string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", moduleAtVersion)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("downloading %s: %w", moduleAtVersion, err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("downloading %s: no folder in %q", moduleAtVersion, out)
	}
	return info.Dir, nil
}
