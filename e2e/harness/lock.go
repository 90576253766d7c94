package harness

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// ErrInUse says that another process holds a lock.
var ErrInUse = errors.New("in use by another run")

// Lock takes the lock file path for this process, writing its PID into it. When another process
// holds it, the error wraps ErrInUse and names that process. The kernel drops the lock when the
// process ends, however it ends; release drops it earlier (and removes the file when remove).
func Lock(path string, remove bool) (release func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (pid %s)", ErrInUse, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintln(os.Getpid())), 0)
	return func() {
		if remove {
			_ = os.Remove(path)
		}
		_ = f.Close()
	}, nil
}
