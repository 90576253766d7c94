// Command sample-app is the small web application the samples, the demo and the real-pods tier
// (e2e/real) run as a Stack's web tier. It connects to PostgreSQL with what Canopy gives the web
// tier: DATABASE_URL (the credentials Secret's uri, which verifies the server's certificate when the
// database serves TLS), else libpq's PG* variables.
//
//	sample-app [serve]   serve HTTP on $PORT (8080): /healthz, / (reads the database),
//	                     POST /notes (writes a row), /db (the connection's TLS and server version)
//	sample-app migrate   create the schema (idempotent); a migration Job runs it
//
// With SAMPLE_APP_UNHEALTHY=1 in its environment, /healthz answers 503 for ever: an image built
// with it is a release whose pods never become ready (the real-pods tier's failed upgrade).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schema is the application's whole schema; migrate applies it.
const schema = `
CREATE TABLE IF NOT EXISTS notes (
	id         bigserial PRIMARY KEY,
	body       text NOT NULL UNIQUE,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS schema_migrations (
	version    text PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
);`

func main() {
	log.SetFlags(0)
	cmd := "serve"
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx)
	case "migrate":
		err = migrate(ctx)
	default:
		err = fmt.Errorf("unknown command %q (serve, migrate)", cmd)
	}
	if err != nil {
		log.Fatalf("sample-app %q: %v", cmd, err) //nolint:gosec // G706: the command is this program's own argument, quoted
	}
}

// connString is DATABASE_URL, or "" for pgx to read the PG* variables.
func connString() string { return os.Getenv("DATABASE_URL") }

func migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var conn *pgx.Conn
	var err error
	// The database may still be starting when the Job does.
	for {
		if conn, err = pgx.Connect(ctx, connString()); err == nil {
			break
		}
		log.Printf("migrate: connecting: %v; retrying", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, schema); err != nil {
		return err
	}
	version := os.Getenv("APP_VERSION")
	if version == "" {
		version = "1"
	}
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING`, version); err != nil {
		return err
	}
	log.Printf("migrate: schema applied (version %q)", version) //nolint:gosec // G706: the version comes from the pod's environment, quoted
	return nil
}

// queryTimeout bounds each request's database work: a database that does not answer gives a 503
// with the reason instead of a request that hangs.
const queryTimeout = 10 * time.Second

func serve(ctx context.Context) error {
	pool, err := pgxpool.New(ctx, connString())
	if err != nil {
		return err
	}
	defer pool.Close()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	unhealthy := os.Getenv("SAMPLE_APP_UNHEALTHY") == "1"
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if unhealthy {
			http.Error(w, "unhealthy (SAMPLE_APP_UNHEALTHY=1)", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
		defer cancel()
		var count int64
		var last string
		err := pool.QueryRow(ctx, `SELECT count(*), coalesce((SELECT body FROM notes ORDER BY id DESC LIMIT 1), '') FROM notes`).Scan(&count, &last)
		if err != nil {
			http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		host, _ := os.Hostname()
		_, _ = fmt.Fprintf(w, "sample-app on %s: %d notes, last %q\n", host, count, last)
	})
	mux.HandleFunc("POST /notes", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 4096))
		ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
		defer cancel()
		// A note is its text: writing the same note again changes nothing, so a client may retry.
		var id int64
		if err := pool.QueryRow(ctx, `INSERT INTO notes (body) VALUES ($1) ON CONFLICT (body) DO UPDATE SET body = EXCLUDED.body RETURNING id`,
			string(body)).Scan(&id); err != nil {
			http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintf(w, "%d\n", id)
	})
	mux.HandleFunc("GET /db", func(w http.ResponseWriter, r *http.Request) {
		var out struct {
			ServerVersion string `json:"serverVersion"`
			SSL           bool   `json:"ssl"`
			SSLVersion    string `json:"sslVersion"`
			User          string `json:"user"`
		}
		ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
		defer cancel()
		err := pool.QueryRow(ctx, `SELECT current_setting('server_version'), s.ssl, coalesce(s.version, ''), current_user
			FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()`).Scan(&out.ServerVersion, &out.SSL, &out.SSLVersion, &out.User)
		if err != nil {
			http.Error(w, "database: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { //nolint:gosec // G118: the shutdown must outlive ctx, which is done by then
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("sample-app: serving on :%s", port) //nolint:gosec // G706: the port comes from the pod's environment
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
