package cluster

import (
	"github.com/canopy-dev/canopy/e2e/harness"
)

// startProcess runs bin with args, KUBECONFIG naming the administrator's kubeconfig and env added,
// its output in logs/<name>.log, and records it to be stopped by Stop (containerd is stopped last,
// on its own).
func (c *Cluster) startProcess(name, bin string, env []string, args ...string) (*harness.Process, error) {
	p, err := harness.Start(c.logs, name, bin, append([]string{"KUBECONFIG=" + c.Kubeconfig}, env...), args...)
	if err != nil {
		return nil, err
	}
	if name != "containerd" {
		c.processes = append(c.processes, p)
	}
	c.Log("%s running (pid %d)", name, p.PID())
	return p, nil
}
