package database_test

import (
	"testing"

	"github.com/canopy-dev/canopy/internal/desired/specgen"
)

// FuzzDatabaseObjects builds the objects of the Stack's Database from generated valid Stacks: no
// builder may panic, and every object must pass specgen.Check. The corpus in testdata/fuzz/FuzzDatabaseObjects
// is also dry-run against an API server by internal/desired's TestFuzzCorpusIsAdmitted.
func FuzzDatabaseObjects(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := specgen.Generate(data)
		if err := specgen.Check(c, c.DatabaseObjects()); err != nil {
			t.Fatal(err)
		}
	})
}
