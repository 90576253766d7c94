package pgadmin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ApplicationName is the application_name of the connections Connect opens,
// unless PGAPPNAME sets another.
const ApplicationName = "canopy-pgadmin"

// SQLSTATE codes this package reacts to.
const (
	sqlstateUndefinedObject   = "42704"
	sqlstateDuplicateObject   = "42710"
	sqlstateDuplicateDatabase = "42P04"
)

var _ Connector = Connect

// Connect opens a connection with github.com/jackc/pgx/v5 as described by
// info and returns it as an Admin. Its error never contains info.Password.
func Connect(ctx context.Context, info ConnInfo) (Admin, error) {
	cfg, err := info.PgxConfig()
	if err != nil {
		return nil, err
	}
	a := &pgxAdmin{}
	capturePresented(cfg, &a.presented)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, redact(fmt.Errorf("pgadmin: connect (%s): %w", info, err), info.Password)
	}
	a.conn = conn
	return a, nil
}

// capturePresented records into presented the certificate the server presents, in each TLS
// configuration the connection may try (sslmode=prefer falls back), keeping their own checks.
func capturePresented(cfg *pgx.ConnConfig, presented *[]byte) {
	seen := map[*tls.Config]bool{}
	wrap := func(t *tls.Config) {
		if t == nil || seen[t] {
			return
		}
		seen[t] = true
		verify := t.VerifyConnection
		t.VerifyConnection = func(cs tls.ConnectionState) error {
			if verify != nil {
				if err := verify(cs); err != nil {
					return err
				}
			}
			if len(cs.PeerCertificates) > 0 {
				*presented = cs.PeerCertificates[0].Raw
			}
			return nil
		}
	}
	wrap(cfg.TLSConfig)
	for _, f := range cfg.Fallbacks {
		wrap(f.TLSConfig)
	}
}

// PgxConfig returns the pgx configuration for info. The non-secret settings
// go through a keyword/value connection string whose values are quoted (and
// whose keys are restricted to the ones set here); the password is set on the
// parsed config directly, so it can hold any character and is never part of
// a string that could end up in a parse error.
func (c ConnInfo) PgxConfig() (*pgx.ConnConfig, error) {
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	timeout := int64((c.ConnectTimeout + time.Second - 1) / time.Second)
	connString := strings.Join([]string{
		"host=" + quoteConnValue(c.Host),
		"port=" + strconv.Itoa(c.Port),
		"user=" + quoteConnValue(c.User),
		"dbname=" + quoteConnValue(c.Database),
		"sslmode=" + quoteConnValue(c.SSLMode),
		"connect_timeout=" + strconv.FormatInt(timeout, 10),
	}, " ")
	cfg, err := pgx.ParseConfigWithOptions(connString, pgx.ParseConfigOptions{
		ParseConfigOptions: pgconn.ParseConfigOptions{
			ConnStringAllowedKeys: []string{"host", "port", "user", "dbname", "sslmode", "connect_timeout"},
		},
	})
	if err != nil {
		return nil, redact(fmt.Errorf("pgadmin: build connection config (%s): %w", c, err), c.Password)
	}
	cfg.Password = c.Password
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = ApplicationName
	}
	return cfg, nil
}

// quoteConnValue quotes a value for a keyword/value connection string.
func quoteConnValue(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// quoteIdent quotes a role or database name as an SQL identifier.
func quoteIdent(name string) string { return pgx.Identifier{name}.Sanitize() }

type pgxAdmin struct {
	mu        sync.Mutex
	conn      *pgx.Conn
	presented []byte
}

func (a *pgxAdmin) PresentedCertificate() []byte { return a.presented }

func (a *pgxAdmin) ReadServerFile(ctx context.Context, path string) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var data []byte
	if err := a.conn.QueryRow(ctx, "SELECT pg_read_binary_file($1)", path).Scan(&data); err != nil {
		return nil, fmt.Errorf("pgadmin: read the server's file %s: %w", path, err)
	}
	return data, nil
}

func (a *pgxAdmin) ReloadConfiguration(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ok bool
	if err := a.conn.QueryRow(ctx, "SELECT pg_reload_conf()").Scan(&ok); err != nil {
		return fmt.Errorf("pgadmin: reload the configuration: %w", err)
	}
	if !ok {
		return errors.New("pgadmin: reload the configuration: the server refused to signal itself")
	}
	return nil
}

func (a *pgxAdmin) ServerVersion(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var num string
	if err := a.conn.QueryRow(ctx, "SELECT current_setting('server_version_num')").Scan(&num); err != nil {
		return "", fmt.Errorf("pgadmin: read server version: %w", err)
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return "", fmt.Errorf("pgadmin: unexpected server_version_num %q", num)
	}
	return formatServerVersionNum(n), nil
}

func (a *pgxAdmin) EnsureRoleAndDatabase(ctx context.Context, role, password, database string) error {
	if err := validateName("role", role); err != nil {
		return err
	}
	if err := validateName("database", database); err != nil {
		return err
	}
	if err := validatePassword(password); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()

	var exists bool
	if err := a.conn.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
		return fmt.Errorf("pgadmin: look up role %q: %w", role, err)
	}
	if !exists {
		verifier, err := ScramSHA256Verifier(password)
		if err != nil {
			return err
		}
		lit, err := quoteLiteral(verifier)
		if err != nil {
			return err
		}
		_, err = a.conn.Exec(ctx, "CREATE ROLE "+quoteIdent(role)+" WITH LOGIN PASSWORD "+lit)
		// A concurrent creator won the race: the role exists, keep its password.
		if err != nil && !hasSQLState(err, sqlstateDuplicateObject) {
			return redact(fmt.Errorf("pgadmin: create role %q: %w", role, err), password, verifier)
		}
	}

	if err := a.conn.QueryRow(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1)", database).Scan(&exists); err != nil {
		return fmt.Errorf("pgadmin: look up database %q: %w", database, err)
	}
	if !exists {
		_, err := a.conn.Exec(ctx, "CREATE DATABASE "+quoteIdent(database)+" OWNER "+quoteIdent(role))
		if err != nil && !hasSQLState(err, sqlstateDuplicateDatabase) {
			return redact(fmt.Errorf("pgadmin: create database %q: %w", database, err), password)
		}
	}
	return nil
}

func (a *pgxAdmin) SetPassword(ctx context.Context, role, password string) error {
	if err := validateName("role", role); err != nil {
		return err
	}
	if err := validatePassword(password); err != nil {
		return err
	}
	verifier, err := ScramSHA256Verifier(password)
	if err != nil {
		return err
	}
	lit, err := quoteLiteral(verifier)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.conn.Exec(ctx, "ALTER ROLE "+quoteIdent(role)+" WITH PASSWORD "+lit); err != nil {
		if hasSQLState(err, sqlstateUndefinedObject) {
			return fmt.Errorf("pgadmin: set password of role %q: %w", role, ErrRoleNotFound)
		}
		return redact(fmt.Errorf("pgadmin: set password of role %q: %w", role, err), password, verifier)
	}
	return nil
}

func (a *pgxAdmin) Close(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.conn.Close(ctx)
}

func hasSQLState(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}
