package cluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Faults the e2e suite injects (e2e/README.md, "Faults"): the manager killed, replicas with leader
// election, and the control plane restarted under the manager.

// ManagerExited reports whether the manager StartManager started has ended on its own.
func (c *Cluster) ManagerExited() bool {
	return c.manager != nil && c.manager.Exited()
}

// StartReplica runs another manager process, named name (its log <Dir>/<name>.log), with leader
// election in leaseNamespace, no metrics and no probes: replicas of one manager compete for its
// Lease, as the Deployment's pods would.
func (c *Cluster) StartReplica(name, leaseNamespace string) error {
	return c.Run(name, c.Canopy, nil, "manager", "--leader-elect=true", "--leader-election-namespace="+leaseNamespace,
		"--metrics-bind-address=0", "--health-probe-bind-address=0")
}

// KillProcess ends the process Run started under name abruptly (SIGKILL), as a crash would, and
// reports whether there was one.
func (c *Cluster) KillProcess(name string) bool {
	for i, p := range c.processes {
		if p.Name == name {
			p.Kill()
			c.processes = append(c.processes[:i], c.processes[i+1:]...)
			return true
		}
	}
	return false
}

// RestartControlPlane stops the whole control plane — etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok — with `kwokctl stop cluster`, waits down, and starts it again with
// `kwokctl start cluster` (kwokctl v0.8.0 stops and starts only whole clusters; with
// --runtime=binary the programs keep their ports and etcd its data folder). The processes the
// harness runs (the manager among them) are not touched. It returns once the API server answers.
func (c *Cluster) RestartControlPlane(ctx context.Context, down time.Duration) error {
	if err := c.kwokctl(ctx, "stop", "cluster", "--name", c.Name); err != nil {
		return err
	}
	select {
	case <-time.After(down):
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := c.kwokctl(ctx, "start", "cluster", "--name", c.Name, "--wait", "1m"); err != nil {
		return err
	}
	for {
		if err := c.Client.List(ctx, &corev1.NamespaceList{}, client.Limit(1)); err == nil {
			return nil
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("the API server did not come back: %w", ctx.Err())
		}
	}
}
