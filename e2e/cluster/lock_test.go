package cluster

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLockName: a second run cannot take a cluster name in use, and says who holds it; the name is
// free again once released.
func TestLockName(t *testing.T) {
	t.Setenv("KWOK_WORKDIR", t.TempDir())
	release, err := lockName("a")
	require.NoError(t, err)
	_, err = lockName("a")
	require.ErrorContains(t, err, fmt.Sprintf("the cluster a is in use by another run (pid %d)", os.Getpid()))
	other, err := lockName("b")
	require.NoError(t, err, "another name is another cluster")
	other()
	release()
	again, err := lockName("a")
	require.NoError(t, err)
	again()
}
