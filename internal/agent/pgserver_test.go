package agent_test

// The PostgreSQL 15 server of the integration tests (internal/pgtest), with the application's role.

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

type pgServer struct{ *pgtest.Server }

// The application's role: backups and restores connect as it, as a Job does with the database's
// credentials Secret. Odd characters on purpose: the password travels through PGPASSWORD.
const appRole = "app"

var appPassword = `app p'w"\` + pgtest.RandomHex(6)

func startPostgres(dir string) (*pgServer, error) {
	srv, err := pgtest.Start(dir, pgtest.Options{SuperUser: "canopy_test", SuperPassword: pgtest.RandomHex(16),
		Conf: []string{"shared_buffers = '32MB'"}})
	if err != nil {
		return nil, err
	}
	s := &pgServer{srv}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.ConnString("postgres", s.SuperUser, s.SuperPassword))
	if err == nil {
		_, err = conn.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD %s", pgx.Identifier{appRole}.Sanitize(), quoteLiteral(appPassword)))
		_ = conn.Close(ctx)
	}
	if err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// super connects as the superuser to db for the test's duration.
func (s *pgServer) super(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.ConnString(db, s.SuperUser, s.SuperPassword))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// createDatabase creates an empty database owned by the application's role.
func (s *pgServer) createDatabase(t *testing.T, prefix string) string {
	t.Helper()
	name := pgtest.UniqueName(prefix)
	_, err := s.super(t, "postgres").Exec(testCtx(t), fmt.Sprintf("CREATE DATABASE %s OWNER %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{appRole}.Sanitize()))
	require.NoError(t, err)
	return name
}

// credentials is the equivalent of the database's credentials Secret for db.
func (s *pgServer) credentials(db string) map[string]string {
	return map[string]string{"host": "127.0.0.1", "port": strconv.Itoa(s.Port), "dbname": db, "user": appRole, "password": appPassword}
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

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
	conn, err := pgx.Connect(ctx, s.ConnString(db, appRole, appPassword))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}
