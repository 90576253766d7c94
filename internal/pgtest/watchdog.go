package pgtest

import (
	"io"
	"os/exec"
	"syscall"
	"time"
)

// Watchdog is a shell that runs a cleanup script once its standard input ends: on Release, or
// when the test binary exits in any way, since the pipe's other end closes with it.
type Watchdog struct {
	cmd *exec.Cmd
	in  io.WriteCloser
}

// StartWatchdog starts script (sh -c, with args as $1...) as cred (nil: as ourselves).
func StartWatchdog(cred *syscall.Credential, script string, args ...string) (*Watchdog, error) {
	cmd := exec.Command("sh", append([]string{"-c", "read -r _; " + script, "watchdog"}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	// Its own process group: a ^C in the terminal does not stop it before it has cleaned up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &Watchdog{cmd: cmd, in: in}, nil
}

// Release lets the watchdog run its script now and waits for it (45 s at most).
func (wd *Watchdog) Release() {
	if wd == nil {
		return
	}
	_ = wd.in.Close()
	done := make(chan struct{})
	go func() {
		_ = wd.cmd.Wait() // the watchdog's exit status says nothing about the test
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		_ = wd.cmd.Process.Kill()
	}
}
