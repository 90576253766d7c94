package apis_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestRoundTripSamples decodes every sample strictly into its Go type and encodes it again: the JSON
// must come back identical. A field with a wrong JSON tag, a missing omitempty, or a type that
// rewrites its value (durations, booleans that default to true) fails here.
func TestRoundTripSamples(t *testing.T) {
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	cases := loadCorpus(t, filepath.Join(root, "config", "samples"))
	require.NotEmpty(t, cases)
	for _, tc := range cases {
		for _, doc := range tc.docs {
			t.Run(tc.name+"/"+doc.GetName(), func(t *testing.T) {
				in, err := json.Marshal(doc.Object)
				require.NoError(t, err)
				require.JSONEq(t, string(in), string(roundTrip(t, doc.GetKind(), in)))
			})
		}
	}
}

// TestRoundTripStable checks the valid corpus, which holds non-canonical input on purpose (a
// quantity written as a number): after one trip through the Go types the JSON is stable.
func TestRoundTripStable(t *testing.T) {
	for _, tc := range loadCorpus(t, filepath.Join("testdata", "admission", "valid")) {
		for i, doc := range tc.docs {
			t.Run(fmt.Sprintf("%s/%d", tc.name, i), func(t *testing.T) {
				in, err := json.Marshal(doc.Object)
				require.NoError(t, err)
				once := roundTrip(t, doc.GetKind(), in)
				require.JSONEq(t, string(once), string(roundTrip(t, doc.GetKind(), once)))
			})
		}
	}
}

func roundTrip(t *testing.T, kind string, in []byte) []byte {
	t.Helper()
	obj := newTyped(t, kind)
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(obj), "strict decoding")
	out, err := json.Marshal(obj)
	require.NoError(t, err)
	return out
}

func newTyped(t *testing.T, kind string) runtime.Object {
	t.Helper()
	switch kind {
	case "Stack":
		return &canopyv1alpha1.Stack{}
	case "Database":
		return &componentsv1alpha1.Database{}
	case "Frontend":
		return &componentsv1alpha1.Frontend{}
	case "BackupPolicy":
		return &componentsv1alpha1.BackupPolicy{}
	}
	t.Fatalf("no Go type for kind %q", kind)
	return nil
}
