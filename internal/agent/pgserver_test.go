package agent_test

// A throw-away PostgreSQL 15 server, as internal/pgadmin's tests start one: initdb and pg_ctl in a
// temporary folder, listening on a free loopback port only, run as the "postgres" system user when
// the tests run as root (both programs refuse root).

import (
	"bytes"
	"context"
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
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

type pgServer struct {
	dir           string
	dataDir       string
	logFile       string
	port          int
	superUser     string
	superPassword string
	cred          *syscall.Credential // run PostgreSQL's server programs as this user (nil: ourselves)
	watchdog      *watchdog
}

// The application's role: backups and restores connect as it, as a Job does with the database's
// credentials Secret. Odd characters on purpose: the password travels through PGPASSWORD.
const appRole = "app"

var appPassword = `app p'w"\` + randomHex(6)

func startPostgres(dir string) (_ *pgServer, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &pgServer{
		dir: dir, dataDir: filepath.Join(dir, "data"), logFile: filepath.Join(dir, "server.log"),
		superUser: "canopy_test", superPassword: randomHex(16),
	}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, initdb needs the postgres user (run hack/install-postgres.sh): %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			return nil, err
		}
		// The postgres user must reach dir through the run's folder.
		if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
			return nil, err
		}
	}
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.superPassword+"\n"), 0o600); err != nil {
		return nil, err
	}
	if s.cred != nil {
		if err := os.Chown(pwfile, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, err
		}
	}
	if _, err := s.run(2*time.Minute, "initdb", "-D", s.dataDir, "-U", s.superUser, "--pwfile="+pwfile,
		"-A", "scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return nil, err
	}
	_ = os.Remove(pwfile)
	conf := strings.Join([]string{"",
		"listen_addresses = '127.0.0.1'",
		"unix_socket_directories = '" + dir + "'",
		"fsync = off", "synchronous_commit = off", "full_page_writes = off",
		"max_connections = 30", "shared_buffers = '32MB'", ""}, "\n")
	if err := appendFile(filepath.Join(s.dataDir, "postgresql.conf"), conf); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ { // the free port may be taken before the server binds it
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		if err := appendFile(filepath.Join(s.dataDir, "postgresql.conf"), fmt.Sprintf("port = %d\n", s.port)); err != nil {
			return nil, err
		}
		if _, err = s.run(90*time.Second, "pg_ctl", "-D", s.dataDir, "-l", s.logFile, "-w", "-t", "60", "start"); err == nil {
			break
		}
		if attempt == 3 {
			b, _ := os.ReadFile(s.logFile)
			return nil, fmt.Errorf("%w\nserver log:\n%s", err, b)
		}
	}
	if s.watchdog, err = startWatchdog(s.cred, `"$1" -D "$2" -m immediate -w -t 30 stop >/dev/null 2>&1; rm -rf "$3"`,
		filepath.Join(pgBinDir, "pg_ctl"), s.dataDir, s.dir); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.connString("postgres", s.superUser, s.superPassword))
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD %s", pgx.Identifier{appRole}.Sanitize(), quoteLiteral(appPassword))); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *pgServer) stop() {
	if _, err := os.Stat(filepath.Join(s.dataDir, "postmaster.pid")); err == nil {
		if _, err := s.run(45*time.Second, "pg_ctl", "-D", s.dataDir, "-m", "fast", "-w", "-t", "30", "stop"); err != nil {
			fmt.Fprintf(os.Stderr, "agent tests: %v; stopping immediately\n", err)
			_, _ = s.run(45*time.Second, "pg_ctl", "-D", s.dataDir, "-m", "immediate", "-w", "-t", "30", "stop")
		}
	}
	s.watchdog.release()
	_ = os.RemoveAll(s.dir)
}

func (s *pgServer) run(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(pgBinDir, name), args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + s.dir, "LC_ALL=C", "LANG=C", "TZ=UTC"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	// pg_ctl start leaves the server running with its output in the log file, so nothing holds
	// these pipes open after pg_ctl exits.
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

func (s *pgServer) connString(db, user, password string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d dbname=%s user=%s password=%s sslmode=disable",
		s.port, quoteConn(db), quoteConn(user), quoteConn(password))
}

// super connects as the superuser to db for the test's duration.
func (s *pgServer) super(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.connString(db, s.superUser, s.superPassword))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// createDatabase creates an empty database owned by the application's role.
func (s *pgServer) createDatabase(t *testing.T, prefix string) string {
	t.Helper()
	name := uniqueName(prefix)
	_, err := s.super(t, "postgres").Exec(testCtx(t), fmt.Sprintf("CREATE DATABASE %s OWNER %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{appRole}.Sanitize()))
	require.NoError(t, err)
	return name
}

// credentials is the equivalent of the database's credentials Secret for db.
func (s *pgServer) credentials(db string) map[string]string {
	return map[string]string{"host": "127.0.0.1", "port": strconv.Itoa(s.port), "dbname": db, "user": appRole, "password": appPassword}
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

func uniqueName(prefix string) string { return fmt.Sprintf("%s%d", prefix, nameSeq.Add(1)) }

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func quoteConn(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// appConn connects as the application's role to db for the test's duration.
func (s *pgServer) appConn(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.connString(db, appRole, appPassword))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}
