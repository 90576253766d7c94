package database

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/pgtest"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestRenderedConfigLoadsInPostgreSQL gives the postgresql.conf of the ConfigMap, for small and
// large databases, with user overrides and TLS, to a real PostgreSQL 15 (`postgres -C`, which
// parses the whole file and refuses it on any unknown parameter or invalid value), and checks that
// every parameter reads back as the value Canopy meant, in PostgreSQL's own units (from
// pg_settings of a running server). A table in a Go test cannot catch a unit PostgreSQL does not
// accept or a value it rounds; this can.
func TestRenderedConfigLoadsInPostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts a PostgreSQL server (make test and CI run it)")
	}
	if missing := pgtest.Missing("initdb", "pg_ctl", "postgres"); len(missing) > 0 {
		testenv.Unavailable(t, fmt.Sprintf("PostgreSQL 15 programs missing in %s: %v (hack/install-postgres.sh)", pgtest.BinDir, missing))
	}
	// Not under t.TempDir(): as root, PostgreSQL runs as the postgres user, who cannot enter it.
	dir, err := os.MkdirTemp("", "pgconf-test-")
	require.NoError(t, err)
	srv, err := pgtest.Start(dir, pgtest.Options{SuperUser: "canopy", SuperPassword: pgtest.RandomHex(12)})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	units := settingUnits(t, srv)

	db := func(name, cpu, memory, storage string, conns int32, params map[string]string) *componentsv1alpha1.Database {
		return &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name}, Spec: componentsv1alpha1.DatabaseSpec{
			Version: "15", Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse(storage)}, ExpectedConnections: conns, Parameters: params,
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu),
				corev1.ResourceMemory: resource.MustParse(memory)}}}}
	}
	for _, tc := range []struct {
		db  *componentsv1alpha1.Database
		tls bool
	}{
		{db("tiny", "250m", "256Mi", "1Gi", 0, nil), false},
		{db("default", "1", "1Gi", "10Gi", 0, nil), true},
		{db("medium", "2", "4Gi", "50Gi", 200, nil), false},
		{db("large", "16", "64Gi", "1Ti", 500, map[string]string{"work_mem": "64MB", "random_page_cost": "1.1",
			"log_min_duration_statement": "250ms", "statement_timeout": "30s"}), true},
	} {
		t.Run(tc.db.Name, func(t *testing.T) {
			cm, _ := ConfigMap(tc.db, tc.tls)
			path := filepath.Join(srv.Dir, tc.db.Name+".conf")
			require.NoError(t, os.WriteFile(path, []byte(cm.Data["postgresql.conf"]), 0o644))
			for _, s := range Settings(tc.db, tc.tls) {
				out, err := srv.Run(30*time.Second, "postgres", "-C", s.Name, "-c", "config_file="+path, "-D", srv.DataDir)
				require.NoError(t, err, "PostgreSQL refuses the rendered file:\n%s", cm.Data["postgresql.conf"])
				got := strings.TrimSpace(out)
				unit, known := units[s.Name]
				require.True(t, known, "%s is not a PostgreSQL 15 parameter", s.Name)
				require.Equal(t, normalize(t, s.Value, unit), got, "%s = %q reads back in PostgreSQL's unit %q", s.Name, s.Value, unit)
			}
		})
	}
}

// settingUnits maps every parameter of the running server to its unit ("" for none).
func settingUnits(t *testing.T, srv *pgtest.Server) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.ConnString("postgres", srv.SuperUser, srv.SuperPassword))
	require.NoError(t, err)
	defer func() { _ = conn.Close(ctx) }()
	rows, err := conn.Query(ctx, "SELECT name, coalesce(unit, '') FROM pg_settings")
	require.NoError(t, err)
	units := map[string]string{}
	for rows.Next() {
		var name, unit string
		require.NoError(t, rows.Scan(&name, &unit))
		units[name] = unit
	}
	require.NoError(t, rows.Err())
	return units
}

// normalize converts a postgresql.conf value to what `postgres -C` prints: a number in the
// parameter's base unit, or the text itself for parameters without one.
func normalize(t *testing.T, value, unit string) string {
	t.Helper()
	base := map[string]float64{"B": 1, "kB": 1 << 10, "8kB": 8 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40,
		"ms": 1, "s": 1000, "min": 60000, "h": 3600000, "d": 86400000}
	if unit == "" {
		if f, err := strconv.ParseFloat(value, 64); err == nil && strings.Contains(value, ".") {
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
		return value
	}
	i := strings.IndexFunc(value, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	number, suffix := value, unit
	if i >= 0 {
		number, suffix = value[:i], strings.TrimSpace(value[i:])
	}
	n, err := strconv.ParseFloat(number, 64)
	require.NoError(t, err, "value %q", value)
	from, ok := base[suffix]
	require.True(t, ok, "value %q: unit %q is not one PostgreSQL accepts", value, suffix)
	to, ok := base[unit]
	require.True(t, ok, "unit %q", unit)
	return strconv.FormatFloat(n*from/to, 'f', -1, 64)
}
