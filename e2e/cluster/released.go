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
)

// waitReleased waits until nothing answers at the API server's address any more. kwokctl's delete
// signals kube-apiserver and returns; a loaded API server can take many seconds to drain its
// watches and exit, and a cluster created meanwhile under the same name gets the same port, its
// own server fails to bind, and its clients meet the old server's certificate (make bench, N = 1
// then N = 10: "x509: certificate signed by unknown authority" twice in a row).
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
// returns; each holds a port that kwokctl, seeing no cluster there any more, may give to the next
// cluster's API server, whose clients then meet an old component's certificate, signed by the old
// cluster's CA (make bench, N = 10 then N = 100: "x509: certificate signed by unknown authority"
// twice in a row, the API server's own port long released).
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
