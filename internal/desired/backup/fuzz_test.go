package backup_test

import (
	"testing"

	"github.com/canopy-dev/canopy/internal/desired/specgen"
)

// FuzzBackupObjects builds the objects of the Stack's BackupPolicy from generated valid Stacks: no
// builder may panic, and every object must pass specgen.Check. The corpus in testdata/fuzz/FuzzBackupObjects
// is also dry-run against an API server by internal/desired's TestFuzzCorpusIsAdmitted.
func FuzzBackupObjects(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := specgen.Generate(data)
		if err := specgen.Check(c, c.BackupObjects()); err != nil {
			t.Fatal(err)
		}
	})
}
