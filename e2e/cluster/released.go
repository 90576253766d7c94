package cluster

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// waitReleased waits until nothing answers at the API server's address any more. kwokctl's delete
// signals kube-apiserver and returns; a loaded API server can take many seconds to drain its
// watches and exit, and the next cluster of the same name gets the same port, where its own server
// could not bind. (The "x509: certificate signed by unknown authority" that make bench met at the
// next cluster's start was client-go's transport cache, not this: see clientConfig.)
func waitReleased(host string, timeout time.Duration) bool {
	u, err := url.Parse(host)
	if err != nil || u.Host == "" {
		return true
	}
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err != nil {
			return true
		}
		_ = conn.Close()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// componentPIDs reads the process ids kwokctl recorded for the cluster's components (etcd, the
// API server, the controller manager, the scheduler, kwok). kwokctl's delete signals them and
// returns; each holds a port that kwokctl, seeing no cluster there any more, may give to a
// component of the next cluster.
func (c *Cluster) componentPIDs() []int {
	dir, err := c.workdir()
	if err != nil {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(dir, "pids", "*.pid"))
	var pids []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitExited waits until every process of pids has exited; those still running after timeout are
// killed (SIGKILL) and returned.
func waitExited(pids []int, timeout time.Duration) []int {
	deadline := time.Now().Add(timeout)
	for {
		var running []int
		for _, pid := range pids {
			if alive(pid) {
				running = append(running, pid)
			}
		}
		if len(running) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, pid := range running {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return running
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// alive reports whether pid runs: it exists and is not a zombie (one that has exited and holds no
// port, whether or not its parent has reaped it yet).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil // no /proc: signal 0 tells that the process exists
	}
	// The state follows the command's closing parenthesis: "pid (comm) S ...".
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// clientConfig reads a cluster's kubeconfig with the contents of its CA, certificate and key files
// in it. client-go caches TLS transports by the CA file's path (ClientsAllowCARotation) and reads
// the file again at most every 5 minutes; every cluster of one name keeps its CA at the same path,
// so a later cluster in the same process (make bench: one per N) was checked against the earlier
// one's CA: "x509: certificate signed by unknown authority", twice in a row, then gone minutes
// later. With the contents in the configuration, the cache is keyed by them.
func clientConfig(kubeconfig string) (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	return cfg, rest.LoadTLSFiles(cfg)
}
