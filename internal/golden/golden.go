// Package golden compares what builders produce with files under testdata/, rewritten by
// `go test -update`.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite golden files")

// YAML renders objs as a multi-document YAML file and compares it with testdata/<name>.golden.yaml.
func YAML(t *testing.T, name string, objs ...any) {
	t.Helper()
	var out bytes.Buffer
	for _, o := range objs {
		data, err := yaml.Marshal(o)
		require.NoError(t, err)
		out.WriteString("---\n")
		out.Write(data)
	}
	Compare(t, filepath.Join("testdata", name+".golden.yaml"), out.Bytes())
}

// Compare checks got against the file at path, or rewrites the file with -update.
func Compare(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file %s: run go test with -update", path)
	require.Equal(t, string(want), string(got), "golden %s differs (go test -update rewrites it)", path)
}
