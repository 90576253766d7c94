//go:build realpods

// Package real runs Canopy on the real-pods tier: a single-node cluster whose pods really run
// (e2e/real/cluster), inside private network and mount namespaces. Run with `make e2e-real`, as
// root. TestMain runs twice: on the host, where it starts itself again inside new namespaces and,
// once that run ends, cleans and checks the host (no process, mount, network device, cgroup or
// host path left); and inside, where it starts the cluster, runs the tests and stops it.
package real

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/canopy-dev/canopy/e2e/real/cluster"
	"github.com/canopy-dev/canopy/internal/testenv"
)

var c *cluster.Cluster

// appVersions are the sample application's image tags the tests use.
var appVersions = []string{"1.0.0", "1.1.0"}

// brokenVersion is the sample application built so that its pods never become ready.
const brokenVersion = "2.0.0-broken"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func logf(f string, a ...any) { fmt.Printf("e2e-real: "+f+"\n", a...) }

func run(m *testing.M) int {
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir := filepath.Join(root, "bin", "e2e-real")
	if !cluster.InNamespace() {
		if os.Geteuid() != 0 {
			// As the other tiers treat a missing environment: a failure in CI, a skip elsewhere.
			fmt.Fprintln(os.Stderr, "e2e-real: needs root (namespaces, mounts, cgroups, containers)")
			if os.Getenv("CI") != "" {
				return 1
			}
			fmt.Fprintln(os.Stderr, "e2e-real: SKIPPED (not root; CI fails instead)")
			return 0
		}
		start := time.Now()
		code, leftovers, err := cluster.RunInNamespace(dir, logf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e-real:", err)
			return 1
		}
		if len(leftovers) > 0 {
			fmt.Fprintf(os.Stderr, "e2e-real: FAIL: the run left behind:\n  %s\n", strings.Join(leftovers, "\n  "))
			code = 1
		} else {
			logf("nothing left behind (processes, mounts, network devices, cgroups, host paths)")
		}
		logf("whole run %s", time.Since(start).Round(time.Second))
		return code
	}

	log.SetLogger(logr.Discard())
	if err := cluster.SetUpNamespace(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e-real: setting up the namespaces:", err)
		return 1
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err = cluster.Up(ctx, cluster.UpOptions{Root: root, Dir: dir, AppVersions: appVersions, BrokenVersion: brokenVersion, Log: logf})
	code := 0
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e-real: starting the cluster:", err)
		fmt.Fprintf(os.Stderr, "e2e-real: every component's log is in %s\n", filepath.Join(dir, "logs"))
		code = 1
	} else {
		logf("cluster, dependencies and Canopy ready in %s", time.Since(start).Round(100*time.Millisecond))
		code = m.Run()
	}
	if code != 0 && c != nil && err == nil {
		if exited := c.Exited(); len(exited) > 0 {
			fmt.Fprintf(os.Stderr, "e2e-real: processes that ended on their own: %v\n", exited)
		}
		for _, l := range []string{"manager", "kubelet", "containerd"} {
			fmt.Fprintf(os.Stderr, "e2e-real: %s.log (tail):\n%s\n", l, c.TailLog(l, 30))
		}
		fmt.Fprintf(os.Stderr, "e2e-real: every component's log is in %s\n", filepath.Join(dir, "logs"))
	}
	if err != nil {
		return code // Up stopped what it started
	}
	stop := time.Now()
	c.Stop()
	logf("cluster stopped in %s", time.Since(stop).Round(100*time.Millisecond))
	return code
}
