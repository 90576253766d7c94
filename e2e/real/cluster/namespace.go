package cluster

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// envInside marks the process that runs inside the tier's namespaces.
const envInside = "CANOPY_REAL_NAMESPACE"

// InNamespace reports whether this process runs inside the tier's namespaces (started by
// RunInNamespace).
func InNamespace() bool { return os.Getenv(envInside) == "1" }

// hostPaths are created by containerd 1.6 and the kubelet on the host's file system whatever their
// configuration says; those that did not exist before a run are removed after it.
var hostPaths = []string{"/var/lib/cni", "/var/lib/kubelet", "/var/log/containers", "/var/log/pods", "/run/netns",
	"/run/containerd", "/opt/containerd", "/etc/cni"}

// cgroupNames are the top-level cgroups the kubelet (cgroupfs driver), containerd and runc create
// in each hierarchy of cgroup v1; cgroups are not namespaced here, so they outlive the namespaces.
var cgroupNames = []string{"kubepods", "kubepods.slice", "k8s.io", "default", "kubelet", "system.slice"}

// hostState is what a run may leave on the host, taken before and after it.
type hostState struct {
	paths   map[string]bool
	cgroups map[string]bool
	links   map[string]bool
}

func takeHostState() hostState {
	s := hostState{paths: map[string]bool{}, cgroups: map[string]bool{}, links: map[string]bool{}}
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); err == nil {
			s.paths[p] = true
		}
	}
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hierarchies {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			if e.IsDir() {
				s.cgroups[filepath.Join(h, e.Name())] = true
			}
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 {
				s.links[strings.TrimSuffix(strings.Split(f[1], "@")[0], ":")] = true
			}
		}
	}
	return s
}

// RunInNamespace runs this program again (same arguments) in new network and mount namespaces,
// with its output on ours, and returns its exit code. Afterwards it removes what the run left on
// the host (the paths and cgroups that containerd and the kubelet create outside their
// configuration, by name) and returns what it still finds: a process of the run's network
// namespace, a mount under dir, a network device or a cgroup that appeared during the run.
func RunInNamespace(dir string, log func(string, ...any)) (code int, leftovers []string, err error) {
	if dir, err = realPath(dir); err != nil {
		return 1, nil, err
	}
	unlock, err := lockMachine()
	if err != nil {
		return 1, nil, err
	}
	defer unlock()
	// A run killed before its cleanup (SIGKILL of this side) leaves the kubelet's cgroups; with the
	// lock held none is in use, and the new kubelet must not inherit them.
	for cg := range takeHostState().cgroups {
		if filepath.Base(cg) == "kubepods" {
			if err := removeCgroup(cg); err != nil {
				log("a stale cgroup %s of an earlier run stays: %v", cg, err)
			} else {
				log("removed the stale cgroup %s of an earlier run", cg)
			}
		}
	}
	before := takeHostState()
	self, err := os.Executable()
	if err != nil {
		return 1, nil, err
	}
	cmd := exec.Command(self, os.Args[1:]...) //nolint:gosec // G702: this test binary runs itself again, with its own arguments
	cmd.Env = append(os.Environ(), envInside+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 1, nil, fmt.Errorf("starting the tier in new namespaces: %w", err)
	}
	netns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid))
	// Ctrl-C and SIGTERM are for the run inside, which stops what it started; this side waits for
	// it and cleans up after.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	signal.Stop(sigs)
	close(sigs)
	code = cmd.ProcessState.ExitCode()
	if err != nil && code <= 0 {
		code = 1
	}

	// Processes still in the run's network namespace: the holder is gone, so they are strays.
	if pids := namespacePids(netns, 0); len(pids) > 0 {
		for _, pid := range pids {
			leftovers = append(leftovers, fmt.Sprintf("process %d (%s) in the tier's network namespace: killed", pid, cmdline(pid)))
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(time.Second)
	}
	after := takeHostState()
	for _, p := range hostPaths {
		if !before.paths[p] && after.paths[p] {
			if err := os.RemoveAll(p); err != nil {
				leftovers = append(leftovers, fmt.Sprintf("host path %s: %v", p, err))
			}
		}
	}
	var made []string
	for cg := range after.cgroups {
		if !before.cgroups[cg] && slices.Contains(cgroupNames, filepath.Base(cg)) {
			made = append(made, cg)
		}
	}
	for _, cg := range made {
		if err := removeCgroup(cg); err != nil {
			leftovers = append(leftovers, fmt.Sprintf("cgroup %s: %v", cg, err))
		}
	}
	// The check, after the cleanup.
	final := takeHostState()
	for _, p := range hostPaths {
		if !before.paths[p] && final.paths[p] {
			leftovers = append(leftovers, "host path "+p)
		}
	}
	for cg := range final.cgroups {
		if !before.cgroups[cg] && slices.Contains(cgroupNames, filepath.Base(cg)) {
			leftovers = append(leftovers, "cgroup "+cg)
		}
	}
	for l := range final.links {
		if !before.links[l] {
			leftovers = append(leftovers, "network device "+l+" on the host")
		}
	}
	for _, m := range mountsUnder(dir) {
		leftovers = append(leftovers, "mount "+m+" on the host")
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		leftovers = append(leftovers, "state folder "+filepath.Join(dir, "state")+" (removed now)")
		_ = os.RemoveAll(filepath.Join(dir, "state"))
	}
	for _, p := range namespacePids(netns, 0) {
		leftovers = append(leftovers, fmt.Sprintf("process %d (%s) survived SIGKILL", p, cmdline(p)))
	}
	sort.Strings(leftovers)
	return code, leftovers, nil
}

// removeCgroup removes a cgroup and its children, deepest first (rmdir: a cgroup with a process in
// it stays, and is reported).
func removeCgroup(root string) error {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	var last error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syscall.Rmdir(dirs[i]); err != nil && !os.IsNotExist(err) {
			last = err
		}
	}
	return last
}

// SetUpNamespace prepares the namespaces this process runs in (InNamespace): mounts are private
// to them (then shared within, as the kubelet expects), loopback is up with the node's address,
// forwarding and bridge netfilter are on (kube-proxy's rules see bridged traffic), and
// /etc/resolv.conf names CoreDNS, so that the harness and the processes it runs resolve
// cluster names as pods do.
func SetUpNamespace(dir string) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_SHARED, ""); err != nil {
		return fmt.Errorf("making mounts shared within the namespace: %w", err)
	}
	// The Service range needs a route for the harness's own connections to ClusterIPs: kube-proxy's
	// rules rewrite the destination to a pod after the first routing decision, which fails
	// without one ("network is unreachable"); pods have their default route through the bridge.
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", NodeIP + "/32", "dev", "lo"},
		{"route", "add", ServiceCIDR, "dev", "lo", "src", NodeIP}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	// bridge-nf-call-iptables exists once br_netfilter is loaded; where it is built in or loaded
	// already, modprobe has nothing to do.
	_ = exec.Command("modprobe", "br_netfilter").Run()
	for file, value := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                "1",
		"/proc/sys/net/bridge/bridge-nf-call-iptables": "1",
	} {
		if err := os.WriteFile(file, []byte(value), 0o644); err != nil {
			return fmt.Errorf("setting %s (is br_netfilter loaded?): %w", file, err)
		}
	}
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(resolv, []byte("nameserver "+NodeIP+"\nsearch cluster.local\noptions ndots:5\n"), 0o644); err != nil {
		return err
	}
	if err := syscall.Mount(resolv, "/etc/resolv.conf", "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("mounting %s on /etc/resolv.conf: %w", resolv, err)
	}
	return nil
}

// namespacePids lists the processes in the network namespace netns (a /proc/PID/ns/net link),
// except except.
func namespacePids(netns string, except int) []int {
	if netns == "" {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == except {
			continue
		}
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); l == netns {
			out = append(out, pid)
		}
	}
	return out
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	s := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// killNamespaceProcesses kills, by PID, every other process of this process's network namespace:
// the containerd shims and whatever ran in containers, once containerd and the kubelet are gone.
func killNamespaceProcesses(log func(string, ...any)) {
	self, _ := os.Readlink("/proc/self/ns/net")
	pids := namespacePids(self, os.Getpid())
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			log("killed stray process %d (%s)", pid, cmdline(pid))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(namespacePids(self, os.Getpid())) > 0 && time.Now().Before(deadline) {
		// Our own children must be reaped to go.
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		time.Sleep(100 * time.Millisecond)
	}
}

// mountsUnder lists the mount points of this mount namespace under one of the prefixes.
func mountsUnder(prefixes ...string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := strings.ReplaceAll(fields[4], `\040`, " ")
		for _, p := range prefixes {
			if mp == p || strings.HasPrefix(mp, strings.TrimSuffix(p, "/")+"/") {
				out = append(out, mp)
				break
			}
		}
	}
	return out
}

// unmountUnder unmounts, deepest first, what is mounted under dir and the kubelet's and
// containerd's own host paths (pod volumes, sandbox network namespaces, container root file
// systems), so that their folders can be removed.
func unmountUnder(dir string, log func(string, ...any)) {
	mounts := mountsUnder(append([]string{dir}, hostPaths...)...)
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !os.IsNotExist(err) {
			log("unmounting %s: %v", m, err)
		}
	}
}

// realPath is dir with its symbolic links resolved (as the mount table names paths), created if
// missing.
func realPath(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(dir)
}
