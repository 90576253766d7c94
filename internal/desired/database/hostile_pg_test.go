package database

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/pgtest"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// hostileValues try to end the quoted value and start a line of their own: an include, a command,
// a managed setting.
var hostileValues = []string{
	`x'` + "\n" + `include '/etc/passwd`,
	`x\'; archive_command = 'id`,
	"x\ninclude_dir = '/tmp'",
	"x\rport = 1",
	`'' # comment`,
	`\\' listen_addresses = '0.0.0.0`,
	"$(PGPASSWORD) `id` $(id) ; id",
	"tab\tnewline\n\x00nul",
	"naïve 日本",
}

func startPostgres(t *testing.T) *pgtest.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: starts a PostgreSQL server (make test and CI run it)")
	}
	if missing := pgtest.Missing("initdb", "pg_ctl", "postgres", "psql"); len(missing) > 0 {
		testenv.Unavailable(t, fmt.Sprintf("PostgreSQL 15 programs missing in %s: %v (hack/install-postgres.sh)", pgtest.BinDir, missing))
	}
	dir, err := os.MkdirTemp("", "pghostile-test-")
	require.NoError(t, err)
	srv, err := pgtest.Start(dir, pgtest.Options{SuperUser: "postgres", SuperPassword: pgtest.RandomHex(12)})
	require.NoError(t, err)
	t.Cleanup(srv.Stop)
	return srv
}

// TestHostileParametersStayValues renders postgresql.conf from Databases whose parameters hold
// hostile values and hostile names (as an object that bypassed admission could), and has a real
// PostgreSQL 15 parse it (`postgres -C`): every value reads back exactly as written (NUL bytes,
// which PostgreSQL strings cannot hold, dropped), and no name of the hostile map got into the file.
func TestHostileParametersStayValues(t *testing.T) {
	srv := startPostgres(t)
	params := map[string]string{}
	for i, v := range hostileValues {
		params[fmt.Sprintf("canopy.hostile%d", i)] = v
	}
	params["application_name"] = "x'\ninclude '/etc/passwd"
	// Names admission refuses: none may reach the file.
	for _, name := range []string{"include", "include_dir", "archive_command", "x = 1\nport", "shared_preload_libraries",
		"restore_command", "ssl_passphrase_command", "dynamic_library_path", "a b"} {
		params[name] = "/tmp/evil"
	}
	db := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "hostile"}, Spec: componentsv1alpha1.DatabaseSpec{
		Version: "15", Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}, Parameters: params}}
	cm, _ := ConfigMap(db, false)
	conf := cm.Data["postgresql.conf"]
	path := filepath.Join(srv.Dir, "hostile.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o644))
	show := func(name string) string {
		out, err := srv.Run(30*time.Second, "postgres", "-C", name, "-c", "config_file="+path, "-D", srv.DataDir)
		require.NoError(t, err, "PostgreSQL refuses the rendered file:\n%s", conf)
		return strings.TrimSuffix(out, "\n")
	}
	for i, v := range hostileValues {
		require.Equal(t, strings.ReplaceAll(v, "\x00", ""), show(fmt.Sprintf("canopy.hostile%d", i)), "value %q", v)
	}
	// application_name keeps printable ASCII only (PostgreSQL replaces the rest with '?').
	require.Equal(t, "x'?include '/etc/passwd", show("application_name"))
	require.Equal(t, "", show("archive_command"))
	require.Equal(t, "", show("shared_preload_libraries"))
	require.Equal(t, fmt.Sprint(Port), show("port"))
	require.Equal(t, "*", show("listen_addresses"))
	for _, line := range strings.Split(conf, "\n") {
		require.False(t, strings.HasPrefix(line, "include"), "a directive reached the file: %q", line)
	}
}

// TestInitScriptWithHostileEnvironment runs the first-start script of the init ConfigMap, as the
// official image does, with role, database and password values that try to break out of the psql
// variables into SQL or out of the script into the shell: the role and database are created with
// exactly those names, the password logs in, and nothing else happened.
func TestInitScriptWithHostileEnvironment(t *testing.T) {
	srv := startPostgres(t)
	script := filepath.Join(srv.Dir, "init.sh")
	require.NoError(t, os.WriteFile(script, []byte(InitConfigMap(&componentsv1alpha1.Database{}).Data["10-canopy-app.sh"]), 0o755))
	marker := filepath.Join(srv.Dir, "pwned")
	for i, tc := range []struct{ user, database, password string }{
		{`app"; DROP ROLE postgres; --`, `db" OWNER postgres; CREATE ROLE evil SUPERUSER; --`, `'; ALTER ROLE postgres PASSWORD 'x'; --`},
		{`$(touch ` + marker + `)`, "`touch " + marker + "`", `"; touch ` + marker + `; echo "`},
		{`o'brien\`, `x'; SELECT 1; --`, `\'; \! touch ` + marker + "\n\\! touch " + marker},
		{":app_password", ":'app_user'", `:"app_db"`},
	} {
		cmd := exec.Command("/bin/bash", script)
		cmd.Dir = srv.Dir
		cmd.Env = []string{"PATH=" + pgtest.BinDir + ":/usr/bin:/bin", "HOME=" + srv.Dir, "LC_ALL=C",
			"PGHOST=127.0.0.1", fmt.Sprintf("PGPORT=%d", srv.Port), "PGPASSWORD=" + srv.SuperPassword,
			"POSTGRES_USER=" + srv.SuperUser, "APP_USER=" + tc.user, "APP_DATABASE=" + tc.database, "APP_PASSWORD=" + tc.password}
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "case %d: %s", i, out)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		conn, err := pgx.Connect(ctx, srv.ConnString(tc.database, tc.user, tc.password))
		require.NoError(t, err, "case %d: the role logs in to its database with the password", i)
		var owner string
		require.NoError(t, conn.QueryRow(ctx,
			"SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = current_database()").Scan(&owner))
		require.Equal(t, tc.user, owner, "case %d", i)
		_ = conn.Close(ctx)
		cancel()
	}
	_, err := os.Stat(marker)
	require.True(t, os.IsNotExist(err), "a shell command ran")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.ConnString("postgres", srv.SuperUser, srv.SuperPassword))
	require.NoError(t, err, "the superuser's password is unchanged")
	defer func() { _ = conn.Close(ctx) }()
	var superusers []string
	rows, err := conn.Query(ctx, "SELECT rolname FROM pg_catalog.pg_roles WHERE rolsuper ORDER BY 1")
	require.NoError(t, err)
	for rows.Next() {
		var r string
		require.NoError(t, rows.Scan(&r))
		superusers = append(superusers, r)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{srv.SuperUser}, superusers)
}
