//go:build realpods

package real

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPlainStackServes: a Stack without TLS, monitoring or backups becomes Ready on pods that
// really run: PostgreSQL initialised by the image's entrypoint with Canopy's first-start script,
// the migration Job created the schema, and the web pods answer through their Service by name.
func TestPlainStackServes(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	newStack(t, ns, "plain")
	t.Logf("Stack to Ready: %s", waitReady(t, ns, "plain", appVersions[0]))
	url := fmt.Sprintf("http://plain-web.%s.svc", ns)
	code, body, err := post(t, url+"/notes", "hello")
	require.NoError(t, err)
	require.Equal(t, 200, code, body)
	code, body, err = get(url + "/")
	require.NoError(t, err)
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `1 notes, last "hello"`)
}
