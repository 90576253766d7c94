// Package cluster runs a local simulated Kubernetes cluster for Canopy's end-to-end tests and
// `make demo`: etcd, kube-apiserver, kube-controller-manager and kube-scheduler built from source,
// kwok's fake nodes (pods become ready without containers), a small volume provisioner, Canopy's
// CRDs, and Canopy's manager as a local process built from the tree. Every process is stopped on
// Stop, and its log is kept in the cluster's folder.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/canopy-dev/canopy/e2e/harness"
	"github.com/canopy-dev/canopy/internal/pgtest"
	"github.com/canopy-dev/canopy/internal/scheme"
)

// Binaries are the paths of the programs the cluster runs (built by `make cluster-tools`).
type Binaries struct {
	Etcd, KubeApiserver, KubeControllerManager, KubeScheduler, Kwok, Kwokctl string
	// PrometheusOperator and CertManager run the dependency operators.
	PrometheusOperator, CertManager string
	// Canopy is the canopy binary (built from the tree).
	Canopy string
}

// FindBinaries locates the binaries under the repository's bin folder.
func FindBinaries(root string) (Binaries, error) {
	glob := func(pattern string) (string, error) {
		m, _ := filepath.Glob(filepath.Join(root, "bin", pattern))
		if len(m) == 0 {
			return "", fmt.Errorf("no %s in %s/bin: run `make cluster-tools`", pattern, root)
		}
		return m[len(m)-1], nil
	}
	var b Binaries
	var err error
	for _, f := range []struct {
		dst     *string
		pattern string
	}{
		{&b.Etcd, "k8s/etcd-*"}, {&b.KubeApiserver, "k8s/kube-apiserver-*"}, {&b.KubeControllerManager, "k8s/kube-controller-manager-*"},
		{&b.KubeScheduler, "k8s/kube-scheduler-*"}, {&b.Kwok, "k8s/kwok-v*"}, {&b.Kwokctl, "k8s/kwokctl-*"},
		{&b.PrometheusOperator, "k8s/prometheus-operator-*"}, {&b.CertManager, "k8s/cert-manager-*"},
	} {
		if *f.dst, err = glob(f.pattern); err != nil {
			return b, err
		}
	}
	return b, nil
}

// Options describe a cluster.
type Options struct {
	// Name of the cluster; its files live in Dir.
	Name string
	// Dir holds the kubeconfig and the logs.
	Dir string
	// Nodes is the number of fake nodes.
	Nodes int
	// Root is the repository (CRDs, samples).
	Root string
	Binaries
	// Log receives progress lines.
	Log func(format string, args ...any)
	// Monitoring installs the Prometheus operator's CRDs and runs it from the start (otherwise
	// StartMonitoring does, later).
	Monitoring bool
	// Bare starts only the cluster and the volume provisioner: no CRDs, no dependency operators,
	// no manager (the OLM test has OLM install them). A bare cluster always runs kube-apiserver
	// with RBAC authorization and the admission plugins turned on explicitly, not by kwokctl's
	// defaults, and with an audit log when AuditPolicy is set.
	Bare bool
	// AuditPolicy is an audit policy file for kube-apiserver; the log is AuditLog().
	AuditPolicy string
	// NodeParams are added to kwokctl's node template (`--param`), such as
	// `.allocatable.pods = 1000` for a cluster of many Stacks (a fake node holds 110 pods).
	NodeParams []string
	// ManagerArgs are added to the manager's command line (make bench: its workers and client
	// limits).
	ManagerArgs []string
}

// Cluster is a running simulated cluster.
type Cluster struct {
	Options
	// Kubeconfig is the administrator's kubeconfig file.
	Kubeconfig string
	// Config and Client talk to the API server.
	Config *rest.Config
	Client client.Client
	// MetricsURL is the manager's /metrics (plain HTTP on loopback), once it started.
	MetricsURL  string
	metricsAddr string

	manager *harness.Process
	// processes are the dependency operators, stopped after the manager.
	processes   []*harness.Process
	monitoring  bool // the Prometheus operator runs
	provisioner context.CancelFunc
	unlock      func() // releases the cluster's name (lockName)
}

// Start creates the cluster, installs the CRDs, starts the volume provisioner and Canopy's manager.
// On error, what was started is stopped.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	unlock, err := lockName(o.Name)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, err
	}
	// Logs are appended to (a restarted manager keeps its log); a new cluster starts them afresh.
	if old, _ := filepath.Glob(filepath.Join(o.Dir, "*.log")); len(old) > 0 {
		for _, f := range old {
			_ = os.Remove(f)
		}
	}
	c = &Cluster{Options: o, Kubeconfig: filepath.Join(o.Dir, "kubeconfig"), unlock: unlock}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	start := time.Now()
	// A previous run that was killed may have left the cluster behind.
	_ = c.kwokctl(ctx, "delete", "cluster", "--name", o.Name)
	var extra []string
	if o.Bare {
		extra = append(extra, "--kube-authorization=true", "--kube-admission=true")
	}
	if o.AuditPolicy != "" {
		extra = append(extra, "--kube-audit-policy", o.AuditPolicy)
	}
	if err := c.kwokctl(ctx, append([]string{"create", "cluster", "--name", o.Name, "--runtime", "binary",
		"--etcd-binary", o.Etcd, "--kube-apiserver-binary", o.KubeApiserver,
		"--kube-controller-manager-binary", o.KubeControllerManager, "--kube-scheduler-binary", o.KubeScheduler,
		"--kwok-controller-binary", o.Kwok, "--kubeconfig", c.Kubeconfig, "--wait", "2m",
		// kwok Stages: the usual pod and node life (kwok-base.yaml, which replaces kwok's defaults)
		// plus Canopy's simulated failures and backup agent results (canopy.yaml; e2e/README.md).
		"--config", filepath.Join(o.Root, "e2e", "cluster", "stages", "kwok-base.yaml"),
		"--config", filepath.Join(o.Root, "e2e", "cluster", "stages", "canopy.yaml"),
		// A control plane restarted by RestartControlPlane works again at once: the controller
		// manager and the scheduler do not wait for the Lease their killed selves held (15 s), and
		// the new kwok takes the nodes' Leases over within 10 s (2 s times kwokctl's heartbeat
		// factor of 5) instead of 250.
		"--node-lease-duration-seconds", "2",
		"--extra-args", "kube-controller-manager=leader-elect=false", "--extra-args", "kube-scheduler=leader-elect=false",
		// The default Service range fills at about 250 Services.
		"--extra-args", "kube-apiserver=service-cluster-ip-range=10.96.0.0/12",
		"--extra-args", "kube-controller-manager=service-cluster-ip-range=10.96.0.0/12"}, extra...)...); err != nil {
		return c, fmt.Errorf("creating the cluster: %w", err)
	}
	// Real nodes report their ephemeral storage; Canopy's backup and restore pods request it for
	// their dump, and a node without it would never schedule them.
	scale := []string{"scale", "node", "--name", o.Name, "--replicas", fmt.Sprint(max(o.Nodes, 1)),
		"--param", `.allocatable["ephemeral-storage"] = "1Ti"`}
	for _, p := range o.NodeParams {
		scale = append(scale, "--param", p)
	}
	if err := c.kwokctl(ctx, scale...); err != nil {
		return c, fmt.Errorf("adding nodes: %w", err)
	}
	o.Log("cluster %s up in %s", o.Name, time.Since(start).Round(100*time.Millisecond))

	if c.Config, err = clientConfig(c.Kubeconfig); err != nil {
		return c, err
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: scheme.New()}); err != nil {
		return c, err
	}
	if o.Bare {
		pctx, cancel := context.WithCancel(context.Background())
		c.provisioner = cancel
		if err := startProvisioner(pctx, c.Client, o.Dir, o.Log); err != nil {
			return c, fmt.Errorf("starting the volume provisioner: %w", err)
		}
		return c, nil
	}
	crds, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join(o.Root, "config", "crd", "bases")},
		ErrorIfPathMissing: true, Scheme: scheme.New(), MaxTime: time.Minute})
	if err != nil {
		return c, fmt.Errorf("installing Canopy's CRDs: %w", err)
	}
	if err := waitForGarbageCollector(ctx, c.Client, crds, o.Log); err != nil {
		return c, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	c.provisioner = cancel
	if err := startProvisioner(pctx, c.Client, o.Dir, o.Log); err != nil {
		return c, fmt.Errorf("starting the volume provisioner: %w", err)
	}
	if err := c.startCertManager(ctx); err != nil {
		return c, err
	}
	if o.Monitoring {
		if err := c.StartMonitoring(ctx); err != nil {
			return c, err
		}
	}
	if err := c.StartManager(); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) kwokctl(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, c.Kwokctl, args...)
	logf, err := os.OpenFile(filepath.Join(c.Dir, "kwokctl.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kwokctl %s: %w (see %s)", strings.Join(args[:2], " "), err, logf.Name())
	}
	return nil
}

// StartManager runs Canopy's manager as a local process against the cluster.
func (c *Cluster) StartManager() error {
	if c.MetricsURL == "" { // a restarted manager serves on the same port
		port, err := pgtest.FreePort()
		if err != nil {
			return err
		}
		c.metricsAddr = fmt.Sprintf("127.0.0.1:%d", port)
		c.MetricsURL = "http://" + c.metricsAddr + "/metrics"
	}
	// Metrics in plain HTTP on loopback: the suite reads them (SecretScan), as a scraper would.
	p, err := c.startProcess("manager", c.Canopy, append([]string{"manager", "--leader-elect=false", "--metrics-bind-address=" + c.metricsAddr,
		"--metrics-secure=false", "--health-probe-bind-address=0"}, c.ManagerArgs...)...)
	if err != nil {
		return err
	}
	c.manager = p
	return nil
}

// Run starts bin as a process the cluster stops on Stop, its output in <Dir>/<name>.log. Its
// environment is the harness's, KUBECONFIG naming the administrator's kubeconfig, then env (whose
// entries win, KUBECONFIG included).
func (c *Cluster) Run(name, bin string, env []string, args ...string) error {
	p, err := c.startProcessEnv(name, bin, env, args...)
	if err != nil {
		return err
	}
	c.processes = append(c.processes, p)
	return nil
}

// StopProcess stops the process Run started under name (SIGTERM, then SIGKILL after 10 s) and
// reports whether there was one.
func (c *Cluster) StopProcess(name string) bool {
	for i, p := range c.processes {
		if p.Name == name {
			p.Stop(10 * time.Second)
			c.processes = append(c.processes[:i], c.processes[i+1:]...)
			return true
		}
	}
	return false
}

// ManagerPID is the process id of the running manager, 0 when none runs.
func (c *Cluster) ManagerPID() int {
	if c.manager == nil || c.manager.Exited() {
		return 0
	}
	return c.manager.PID()
}

// KillManager stops the manager abruptly (SIGKILL), as a crash would.
func (c *Cluster) KillManager() {
	c.manager.Kill()
	c.manager = nil
}

// Stop stops the manager, the dependency operators, the provisioner and the cluster's processes.
func (c *Cluster) Stop() {
	if c == nil {
		return
	}
	c.manager.Stop(10 * time.Second)
	c.manager = nil
	for _, p := range c.processes {
		p.Stop(10 * time.Second)
	}
	c.processes = nil
	if c.provisioner != nil {
		c.provisioner()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	components := c.componentPIDs()
	if err := c.kwokctl(ctx, "delete", "cluster", "--name", c.Name); err != nil && !errors.Is(err, context.Canceled) {
		c.Log("stopping the cluster: %v", err)
	}
	if left := waitExited(components, time.Minute); len(left) > 0 {
		c.Log("the cluster's processes %v still ran a minute after it was deleted: killed", left)
	}
	if c.Config != nil && !waitReleased(c.Config.Host, 2*time.Minute) {
		c.Log("the API server at %s still answers 2 minutes after the cluster was deleted", c.Config.Host)
	}
	if c.unlock != nil {
		c.unlock()
		c.unlock = nil
	}
}

// Exited names the harness's processes that ended on their own (a crash).
func (c *Cluster) Exited() []string {
	var out []string
	for _, p := range append([]*harness.Process{c.manager}, c.processes...) {
		if p != nil && p.Exited() {
			out = append(out, p.Name)
		}
	}
	return out
}

// TailLog returns the last lines of one of the cluster's logs (manager.log, kwokctl.log,
// cert-manager.log, prometheus-operator.log), for a failing test to print.
func (c *Cluster) TailLog(name string, lines int) string {
	data, err := os.ReadFile(filepath.Join(c.Dir, name))
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// KeepClusterLogs copies the logs of the cluster's components (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok) to dst, replacing what dst held: kwokctl deletes
// them with the cluster, and a failing test needs them (the garbage collector's decisions are in
// kube-controller-manager.log).
func (c *Cluster) KeepClusterLogs(dst string) error {
	audit, err := c.AuditLog()
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if out, err := exec.Command("cp", "-r", filepath.Dir(audit), dst).CombinedOutput(); err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// AuditLog is the path of kube-apiserver's audit log (a cluster started with an AuditPolicy), in
// the folder of the cluster's logs (under KWOK_WORKDIR, or ~/.kwok); kwokctl deletes it with the
// cluster.
func (c *Cluster) AuditLog() (string, error) {
	dir, err := c.workdir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "logs", "audit.log"), nil
}

// workdir is where kwokctl keeps the cluster's files (configuration, PKI, logs, process ids).
func (c *Cluster) workdir() (string, error) {
	dir := os.Getenv("KWOK_WORKDIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(home, ".kwok")
	}
	return filepath.Join(dir, "clusters", c.Name), nil
}
