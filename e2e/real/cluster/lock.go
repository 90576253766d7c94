package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/canopy-dev/canopy/e2e/harness"
)

// lockPath is one per machine, not per checkout: cgroups are not namespaced here, and two
// kubelets would share (and one run's cleanup remove) the other's kubepods cgroups.
var lockPath = filepath.Join(os.TempDir(), "canopy-e2e-real.lock")

// lockMachine takes the tier's lock for this process, or says which process holds it.
func lockMachine() (release func(), err error) {
	release, err = harness.Lock(lockPath, true)
	if errors.Is(err, harness.ErrInUse) {
		return nil, fmt.Errorf("the real-pods tier is %w on this machine; one runs at a time", err)
	}
	return release, err
}
