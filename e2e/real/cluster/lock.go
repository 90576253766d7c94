package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// lockPath is one per machine, not per checkout: cgroups are not namespaced here, and two
// kubelets would share (and one run's cleanup remove) the other's kubepods cgroups.
var lockPath = filepath.Join(os.TempDir(), "canopy-e2e-real.lock")

// lockMachine takes the tier's lock for this process, or says which process holds it. The kernel
// drops the lock when the process ends, however it ends.
func lockMachine() (release func(), err error) {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(lockPath)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("the real-pods tier is in use on this machine by another run (pid %s); one runs at a time",
				strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("locking %s: %w", lockPath, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintln(os.Getpid())), 0)
	return func() {
		_ = os.Remove(lockPath)
		_ = f.Close()
	}, nil
}
