package pgadmin

// A throw-away PostgreSQL 15 server for this package's tests: TestMain starts
// it once (initdb + pg_ctl -w start in a temporary directory, listening on a
// free loopback port only) and stops it after the tests (pg_ctl stop -m fast,
// then harder). As root, initdb and pg_ctl run as the "postgres" system user,
// since both refuse to run as root.
//
// If the server binaries are missing the tests that need the server skip, or,
// with CI set, fail, pointing at hack/install-postgres.sh. Under -short they
// skip.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

const pgBinDir = "/usr/lib/postgresql/15/bin"

type testServer struct {
	dir           string // temporary directory: data/, server.log, the Unix socket
	dataDir       string
	logFile       string
	port          int
	superUser     string
	superPassword string
	cred          *syscall.Credential // run PostgreSQL's programs as this user (nil: as ourselves)

	watchdog   *exec.Cmd
	watchdogIn io.WriteCloser
}

var (
	srv         *testServer
	srvProblem  string // why srv is nil
	srvMustFail bool   // whether tests needing srv fail (true) or skip (false)
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	switch {
	case testing.Short():
		srvProblem = "PostgreSQL server tests are skipped with -short"
	case missingBinaries() != "":
		srvProblem = fmt.Sprintf("PostgreSQL 15 server binaries are missing (%s): run hack/install-postgres.sh (as root) to install them",
			missingBinaries())
		srvMustFail = testenv.InCI()
	default:
		start := time.Now()
		s, err := startServer()
		if err != nil {
			srvProblem = "starting the PostgreSQL 15 test server failed: " + err.Error()
			srvMustFail = true
			break
		}
		fmt.Fprintf(os.Stderr, "pgadmin tests: PostgreSQL 15 on 127.0.0.1:%d started in %v\n",
			s.port, time.Since(start).Round(time.Millisecond))
		defer s.stop()
		srv = s
	}
	return m.Run()
}

func missingBinaries() string {
	var missing []string
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		p := filepath.Join(pgBinDir, name)
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	return strings.Join(missing, ", ")
}

// requireServer returns the test server, or skips/fails the test without one.
func requireServer(t *testing.T) *testServer {
	t.Helper()
	if srv == nil {
		if srvMustFail {
			t.Fatal(srvProblem)
		}
		testenv.Unavailable(t, srvProblem)
	}
	return srv
}

func startServer() (_ *testServer, err error) {
	dir, err := os.MkdirTemp("", "pgadmin-test-")
	if err != nil {
		return nil, err
	}
	s := &testServer{
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		logFile: filepath.Join(dir, "server.log"),
		// Odd characters on purpose: they go through the connection config.
		// (Not "$'\ : the bootstrap superuser owns extensions, and PostgreSQL
		// forbids those characters in extension owners' names.)
		superUser:     "canopy su-per admin",
		superPassword: `su p'w"\` + randomHex(8) + "-ü",
	}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()

	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, initdb needs the unprivileged postgres user (created by the postgresql-15 package; run hack/install-postgres.sh): %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			return nil, err
		}
	}

	pwfile := filepath.Join(dir, "pwfile")
	if err := s.writeFile(pwfile, s.superPassword+"\n"); err != nil {
		return nil, err
	}
	if _, err := s.run(2*time.Minute, "initdb", "-D", s.dataDir, "-U", s.superUser, "--pwfile="+pwfile,
		"-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return nil, err
	}
	_ = os.Remove(pwfile)

	conf := strings.Join([]string{
		"",
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + strings.ReplaceAll(dir, "'", "''") + "'",
		"password_encryption = 'scram-sha-256'",
		"log_statement = 'all'", // lets a test check that no clear password reaches the log
		"fsync = off",
		"synchronous_commit = off",
		"full_page_writes = off",
		"max_connections = 30",
		"shared_buffers = '16MB'",
		"",
	}, "\n")
	if err := appendFile(filepath.Join(s.dataDir, "postgresql.conf"), conf); err != nil {
		return nil, err
	}

	// The free port may be taken by someone else before the server binds it:
	// try a few.
	for attempt := 1; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		if err := appendFile(filepath.Join(s.dataDir, "postgresql.conf"), fmt.Sprintf("port = %d\n", s.port)); err != nil {
			return nil, err
		}
		_, err = s.run(90*time.Second, "pg_ctl", "-D", s.dataDir, "-l", s.logFile, "-w", "-t", "60", "start")
		if err == nil {
			break
		}
		if attempt == 3 {
			return nil, fmt.Errorf("%w\nserver log:\n%s", err, s.readLog())
		}
	}
	if err := s.startWatchdog(); err != nil {
		return nil, err
	}
	return s, nil
}

// startWatchdog starts a shell that waits for the end of its standard input,
// which it reaches when the test binary exits in any way (a panic or a -timeout
// skips TestMain's cleanup), and then stops the server and removes the
// temporary directory.
func (s *testServer) startWatchdog() error {
	cmd := s.command("sh", "-c", `read -r _; "$1" -D "$2" -m immediate -w -t 30 stop >/dev/null 2>&1; rm -rf "$3"`,
		"watchdog", filepath.Join(pgBinDir, "pg_ctl"), s.dataDir, s.dir)
	cmd.SysProcAttr.Setpgid = true // not hit by the terminal's ^C before it can clean up
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.watchdog, s.watchdogIn = cmd, in
	return nil
}

func (s *testServer) stop() {
	if _, err := os.Stat(filepath.Join(s.dataDir, "postmaster.pid")); err == nil {
		if _, err := s.run(45*time.Second, "pg_ctl", "-D", s.dataDir, "-m", "fast", "-w", "-t", "30", "stop"); err != nil {
			fmt.Fprintf(os.Stderr, "pgadmin tests: %v; stopping immediately\n", err)
			if _, err := s.run(45*time.Second, "pg_ctl", "-D", s.dataDir, "-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
				fmt.Fprintf(os.Stderr, "pgadmin tests: %v\n", err)
				s.killPostmaster()
			}
		}
	}
	if s.watchdog != nil {
		_ = s.watchdogIn.Close()
		done := make(chan error, 1)
		go func() { done <- s.watchdog.Wait() }()
		select {
		case <-done:
		case <-time.After(45 * time.Second):
			_ = s.watchdog.Process.Kill()
		}
	}
	_ = os.RemoveAll(s.dir)
}

// killPostmaster is the last resort: SIGKILL the postmaster we started.
func (s *testServer) killPostmaster() {
	b, err := os.ReadFile(filepath.Join(s.dataDir, "postmaster.pid"))
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && pid > 1 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// command prepares one of PostgreSQL's programs (or sh) to run as s.cred, in
// s.dir, with a minimal environment (no PG* variables of ours leak in).
func (s *testServer) command(name string, args ...string) *exec.Cmd {
	path := name
	if !strings.Contains(name, "/") && name != "sh" {
		path = filepath.Join(pgBinDir, name)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + s.dir, "LC_ALL=C", "LANG=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

func (s *testServer) run(timeout time.Duration, name string, args ...string) (string, error) {
	cmd := s.command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// pg_ctl start leaves the server running with its output in the log
	// file, so nothing holds these pipes open after pg_ctl exits.
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
		<-done
		return out.String(), fmt.Errorf("%s %s: timed out after %v\n%s", name, strings.Join(args, " "), timeout, out.String())
	}
}

func (s *testServer) writeFile(path, content string) error {
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
		f.Close()
		return err
	}
	return f.Close()
}

func (s *testServer) readLog() string {
	b, err := os.ReadFile(s.logFile)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

var nameSeq atomic.Int64

// uniqueName returns prefix followed by a number unique in this test run.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, nameSeq.Add(1))
}

// superInfo is how the tests reach the server as its superuser over TCP.
func (s *testServer) superInfo() ConnInfo {
	return ConnInfo{
		Host:     "127.0.0.1",
		Port:     s.port,
		User:     s.superUser,
		Password: s.superPassword,
		Database: "postgres",
		SSLMode:  "disable",
	}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// admin connects with Connect as the superuser; the connection is closed at
// the end of the test.
func (s *testServer) admin(t *testing.T) Admin {
	t.Helper()
	ctx := testContext(t)
	a, err := Connect(ctx, s.superInfo())
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	return a
}

// superConn is a plain pgx connection as the superuser, for checks.
func (s *testServer) superConn(t *testing.T) *pgx.Conn {
	t.Helper()
	cfg, err := s.superInfo().PgxConfig()
	require.NoError(t, err)
	conn, err := pgx.ConnectConfig(testContext(t), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// login connects over TCP as role with password to database and runs
// SELECT 1; it returns the connection error, if any.
func (s *testServer) login(t *testing.T, role, password, database string) error {
	t.Helper()
	info := ConnInfo{Host: "127.0.0.1", Port: s.port, User: role, Password: password, Database: database, SSLMode: "disable"}
	cfg, err := info.PgxConfig()
	require.NoError(t, err)
	ctx := testContext(t)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	if one != 1 {
		return errors.New("SELECT 1 did not return 1")
	}
	return nil
}

// requireLogin asserts that role can log in to database with password.
func (s *testServer) requireLogin(t *testing.T, role, password, database string) {
	t.Helper()
	require.NoError(t, s.login(t, role, password, database), "login as %q to %q", role, database)
}

// requireNoLogin asserts that password authentication as role fails.
func (s *testServer) requireNoLogin(t *testing.T, role, password, database string) {
	t.Helper()
	err := s.login(t, role, password, database)
	require.Error(t, err, "login as %q should fail", role)
	require.True(t, hasSQLState(err, "28P01"), "want invalid_password (28P01), got %v", err)
}

// storedPassword returns pg_authid.rolpassword of role.
func (s *testServer) storedPassword(t *testing.T, role string) string {
	t.Helper()
	var stored *string
	err := s.superConn(t).QueryRow(testContext(t),
		"SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1", role).Scan(&stored)
	require.NoError(t, err)
	require.NotNil(t, stored, "role %q has no password", role)
	return *stored
}
