package plugin

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIsTerminal: colour and prompts need a terminal, not any character device — output sent to
// /dev/null (a character device) or a pipe gets neither.
func TestIsTerminal(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer func() { _ = null.Close() }()
	require.False(t, isTerminal(null), os.DevNull)

	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer func() { _ = r.Close(); _ = w.Close() }()
	require.False(t, isTerminal(w), "a pipe")
	require.False(t, isTerminal(&bytes.Buffer{}), "not a file")

	// The master side of a pseudo-terminal answers the terminal ioctl as a terminal does.
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer func() { _ = pty.Close() }()
	require.True(t, isTerminal(pty), "a terminal")
}
