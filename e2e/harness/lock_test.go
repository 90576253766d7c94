package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLock: a second taker of a lock in use is refused, naming the holder; a lock released is free
// again, and its file goes when asked.
func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.lock")
	release, err := Lock(path, true)
	require.NoError(t, err)
	_, err = Lock(path, true)
	require.ErrorIs(t, err, ErrInUse)
	require.ErrorContains(t, err, fmt.Sprintf("(pid %d)", os.Getpid()))
	release()
	require.NoFileExists(t, path)
	again, err := Lock(path, false)
	require.NoError(t, err)
	again()
	require.FileExists(t, path)
}
