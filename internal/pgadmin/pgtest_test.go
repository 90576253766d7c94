package pgadmin

// A throw-away PostgreSQL 15 server for this package's tests (internal/pgtest): TestMain starts it
// once and stops it after the tests.
//
// If the server binaries are missing the tests that need the server skip, or, with CI set, fail,
// pointing at hack/install-postgres.sh. Under -short they skip.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/canopy-dev/canopy/internal/pgtest"
	"github.com/canopy-dev/canopy/internal/testenv"
)

type testServer struct{ *pgtest.Server }

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
	case len(pgtest.Missing("initdb", "pg_ctl", "postgres")) > 0:
		srvProblem = fmt.Sprintf("PostgreSQL 15 server programs are missing (%s in %s): run hack/install-postgres.sh (as root) to install them",
			strings.Join(pgtest.Missing("initdb", "pg_ctl", "postgres"), ", "), pgtest.BinDir)
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
			s.Port, time.Since(start).Round(time.Millisecond))
		defer s.Stop()
		srv = s
	}
	return m.Run()
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

func startServer() (*testServer, error) {
	dir, err := os.MkdirTemp("", "pgadmin-test-")
	if err != nil {
		return nil, err
	}
	s, err := pgtest.Start(dir, pgtest.Options{
		// Odd characters on purpose: they go through the connection config. (Not "$'\ : the
		// bootstrap superuser owns extensions, and PostgreSQL forbids those characters in
		// extension owners' names.)
		SuperUser:     "canopy su-per admin",
		SuperPassword: `su p'w"\` + pgtest.RandomHex(8) + "-ü",
		Conf: []string{
			"password_encryption = 'scram-sha-256'",
			"log_statement = 'all'", // lets a test check that no clear password reaches the log
			"shared_buffers = '16MB'",
		},
	})
	if err != nil {
		return nil, err
	}
	return &testServer{s}, nil
}

// superInfo is how the tests reach the server as its superuser over TCP.
func (s *testServer) superInfo() ConnInfo {
	return ConnInfo{
		Host:     "127.0.0.1",
		Port:     s.Port,
		User:     s.SuperUser,
		Password: s.SuperPassword,
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
	info := ConnInfo{Host: "127.0.0.1", Port: s.Port, User: role, Password: password, Database: database, SSLMode: "disable"}
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
