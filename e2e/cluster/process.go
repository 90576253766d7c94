package cluster

import (
	"github.com/canopy-dev/canopy/e2e/harness"
)

// startProcess runs bin with args and KUBECONFIG pointing at the cluster, its output in
// <Dir>/<name>.log.
func (c *Cluster) startProcess(name, bin string, args ...string) (*harness.Process, error) {
	return c.startProcessEnv(name, bin, nil, args...)
}

// startProcessEnv is startProcess with env added to the environment (last value of a key wins).
func (c *Cluster) startProcessEnv(name, bin string, env []string, args ...string) (*harness.Process, error) {
	p, err := harness.Start(c.Dir, name, bin, append([]string{"KUBECONFIG=" + c.Kubeconfig}, env...), args...)
	if err != nil {
		return nil, err
	}
	c.Log("%s running (pid %d, log %s/%s.log)", name, p.PID(), c.Dir, name)
	return p, nil
}
