package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// lockName takes the cluster's name for this process. kwokctl keeps one cluster per name under its
// work directory, and a run starting a cluster deletes what it finds there first: a second run
// (make e2e while make e2e or make demo of the same name runs) would delete the first one's
// cluster under it. The kernel drops the lock when the process ends, however it ends.
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
	path := filepath.Join(dir, "clusters", name+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("the cluster %s is in use by another run (pid %s); stop it first", name, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintln(os.Getpid())), 0)
	return func() { _ = f.Close() }, nil
}
