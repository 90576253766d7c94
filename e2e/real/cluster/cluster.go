// Package cluster runs the real-pods tier's single-node Kubernetes cluster: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, a kubelet on containerd and runc with the CNI bridge
// plugin, kube-proxy and CoreDNS, all as local processes inside private network and mount
// namespaces (namespace.go), so that pods really run and nothing reaches the host's network or
// mount table. cert-manager's controllers, the Prometheus operator, versitygw and Canopy's manager
// run as processes against it, as on the simulated cluster (e2e/cluster). Images are packed here
// from files and Debian packages and imported into containerd (image.go, images.go): no registry.
//
// The measured recipe this follows, with the reason for each setting, is
// docs/real-pods.md.
package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canopy-dev/canopy/e2e/harness"
	"github.com/canopy-dev/canopy/internal/scheme"
)

// The node's fixed addresses: everything is inside the tier's own network namespace.
const (
	// NodeIP is the node's address, on the namespace's loopback device; the API server, the
	// kubelet, CoreDNS and the processes the harness runs listen on it.
	NodeIP = "10.10.0.1"
	// NodeName is the only node.
	NodeName = "canopy-real"
	// PodCIDR is the CNI bridge's range; ServiceCIDR the ClusterIPs'.
	PodCIDR     = "10.244.0.0/24"
	ServiceCIDR = "10.96.0.0/16"
	// APIServer is the API server's URL.
	APIServer = "https://" + NodeIP + ":6443"
)

// Binaries are the programs the cluster runs (built by `make e2e-real`'s prerequisites).
type Binaries struct {
	Etcd, KubeApiserver, KubeControllerManager, KubeScheduler, Kubelet, KubeProxy, CoreDNS string
	CertManager, PrometheusOperator, Versitygw                                             string
	// Canopy is the canopy binary (built from the tree): the manager, and the agent image's.
	Canopy string
}

// FindBinaries locates the binaries under the repository's bin folder.
func FindBinaries(root string) (Binaries, error) {
	var b Binaries
	for _, f := range []struct {
		dst     *string
		pattern string
	}{
		{&b.Etcd, "k8s/etcd-*"}, {&b.KubeApiserver, "k8s/kube-apiserver-*"}, {&b.KubeControllerManager, "k8s/kube-controller-manager-*"},
		{&b.KubeScheduler, "k8s/kube-scheduler-*"}, {&b.Kubelet, "k8s/kubelet-*"}, {&b.KubeProxy, "k8s/kube-proxy-*"},
		{&b.CoreDNS, "k8s/coredns-*"}, {&b.CertManager, "k8s/cert-manager-*"}, {&b.PrometheusOperator, "k8s/prometheus-operator-*"},
		{&b.Versitygw, "versitygw-*"}, {&b.Canopy, "real/canopy"},
	} {
		m, _ := filepath.Glob(filepath.Join(root, "bin", f.pattern))
		if len(m) == 0 {
			return b, fmt.Errorf("no %s in %s/bin: run `make e2e-real-tools`", f.pattern, root)
		}
		*f.dst = m[len(m)-1]
	}
	return b, nil
}

// Options describe the cluster.
type Options struct {
	// Dir holds the logs (kept) and the cluster's state (state/, removed by Stop).
	Dir string
	// Root is the repository (CRDs).
	Root string
	Binaries
	// Images are imported into containerd before the kubelet starts.
	Images []Image
	// ManagerEnv is added to the manager's environment (the RELATED_IMAGE_* of the local images).
	ManagerEnv []string
	// Log receives progress lines.
	Log func(format string, args ...any)
}

// Cluster is the running cluster.
type Cluster struct {
	Options
	// Kubeconfig is the administrator's kubeconfig file.
	Kubeconfig string
	Config     *rest.Config
	Client     client.Client

	state, logs string
	pki         *pki
	containerd  *harness.Process
	// processes run in start order and stop in reverse.
	processes   []*harness.Process
	manager     *harness.Process
	provisioner context.CancelFunc
}

func (c *Cluster) sock() string { return filepath.Join(c.state, "containerd", "containerd.sock") }

// Start brings the cluster up inside the current process's namespaces (see Enter). On error, what
// was started is stopped.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Dir, err = realPath(o.Dir); err != nil {
		return nil, err
	}
	c = &Cluster{Options: o, state: filepath.Join(o.Dir, "state"), logs: filepath.Join(o.Dir, "logs")}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	_ = os.RemoveAll(c.state)
	_ = os.RemoveAll(c.logs)
	for _, d := range []string{c.state, c.logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return c, err
		}
	}
	start := time.Now()
	if err := c.writeConfig(); err != nil {
		return c, err
	}
	if err := c.startContainerd(ctx); err != nil {
		return c, err
	}
	if err := c.importImages(ctx); err != nil {
		return c, err
	}
	o.Log("containerd up, %d images imported in %s", len(o.Images), time.Since(start).Round(100*time.Millisecond))
	if err := c.startControlPlane(ctx); err != nil {
		return c, err
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return c, err
	}
	if c.Client, err = client.New(c.Config, client.Options{Scheme: scheme.New()}); err != nil {
		return c, err
	}
	if err := c.startNode(ctx); err != nil {
		return c, err
	}
	o.Log("node %s Ready %s after start", NodeName, time.Since(start).Round(100*time.Millisecond))
	pctx, cancel := context.WithCancel(context.Background())
	c.provisioner = cancel
	if err := startProvisioner(pctx, c.Client, filepath.Join(c.state, "volumes"), o.Log); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) writeConfig() error {
	var err error
	if c.pki, err = newPKI(filepath.Join(c.state, "pki")); err != nil {
		return err
	}
	p := c.pki
	nodeIP := net.ParseIP(NodeIP)
	for _, cert := range []struct {
		name, cn string
		orgs     []string
		server   bool
		ips      []net.IP
		dns      []string
	}{
		{"apiserver", "kube-apiserver", nil, true, []net.IP{nodeIP, net.ParseIP("10.96.0.1"), net.ParseIP("127.0.0.1")},
			[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}},
		{"kubelet-serving", "system:node:" + NodeName, []string{"system:nodes"}, true, []net.IP{nodeIP}, []string{NodeName}},
		{"admin", "canopy-real-admin", []string{"system:masters"}, false, nil, nil},
		{"kubelet", "system:node:" + NodeName, []string{"system:nodes"}, false, nil, nil},
		{"kube-proxy", "system:kube-proxy", nil, false, nil, nil},
		{"kube-controller-manager", "system:kube-controller-manager", nil, false, nil, nil},
		{"kube-scheduler", "system:kube-scheduler", nil, false, nil, nil},
	} {
		if err := p.issue(cert.name, cert.cn, cert.orgs, cert.server, cert.ips, cert.dns); err != nil {
			return err
		}
	}
	c.Kubeconfig = filepath.Join(c.state, "admin.kubeconfig")
	for _, name := range []string{"admin", "kubelet", "kube-proxy", "kube-controller-manager", "kube-scheduler"} {
		if err := p.kubeconfig(filepath.Join(c.state, name+".kubeconfig"), name, APIServer); err != nil {
			return err
		}
	}
	files := map[string]string{
		"containerd/config.toml":       containerdConfig,
		"cni/net.d/10-canopy.conflist": cniConfig,
		"kubelet.yaml":                 kubeletConfig,
		"kube-proxy.yaml":              kubeProxyConfig,
		"Corefile":                     corefile,
		"resolv.conf":                  "nameserver " + NodeIP + "\nsearch cluster.local\noptions ndots:5\n",
	}
	for name, text := range files {
		f := filepath.Join(c.state, name)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return err
		}
		text = strings.NewReplacer("${STATE}", c.state, "${LOGS}", c.logs, "${NODE_IP}", NodeIP, "${NODE}", NodeName, "${POD_CIDR}", PodCIDR).Replace(text)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) startContainerd(ctx context.Context) error {
	p, err := c.startProcess("containerd", "containerd", nil, "--config", filepath.Join(c.state, "containerd", "config.toml"))
	if err != nil {
		return err
	}
	c.containerd = p
	return waitFor(ctx, time.Minute, "containerd's socket", func() bool {
		return exec.CommandContext(ctx, "ctr", "-a", c.sock(), "version").Run() == nil
	})
}

// ctr runs containerd's client in the Kubernetes namespace.
func (c *Cluster) ctr(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "ctr", append([]string{"-a", c.sock(), "-n", "k8s.io"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *Cluster) importImages(ctx context.Context) error {
	dir := filepath.Join(c.Dir, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, img := range c.Images {
		start := time.Now()
		archive := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(img.Names[0])+".tar")
		if err := img.WriteArchive(archive); err != nil {
			return fmt.Errorf("packing %s: %w", img.Names[0], err)
		}
		if _, err := c.ctr(ctx, "images", "import", "--no-unpack=false", archive); err != nil {
			return err
		}
		for _, n := range img.Names[1:] {
			if _, err := c.ctr(ctx, "images", "tag", "--force", img.Names[0], n); err != nil {
				return err
			}
		}
		_ = os.Remove(archive)
		c.Log("image %s imported in %s", img.Names[0], time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

func (c *Cluster) startControlPlane(ctx context.Context) error {
	pki := c.pki.path
	if _, err := c.startProcess("etcd", c.Etcd, nil, "--data-dir", filepath.Join(c.state, "etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--unsafe-no-fsync"); err != nil {
		return err
	}
	if _, err := c.startProcess("kube-apiserver", c.KubeApiserver, nil, "--etcd-servers=http://127.0.0.1:2379",
		"--bind-address="+NodeIP, "--advertise-address="+NodeIP, "--secure-port=6443",
		"--tls-cert-file="+pki("apiserver.crt"), "--tls-private-key-file="+pki("apiserver.key"), "--client-ca-file="+pki("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc", "--service-account-key-file="+pki("sa.pub"),
		"--service-account-signing-key-file="+pki("sa.key"), "--service-cluster-ip-range="+ServiceCIDR,
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--kubelet-client-certificate="+pki("admin.crt"), "--kubelet-client-key="+pki("admin.key"),
		"--kubelet-certificate-authority="+pki("ca.crt"), "--kubelet-preferred-address-types=InternalIP"); err != nil {
		return err
	}
	// The controller manager raced RBAC's bootstrap when started before the API server was ready.
	if err := c.waitReadyz(ctx); err != nil {
		return err
	}
	kcm := filepath.Join(c.state, "kube-controller-manager.kubeconfig")
	if _, err := c.startProcess("kube-controller-manager", c.KubeControllerManager, nil, "--kubeconfig="+kcm,
		"--authentication-kubeconfig="+kcm, "--authorization-kubeconfig="+kcm, "--use-service-account-credentials=true",
		"--service-account-private-key-file="+pki("sa.key"), "--root-ca-file="+pki("ca.crt"),
		"--cluster-signing-cert-file="+pki("ca.crt"), "--cluster-signing-key-file="+pki("ca.key"),
		// No cloud, and the node's pod range is the CNI configuration's.
		"--controllers=*,-nodeipam", "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=10257"); err != nil {
		return err
	}
	sched := filepath.Join(c.state, "kube-scheduler.kubeconfig")
	_, err := c.startProcess("kube-scheduler", c.KubeScheduler, nil, "--kubeconfig="+sched,
		"--authentication-kubeconfig="+sched, "--authorization-kubeconfig="+sched, "--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port=10259")
	return err
}

func (c *Cluster) waitReadyz(ctx context.Context) error {
	cert, err := tls.LoadX509KeyPair(c.pki.path("admin.crt"), c.pki.path("admin.key"))
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}}} //nolint:gosec // a probe of our own server on loopback
	return waitFor(ctx, 2*time.Minute, "the API server's /readyz", func() bool {
		resp, err := hc.Get(APIServer + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (c *Cluster) startNode(ctx context.Context) error {
	for _, d := range []string{filepath.Join(c.state, "kubelet"), filepath.Join(c.state, "manifests"), filepath.Join(c.logs, "pods")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if _, err := c.startProcess("kubelet", c.Kubelet, nil, "--config="+filepath.Join(c.state, "kubelet.yaml"),
		"--kubeconfig="+filepath.Join(c.state, "kubelet.kubeconfig"), "--root-dir="+filepath.Join(c.state, "kubelet"),
		"--hostname-override="+NodeName, "--node-ip="+NodeIP); err != nil {
		return err
	}
	if _, err := c.startProcess("kube-proxy", c.KubeProxy, nil, "--config="+filepath.Join(c.state, "kube-proxy.yaml")); err != nil {
		return err
	}
	if _, err := c.startProcess("coredns", c.CoreDNS, nil, "-conf", filepath.Join(c.state, "Corefile")); err != nil {
		return err
	}
	return waitFor(ctx, 2*time.Minute, "the node to be Ready", func() bool {
		n := &corev1.Node{}
		if c.Client.Get(ctx, client.ObjectKey{Name: NodeName}, n) != nil {
			return false
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue
			}
		}
		return false
	})
}

// StartManager runs Canopy's manager as a local process against the cluster.
func (c *Cluster) StartManager() error {
	p, err := c.startProcess("manager", c.Canopy, c.ManagerEnv, "manager", "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0")
	if err != nil {
		return err
	}
	c.manager = p
	c.processes = c.processes[:len(c.processes)-1] // stopped first, on its own
	return nil
}

// KillManager stops the manager abruptly (SIGKILL), as a crash would.
func (c *Cluster) KillManager() {
	c.manager.Kill()
	c.manager = nil
}

// Run starts bin as a process the cluster stops on Stop, its output in logs/<name>.log.
func (c *Cluster) Run(name, bin string, env []string, args ...string) error {
	_, err := c.startProcess(name, bin, env, args...)
	return err
}

// Stop stops every process and container, in the reverse order of their start, then removes the
// cluster's state (the logs stay). What remains of the namespaces goes with the last process in
// them; the host side is cleaned and checked by Enter's caller (Leftovers).
func (c *Cluster) Stop() {
	if c == nil {
		return
	}
	c.manager.Stop(10 * time.Second)
	c.manager = nil
	if c.provisioner != nil {
		c.provisioner()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The processes after the node, then the kubelet and kube-proxy; the containers; then the
	// control plane and containerd.
	for i := len(c.processes) - 1; i >= 0; i-- {
		p := c.processes[i]
		if p.Name == "kube-controller-manager" && c.containerd != nil {
			c.stopContainers(ctx)
		}
		start := time.Now()
		p.Stop(10 * time.Second)
		if d := time.Since(start); d > 2*time.Second {
			c.Log("%s took %s to stop", p.Name, d.Round(100*time.Millisecond))
		}
	}
	c.processes = nil
	if c.containerd != nil {
		c.stopContainers(ctx)
		c.containerd.Stop(10 * time.Second)
		c.containerd = nil
	}
	killNamespaceProcesses(c.Log)
	unmountUnder(c.state, c.Log)
	if err := os.RemoveAll(c.state); err != nil {
		c.Log("removing %s: %v", c.state, err)
	}
}

// stopContainers kills every container's task and deletes the containers.
func (c *Cluster) stopContainers(ctx context.Context) {
	start := time.Now()
	defer func() { c.Log("containers stopped in %s", time.Since(start).Round(100*time.Millisecond)) }()
	tasks, _ := c.ctr(ctx, "tasks", "ls", "-q")
	for _, t := range strings.Fields(tasks) {
		_, _ = c.ctr(ctx, "tasks", "kill", "-a", "-s", "SIGKILL", t)
	}
	for _, t := range strings.Fields(tasks) {
		// A killed task is usually gone already: containerd deletes it when it exits.
		if _, err := c.ctr(ctx, "tasks", "delete", "-f", t); err != nil && !strings.Contains(err.Error(), "not found") {
			c.Log("deleting task %s: %v", t, err)
		}
	}
	containers, _ := c.ctr(ctx, "containers", "ls", "-q")
	for _, ct := range strings.Fields(containers) {
		_, _ = c.ctr(ctx, "containers", "delete", ct)
	}
}

// TailLog returns the last lines of a component's log (kubelet, manager, ...).
func (c *Cluster) TailLog(name string, lines int) string {
	data, err := os.ReadFile(filepath.Join(c.logs, name+".log"))
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Exited names the processes that ended on their own (a crash).
func (c *Cluster) Exited() []string {
	var out []string
	for _, p := range append([]*harness.Process{c.containerd, c.manager}, c.processes...) {
		if p != nil && p.Exited() {
			out = append(out, p.Name)
		}
	}
	return out
}

func waitFor(ctx context.Context, timeout time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ok() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
