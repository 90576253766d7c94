package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunDispatchesCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"help"}, &out, &errOut))
	require.Contains(t, out.String(), "manager")

	out.Reset()
	errOut.Reset()
	require.Equal(t, 2, run([]string{"explode"}, &out, &errOut))
	require.Contains(t, errOut.String(), `unknown command "explode"`)

	errOut.Reset()
	require.Equal(t, 2, run([]string{"manager", "--no-such-flag"}, &out, &errOut), "bad flags are a usage error")
	require.Contains(t, errOut.String(), "no-such-flag")

	errOut.Reset()
	require.Equal(t, 2, run([]string{"--watch-namespaces=Bad_NS"}, &out, &errOut), "flags alone run the manager")
	require.Contains(t, errOut.String(), `invalid namespace "Bad_NS"`)
}
