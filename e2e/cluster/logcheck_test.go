package cluster

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMisreportedErrors(t *testing.T) {
	log := `{"level":"info","msg":"Starting workers","controller":"stack"}
not json at all
{"level":"error","msg":"Reconciler error","controller":"frontend","error":"patching status of Frontend a/b: Operation cannot be fulfilled on frontends.components.canopy.dev \"b\": the object has been modified"}
{"level":"error","msg":"Reconciler error","controller":"stack","error":"applying Database a/b: databases.components.canopy.dev \"b\" is forbidden: unable to create new content in namespace a because it is being terminated"}
{"level":"error","msg":"Reconciler error","controller":"database","error":"reading the StatefulSet: connection refused"}
{"level":"info","msg":"Operation cannot be fulfilled, but not a reconcile error"}
`
	path := filepath.Join(t.TempDir(), "manager.log")
	require.NoError(t, os.WriteFile(path, []byte(log), 0o644))
	bad, err := misreportedErrors(path)
	require.NoError(t, err)
	require.Len(t, bad, 2, "the conflict and the terminating namespace; a real error is not routine")
	require.Contains(t, bad[0], "frontend: patching status")
	require.Contains(t, bad[1], "stack: applying Database")
}
