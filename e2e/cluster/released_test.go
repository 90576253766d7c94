package cluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWaitExited: Stop waits for the processes kwokctl recorded, kills those that outlive the
// wait, and takes an exited process its parent has not reaped yet (a zombie) as gone.
func TestWaitExited(t *testing.T) {
	t.Setenv("KWOK_WORKDIR", t.TempDir())
	c := &Cluster{Options: Options{Name: "pids"}}
	dir, err := c.workdir()
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "pids"), 0o755))

	stubborn := exec.Command("sleep", "60")
	require.NoError(t, stubborn.Start())
	exited := exec.Command("true")
	require.NoError(t, exited.Start())
	require.Eventually(t, func() bool { return !alive(exited.Process.Pid) }, 5*time.Second, 10*time.Millisecond,
		"an exited child not yet waited for is a zombie, not alive")
	for name, pid := range map[string]int{"kube-apiserver": stubborn.Process.Pid, "etcd": exited.Process.Pid} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "pids", name+".pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644))
	}
	pids := c.componentPIDs()
	require.ElementsMatch(t, []int{stubborn.Process.Pid, exited.Process.Pid}, pids)
	require.True(t, alive(stubborn.Process.Pid))

	left := waitExited(pids, 300*time.Millisecond)
	require.Equal(t, []int{stubborn.Process.Pid}, left, "the process that outlived the wait is named")
	require.Error(t, stubborn.Wait(), "and killed")
	_ = exited.Wait()
	require.Empty(t, waitExited(pids, time.Second), "nothing left to wait for")
}
