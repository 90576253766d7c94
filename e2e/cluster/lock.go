package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/canopy-dev/canopy/e2e/harness"
)

// lockName takes the cluster's name for this process. kwokctl keeps one cluster per name under its
// work directory, and a run starting a cluster deletes what it finds there first: a second run
// (make e2e while make e2e or make demo of the same name runs) would delete the first one's
// cluster under it.
func lockName(name string) (release func(), err error) {
	dir := os.Getenv("KWOK_WORKDIR")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(home, ".kwok")
	}
	if err := os.MkdirAll(filepath.Join(dir, "clusters"), 0o755); err != nil {
		return nil, err
	}
	release, err = harness.Lock(filepath.Join(dir, "clusters", name+".lock"), false)
	if errors.Is(err, harness.ErrInUse) {
		return nil, fmt.Errorf("the cluster %s is %w; stop it first", name, err)
	}
	return release, err
}
