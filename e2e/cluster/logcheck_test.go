package cluster

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

//nolint:lll // log lines as the manager writes them, one JSON object a line
const misreportedLog = `{"level":"info","msg":"Starting workers","controller":"stack"}
not json at all
{"level":"error","msg":"Reconciler error","controller":"frontend","error":"patching status of Frontend a/b: Operation cannot be fulfilled on frontends.components.canopy.dev \"b\": the object has been modified"}
{"level":"error","msg":"Reconciler error","controller":"stack","error":"applying Database a/b: databases.components.canopy.dev \"b\" is forbidden: unable to create new content in namespace a because it is being terminated"}
{"level":"error","msg":"Reconciler error","controller":"database","error":"reading the StatefulSet: connection refused"}
{"level":"info","msg":"Operation cannot be fulfilled, but not a reconcile error"}
{"level":"error","logger":"controller-runtime.cache.UnhandledError","msg":"Failed to watch","type":"*v1.ServiceMonitor","error":"failed to list *v1.ServiceMonitor: the server could not find the requested resource (get servicemonitors.monitoring.coreos.com)"}
{"level":"error","logger":"controller-runtime.cache.UnhandledError","msg":"Failed to watch","type":"*v1.Pod","error":"Get \"https://127.0.0.1:1/api/v1/pods\": connection refused"}
`

func TestMisreportedErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "manager.log")
	require.NoError(t, os.WriteFile(path, []byte(misreportedLog), 0o644))
	bad, err := misreportedErrors(path)
	require.NoError(t, err)
	require.Len(t, bad, 3, "the conflict, the terminating namespace and the watch of a kind that is gone; real errors are not routine")
	require.Contains(t, bad[0], "frontend: patching status")
	require.Contains(t, bad[1], "stack: applying Database")
	require.Contains(t, bad[2], "cache: failed to list *v1.ServiceMonitor")
}
