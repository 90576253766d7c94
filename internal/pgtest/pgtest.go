// Package pgtest runs a throw-away PostgreSQL 15 server for the tests that need a real one
// (internal/pgadmin, internal/agent): initdb and pg_ctl in a folder of the test's, listening on a
// free loopback port only, tuned for speed (no fsync). As root, PostgreSQL's programs run as the
// "postgres" system user, since initdb and pg_ctl refuse root. A watchdog stops the server and
// removes the folder when the test binary ends in any way, also when a panic or -timeout skips
// TestMain's cleanup.
//
// The programs come from the postgresql-15 package (hack/install-postgres.sh).
package pgtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// BinDir holds PostgreSQL 15's programs.
const BinDir = "/usr/lib/postgresql/15/bin"

// Missing returns those of programs that BinDir does not hold as executables.
func Missing(programs ...string) []string {
	var missing []string
	for _, name := range programs {
		if st, err := os.Stat(filepath.Join(BinDir, name)); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, name)
		}
	}
	return missing
}

// Options shape a server.
type Options struct {
	// SuperUser and SuperPassword are the bootstrap superuser's; odd characters are welcome.
	SuperUser, SuperPassword string
	// Conf lines are added to postgresql.conf.
	Conf []string
	// Files are written into the server's folder before it starts (by name), owned by its user:
	// a TLS key pair, for one.
	Files map[string][]byte
}

// Server is a running PostgreSQL server.
type Server struct {
	Dir, DataDir, LogFile string
	Port                  int
	SuperUser             string
	SuperPassword         string

	cred     *syscall.Credential // PostgreSQL's programs run as this user (nil: as ourselves)
	watchdog *Watchdog
}

// Start creates dir (when missing), initialises a cluster in it and starts the server.
func Start(dir string, o Options) (_ *Server, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, DataDir: filepath.Join(dir, "data"), LogFile: filepath.Join(dir, "server.log"),
		SuperUser: o.SuperUser, SuperPassword: o.SuperPassword}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := s.runAsPostgres(); err != nil {
		return nil, err
	}
	for name, data := range o.Files {
		if err := s.WriteFile(name, data); err != nil {
			return nil, err
		}
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := s.writeFile(pwfile, s.SuperPassword+"\n"); err != nil {
		return nil, err
	}
	if _, err := s.Run(2*time.Minute, "initdb", "-D", s.DataDir, "-U", s.SuperUser, "--pwfile="+pwfile,
		"-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return nil, err
	}
	_ = os.Remove(pwfile)
	conf := append([]string{"",
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + strings.ReplaceAll(dir, "'", "''") + "'",
		"fsync = off", "synchronous_commit = off", "full_page_writes = off",
		"max_connections = 30"}, o.Conf...)
	if err := appendFile(filepath.Join(s.DataDir, "postgresql.conf"), strings.Join(conf, "\n")+"\n"); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ { // the free port may be taken by someone else before the server binds it
		if s.Port, err = FreePort(); err != nil {
			return nil, err
		}
		if err := appendFile(filepath.Join(s.DataDir, "postgresql.conf"), fmt.Sprintf("port = %d\n", s.Port)); err != nil {
			return nil, err
		}
		if _, err = s.Run(90*time.Second, "pg_ctl", "-D", s.DataDir, "-l", s.LogFile, "-w", "-t", "60", "start"); err == nil {
			break
		}
		if attempt == 3 {
			return nil, fmt.Errorf("%w\nserver log:\n%s", err, s.ReadLog())
		}
	}
	s.watchdog, err = StartWatchdog(s.cred, `"$1" -D "$2" -m immediate -w -t 30 stop >/dev/null 2>&1; rm -rf "$3"`,
		filepath.Join(BinDir, "pg_ctl"), s.DataDir, s.Dir)
	return s, err
}

// runAsPostgres, as root, hands dir to the postgres user and makes sure that user can reach it.
func (s *Server) runAsPostgres() error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root, initdb needs the unprivileged postgres user (created by the postgresql-15 package; run "+
			"hack/install-postgres.sh): %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if err := os.Chown(s.Dir, int(uid), int(gid)); err != nil {
		return err
	}
	// A parent folder of the test's own (0700) must let it through; /tmp already does.
	parent := filepath.Dir(s.Dir)
	if st, err := os.Stat(parent); err == nil && st.Mode().Perm()&0o001 == 0 {
		return os.Chmod(parent, st.Mode().Perm()|0o111)
	}
	return nil
}

// Stop stops the server (fast, then immediate, then SIGKILL) and removes its folder.
func (s *Server) Stop() {
	if _, err := os.Stat(filepath.Join(s.DataDir, "postmaster.pid")); err == nil {
		if _, err := s.Run(45*time.Second, "pg_ctl", "-D", s.DataDir, "-m", "fast", "-w", "-t", "30", "stop"); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v; stopping immediately\n", err)
			if _, err := s.Run(45*time.Second, "pg_ctl", "-D", s.DataDir, "-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
				s.killPostmaster()
			}
		}
	}
	s.watchdog.Release()
	_ = os.RemoveAll(s.Dir)
}

// killPostmaster is the last resort: SIGKILL the postmaster this server started.
func (s *Server) killPostmaster() {
	b, err := os.ReadFile(filepath.Join(s.DataDir, "postmaster.pid"))
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && pid > 1 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Run runs one of PostgreSQL's programs as the server's user, in its folder, with a minimal
// environment (no PG* variables of the caller's leak in), and returns its output.
func (s *Server) Run(timeout time.Duration, name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(BinDir, name), args...)
	cmd.Dir = s.Dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + s.Dir, "LC_ALL=C", "LANG=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	// pg_ctl start leaves the server running with its output in the log file, so nothing holds
	// these pipes open after pg_ctl exits.
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
		}
		return out.String(), nil
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done //nolint:errcheck // killed: its exit status adds nothing to the timeout
		return out.String(), fmt.Errorf("%s %s: timed out after %v\n%s", name, strings.Join(args, " "), timeout, out.String())
	}
}

// ReadLog returns the server's log.
func (s *Server) ReadLog() string {
	b, err := os.ReadFile(s.LogFile)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b)
}

// ConnString is a key=value connection string to db on the server over TCP, without TLS.
func (s *Server) ConnString(db, user, password string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d dbname=%s user=%s password=%s sslmode=disable",
		s.Port, QuoteConn(db), QuoteConn(user), QuoteConn(password))
}

// QuoteConn quotes a value of a key=value connection string.
func QuoteConn(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// WriteFile writes the file name of the server's folder, owned by the server's user (mode 0600).
func (s *Server) WriteFile(name string, data []byte) error {
	return s.writeFile(filepath.Join(s.Dir, name), string(data))
}

// writeFile writes a file the server's user owns.
func (s *Server) writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return err
	}
	if s.cred != nil {
		return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
	}
	return nil
}

func appendFile(path, content string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		_ = f.Close() // the write error is the one to report
		return err
	}
	return f.Close()
}

// FreePort returns a loopback TCP port free at the time of the call.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RandomHex returns 2n random hexadecimal characters, for passwords and names.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var nameSeq atomic.Int64

// UniqueName returns prefix followed by a number unique in this test binary.
func UniqueName(prefix string) string { return fmt.Sprintf("%s%d", prefix, nameSeq.Add(1)) }
