package stack_test

import (
	"testing"

	"github.com/canopy-dev/canopy/internal/desired/specgen"
)

// FuzzStackChildren builds the Stack's Database, Frontend and BackupPolicy from generated valid Stacks: no
// builder may panic, and every object must pass specgen.Check. The corpus in testdata/fuzz/FuzzStackChildren
// is also dry-run against an API server by internal/desired's TestFuzzCorpusIsAdmitted.
func FuzzStackChildren(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := specgen.Generate(data)
		if err := specgen.Check(c, c.Children()); err != nil {
			t.Fatal(err)
		}
	})
}
