//go:build e2e

package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canopy-dev/canopy/internal/testenv"
)

var (
	pluginOnce sync.Once
	pluginPath string
	pluginErr  error
)

// pluginBinary builds the kubectl plugin once from this tree (a binary left in ./bin may be older
// than the code under test) and returns its path.
func pluginBinary(t *testing.T) string {
	t.Helper()
	pluginOnce.Do(func() {
		root, err := testenv.RepoRoot()
		if err != nil {
			pluginErr = err
			return
		}
		dir, err := exec.Command("mktemp", "-d").Output()
		if err != nil {
			pluginErr = err
			return
		}
		pluginPath = filepath.Join(string(bytes.TrimSpace(dir)), "kubectl-canopy")
		build := exec.Command("go", "build", "-o", pluginPath, "./cmd/kubectl-canopy")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			pluginErr = err
			t.Logf("building kubectl-canopy: %s", out)
		}
	})
	require.NoError(t, pluginErr, "building kubectl-canopy")
	return pluginPath
}

// kubectlCanopy runs the kubectl plugin as a user would, on the cluster's kubeconfig.
func kubectlCanopy(t *testing.T, ns string, args ...string) (stdout string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(pluginBinary(t), append([]string{"--kubeconfig", c.Kubeconfig, "-n", ns, "--color", "never"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil {
		t.Logf("kubectl canopy %v: %v\n%s", args, err, errb.String())
	}
	return out.String(), err
}
