package agent_test

// The application data the integration tests back up and restore: several tables with more than
// 10,000 rows, text with non-ASCII characters, NULLs, numerics, arrays, jsonb, incompressible
// bytea, large objects, a foreign key, a view, a function and sequences.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/canopy-dev/canopy/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

const schemaSQL = `
CREATE TABLE customers (
	id integer PRIMARY KEY,
	name text NOT NULL,
	email text UNIQUE,
	created timestamptz NOT NULL,
	balance numeric(14,2),
	tags text[]
);
INSERT INTO customers
SELECT i, 'Customer ' || i || ' Ünïcødé ✓', CASE WHEN i % 11 = 0 THEN NULL ELSE 'c' || i || '@example.test' END,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '37 minutes',
       ((i * 7919) % 1000000) / 100.0, ARRAY['tier' || (i % 7), 'region ' || (i % 3)]
FROM generate_series(1, 4000) AS i;

CREATE TABLE orders (
	id bigserial PRIMARY KEY,
	customer_id integer NOT NULL REFERENCES customers,
	amount numeric(12,2) NOT NULL,
	note text,
	payload jsonb
);
INSERT INTO orders (customer_id, amount, note, payload)
SELECT 1 + i % 4000, (i % 1000) + 0.99, CASE WHEN i % 5 = 0 THEN NULL ELSE repeat(md5(i::text), 1 + i % 4) END,
       jsonb_build_object('i', i, 'square', i::bigint * i, 'nested', jsonb_build_object('even', i % 2 = 0, 'quote', 'it''s "ok"'))
FROM generate_series(1, 6000) AS i;

CREATE TABLE events (
	id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind text NOT NULL,
	at timestamptz NOT NULL
);
INSERT INTO events (kind, at)
SELECT (ARRAY['login', 'logout', 'purchase', E'tab\there', E'line\nbreak'])[1 + i % 5], timestamptz '2025-06-01 12:00:00+02' + i * interval '1 second'
FROM generate_series(1, 2000) AS i;
CREATE INDEX events_kind ON events (kind, at);

-- Pseudo-random, hence incompressible, binary data: about 1.7 MB.
CREATE TABLE attachments (
	id integer PRIMARY KEY,
	filename text NOT NULL,
	data bytea NOT NULL
);
INSERT INTO attachments
SELECT i, 'file-' || i || '.bin', decode(string_agg(md5(i || '/' || j), '' ORDER BY j), 'hex')
FROM generate_series(1, 400) AS i, generate_series(1, 256 + i % 64) AS j
GROUP BY i;

-- Large objects: pg_dump stores them apart from the tables.
CREATE TABLE documents (
	id integer PRIMARY KEY,
	title text NOT NULL,
	content oid NOT NULL
);
INSERT INTO documents
SELECT i, 'Document ' || i,
       lo_from_bytea(0, (SELECT decode(string_agg(md5(i || ':' || j), '' ORDER BY j), 'hex') FROM generate_series(1, 2048) AS j))
FROM generate_series(1, 20) AS i;

CREATE VIEW customer_totals AS
SELECT c.id, c.name, count(o.id) AS orders, coalesce(sum(o.amount), 0) AS total
FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id, c.name;

CREATE FUNCTION order_total(customer integer) RETURNS numeric LANGUAGE sql STABLE
AS $$ SELECT coalesce(sum(amount), 0) FROM orders WHERE customer_id = customer $$;
`

// fixtureTables are the tables whose every row the checksums cover, with their primary keys.
var fixtureTables = []string{"customers", "orders", "events", "attachments", "documents"}

// snapshot describes a database's content: per-table row counts and checksums, large objects,
// sequences and what the view and function compute.
type snapshot map[string]string

// takeSnapshot computes the snapshot of db (as the superuser, who may read everything).
func takeSnapshot(t *testing.T, ww *world, db string) snapshot {
	t.Helper()
	conn := ww.pg.super(t, db)
	ctx := testCtx(t)
	snap := snapshot{}
	for _, table := range fixtureTables {
		var count int64
		var sum string
		q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(t::text, E'\n' ORDER BY t.id)), '') FROM %s t`, pgx.Identifier{table}.Sanitize())
		require.NoError(t, conn.QueryRow(ctx, q).Scan(&count, &sum), table)
		snap[table] = fmt.Sprintf("%d rows, md5 %s", count, sum)
	}
	queries := map[string]string{
		"large objects": `SELECT count(*) || ' objects, md5 ' || ` +
			`coalesce(md5(string_agg(d.id || ':' || md5(lo_get(d.content)), ',' ORDER BY d.id)), '') FROM documents d`,
		"all large objs":  `SELECT count(*)::text FROM pg_largeobject_metadata`,
		"orders_id_seq":   `SELECT last_value || '/' || is_called FROM orders_id_seq`,
		"events_id_seq":   `SELECT last_value || '/' || is_called FROM events_id_seq`,
		"view":            `SELECT count(*) || ' rows, total ' || sum(total) FROM customer_totals`,
		"function":        `SELECT order_total(42)::text`,
		"index":           `SELECT count(*)::text FROM pg_indexes WHERE indexname = 'events_kind'`,
		"bytea size":      `SELECT sum(length(data))::text FROM attachments`,
		"unique on email": `SELECT count(*)::text FROM pg_constraint WHERE conname = 'customers_email_key'`,
	}
	for name, q := range queries {
		var v string
		require.NoError(t, conn.QueryRow(ctx, q).Scan(&v), name)
		snap[name] = v
	}
	return snap
}

// rowCount is the number of rows of the fixture's tables.
func (s snapshot) rowCount() int {
	n := 0
	for _, table := range fixtureTables {
		var rows int
		_, _ = fmt.Sscanf(s[table], "%d rows", &rows)
		n += rows
	}
	return n
}

var (
	sourceOnce sync.Once
	sourceDB   string
	sourceSnap snapshot
	sourceErr  error
)

// sourceDatabase is the database every backup test dumps, created once and never modified.
func sourceDatabase(t *testing.T, ww *world) (string, snapshot) {
	t.Helper()
	sourceOnce.Do(func() {
		defer func() {
			if sourceDB == "" && sourceErr == nil {
				sourceErr = fmt.Errorf("creating the source database failed (see the first test that tried)")
			}
		}()
		db := ww.pg.createDatabase(t, "source")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, ww.pg.ConnString(db, appRole, appPassword))
		if err != nil {
			sourceErr = err
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, schemaSQL); err != nil {
			sourceErr = err
			return
		}
		sourceDB, sourceSnap = db, takeSnapshot(t, ww, db)
	})
	require.NoError(t, sourceErr)
	return sourceDB, sourceSnap
}

// claimDir is a folder for a backup volume, reachable by the pod's user.
func claimDir(t *testing.T, ww *world) string {
	t.Helper()
	dir := filepath.Join(ww.dir, "claims", pgtest.UniqueName("claim"))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}
