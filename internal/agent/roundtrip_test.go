package agent_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/desired/backup"
	"github.com/canopy-dev/canopy/internal/pgtest"
)

// TestBackupAndRestoreOnVolume backs up with the exact commands of a backup Job onto a volume,
// restores into a fresh database with the agent and RestoreCommand, and compares the content.
func TestBackupAndRestoreOnVolume(t *testing.T) {
	ww := requireWorld(t)
	source, want := sourceDatabase(t, ww)
	bp := policy("shop", volumeDestination(), componentsv1alpha1.RetentionPolicy{KeepLast: ptr.To[int32](7)})
	claims := map[string]string{backup.ClaimName(bp): claimDir(t, ww)}
	sec := testSecrets(ww, source, "", "")

	res, run := runBackupPod(t, ww, bp, "shop-manual-1", sec, claims)
	require.True(t, res.Succeeded, "%+v\n%s", res, run.container("agent").output)
	require.Equal(t, "shop-manual-1", res.Name)
	require.Equal(t, "pvc:///apps.shop/shop-manual-1/dump.pgc", res.Location)
	require.Equal(t, "15", res.DatabaseVersion)
	require.Equal(t, "2.3.1", res.AppVersion)
	require.Empty(t, res.Deleted)

	folder := filepath.Join(claims[backup.ClaimName(bp)], "apps.shop", "shop-manual-1")
	dump, err := os.ReadFile(filepath.Join(folder, agent.DumpFile))
	require.NoError(t, err)
	sum := sha256.Sum256(dump)
	require.Equal(t, hex.EncodeToString(sum[:]), res.SHA256)
	require.EqualValues(t, len(dump), res.SizeBytes)
	m := readManifestFile(t, filepath.Join(folder, agent.ManifestFile))
	require.Equal(t, agent.Manifest{Format: agent.ManifestFormat, WrittenBy: agent.WrittenBy, Stack: "apps.shop", Name: "shop-manual-1",
		DatabaseVersion: "15", AppVersion: "2.3.1", StartTime: res.StartTime, CompletionTime: res.CompletionTime,
		SizeBytes: res.SizeBytes, SHA256: res.SHA256}, m)
	require.False(t, m.StartTime.After(m.CompletionTime))
	entries, err := os.ReadDir(folder)
	require.NoError(t, err)
	require.Len(t, entries, 2, "no temporary file is left")

	target := ww.pg.createDatabase(t, "restored")
	restoreRun := runPod(t, ww, restorePod(t, backup.BackupPod(bp, backupInput(), "shop-manual-1"), "apps.shop", "shop-manual-1", target),
		testSecrets(ww, target, "", ""), claims)
	requireRestored(t, restoreRun)
	require.Equal(t, want, takeSnapshot(t, ww, target))

	logFigures(t, "volume", want, res, run, restoreRun)
}

// TestBackupAndRestoreOnS3 does the same through S3, for a scheduled backup (no name: the agent
// names it) under a prefix.
func TestBackupAndRestoreOnS3(t *testing.T) {
	ww := requireWorld(t)
	source, want := sourceDatabase(t, ww)
	prefix := pgtest.UniqueName("clusters/prod")
	bp := policy("shop", s3Destination(ww, prefix), componentsv1alpha1.RetentionPolicy{KeepLast: ptr.To[int32](7), MaxAge: "720h"})

	before := time.Now().UTC().Truncate(time.Second)
	res, run := runBackupPod(t, ww, bp, "", testSecrets(ww, source, ww.s3.accessKey, ww.s3.secretKey), nil)
	require.True(t, res.Succeeded, "%+v\n%s", res, run.container("agent").output)
	require.Regexp(t, regexp.MustCompile(`^shop-\d{8}-\d{6}$`), res.Name)
	named, err := time.Parse("20060102-150405", strings.TrimPrefix(res.Name, "shop-"))
	require.NoError(t, err)
	require.False(t, named.Before(before), "named after the dump's start, in UTC")
	require.Equal(t, fmt.Sprintf("s3://%s/%s/apps.shop/%s/dump.pgc", testBucket, prefix, res.Name), res.Location)

	dump, err := os.ReadFile(ww.s3.file(prefix + "/apps.shop/" + res.Name + "/" + agent.DumpFile))
	require.NoError(t, err)
	sum := sha256.Sum256(dump)
	require.Equal(t, hex.EncodeToString(sum[:]), res.SHA256)
	m := readManifestFile(t, ww.s3.file(prefix+"/apps.shop/"+res.Name+"/"+agent.ManifestFile))
	require.Equal(t, res.SHA256, m.SHA256)
	require.Equal(t, agent.WrittenBy, m.WrittenBy)

	// RestoreCommand("") leaves the database to PGDATABASE (from the Secret): pg_restore must still
	// restore into it rather than print SQL.
	target := ww.pg.createDatabase(t, "restored")
	restoreRun := runPod(t, ww, restorePod(t, backup.BackupPod(bp, backupInput(), ""), "apps.shop", res.Name, ""),
		testSecrets(ww, target, ww.s3.accessKey, ww.s3.secretKey), nil)
	requireRestored(t, restoreRun)
	require.Equal(t, want, takeSnapshot(t, ww, target))

	logFigures(t, "S3", want, res, run, restoreRun)
}

// TestRestoreRefusesCorruptedDump damages one byte of a stored dump: the agent refuses it, no
// dump is left for pg_restore, pg_restore does not run, and the target keeps its content.
func TestRestoreRefusesCorruptedDump(t *testing.T) {
	ww := requireWorld(t)
	source, _ := sourceDatabase(t, ww)
	prefix := pgtest.UniqueName("corrupt")
	bp := policy("shop", s3Destination(ww, prefix), componentsv1alpha1.RetentionPolicy{})
	res, _ := runBackupPod(t, ww, bp, "shop-good", testSecrets(ww, source, ww.s3.accessKey, ww.s3.secretKey), nil)
	require.True(t, res.Succeeded, "%+v", res)

	file := ww.s3.file(prefix + "/apps.shop/shop-good/" + agent.DumpFile)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x01
	require.NoError(t, os.WriteFile(file, b, 0o644))

	target := ww.pg.createDatabase(t, "target")
	app := ww.pg.appConn(t, target)
	_, err = app.Exec(testCtx(t),
		`CREATE TABLE previous (id int PRIMARY KEY, v text); INSERT INTO previous SELECT i, 'kept ' || i FROM generate_series(1, 100) i`)
	require.NoError(t, err)
	before := contentOf(t, ww, target)

	run := runPod(t, ww, restorePod(t, backup.BackupPod(bp, backupInput(), "shop-good"), "apps.shop", "shop-good", target),
		testSecrets(ww, target, ww.s3.accessKey, ww.s3.secretKey), nil)
	fetch := run.container("fetch")
	r := fetch.result(t)
	require.NotEqual(t, 0, fetch.exitCode)
	require.False(t, r.Succeeded)
	require.Equal(t, agent.ReasonChecksumMismatch, r.Reason)
	require.Contains(t, r.Message, "does not match its manifest")
	require.Contains(t, r.Message, "nothing was restored")
	require.Nil(t, run.container("restore"), "pg_restore must not run after the agent failed")
	entries, err := os.ReadDir(run.volumes["work"])
	require.NoError(t, err)
	require.Empty(t, entries, "the damaged dump is deleted")
	require.Equal(t, before, contentOf(t, ww, target), "the target database is untouched")
}

// TestWrongS3Credentials: refused keys give Reason Unauthorized and a message that says which key
// to check, and no secret appears in the Result or the logs.
func TestWrongS3Credentials(t *testing.T) {
	ww := requireWorld(t)
	source, _ := sourceDatabase(t, ww)
	prefix := pgtest.UniqueName("denied")
	bp := policy("shop", s3Destination(ww, prefix), componentsv1alpha1.RetentionPolicy{KeepLast: ptr.To[int32](2)})
	wrongSecret := "wr0ng-" + pgtest.RandomHex(12)

	cases := map[string]struct{ access, secret, hint string }{
		"wrong secret":     {ww.s3.accessKey, wrongSecret, agent.SecretKeySecretAccessKey},
		"unknown key id":   {"AKIAUNKNOWN" + pgtest.RandomHex(4), wrongSecret, agent.SecretKeyAccessKeyID},
		"right id, no key": {ww.s3.accessKey, ww.s3.secretKey[:8], agent.SecretKeySecretAccessKey},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			res, run := runBackupPod(t, ww, bp, "shop-denied", testSecrets(ww, source, c.access, c.secret), nil)
			agentRun := run.container("agent")
			require.NotEqual(t, 0, agentRun.exitCode)
			require.False(t, res.Succeeded)
			require.Equal(t, agent.ReasonUnauthorized, res.Reason, res.Message)
			require.Contains(t, res.Message, c.hint, "the message says which key to check")
			t.Logf("message: %s", res.Message)
			for _, secret := range []string{c.secret, ww.s3.secretKey} {
				require.NotContains(t, agentRun.message, secret)
				require.NotContains(t, agentRun.output, secret)
			}
			require.Empty(t, res.Location)
			require.Empty(t, res.SHA256)
		})
	}
	keys, err := ww.s3.store(t, prefix).List(testCtx(t), "")
	require.NoError(t, err)
	require.Empty(t, keys, "nothing was written")

	// The same for a restore.
	target := ww.pg.createDatabase(t, "target")
	run := runPod(t, ww, restorePod(t, backup.BackupPod(bp, backupInput(), "x"), "shop", "shop-any", target),
		testSecrets(ww, target, ww.s3.accessKey, wrongSecret), nil)
	r := run.container("fetch").result(t)
	require.Equal(t, agent.ReasonUnauthorized, r.Reason, r.Message)
	require.NotContains(t, run.container("fetch").message, wrongSecret)
	require.Nil(t, run.container("restore"))
}

func requireRestored(t *testing.T, run podRun) {
	t.Helper()
	fetch := run.container("fetch")
	r := fetch.result(t)
	require.True(t, r.Succeeded, "%+v\n%s", r, fetch.output)
	require.Equal(t, 0, fetch.exitCode)
	restore := run.container("restore")
	require.NotNil(t, restore)
	require.Equal(t, 0, restore.exitCode, "pg_restore failed:\n%s", restore.output)
}

func readManifestFile(t *testing.T, p string) agent.Manifest {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	var m agent.Manifest
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// contentOf lists the tables of db's public schema with a checksum of each.
func contentOf(t *testing.T, ww *world, db string) map[string]string {
	t.Helper()
	conn := ww.pg.super(t, db)
	rows, err := conn.Query(testCtx(t), `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	content := map[string]string{}
	for _, table := range tables {
		var sum string
		require.NoError(t, conn.QueryRow(testCtx(t),
			fmt.Sprintf(`SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM %q t`, table)).Scan(&sum))
		content[table] = sum
	}
	return content
}

// logFigures reports what the round trip measured.
func logFigures(t *testing.T, dest string, snap snapshot, res agent.Result, backupRun, restoreRun podRun) {
	t.Helper()
	t.Logf("%s: %d rows; dump %d bytes; backup %v (pg_dump %v + agent %v); restore %v (agent %v + pg_restore %v)",
		dest, snap.rowCount(), res.SizeBytes,
		(backupRun.container("dump").elapsed + backupRun.container("agent").elapsed).Round(time.Millisecond),
		backupRun.container("dump").elapsed.Round(time.Millisecond), backupRun.container("agent").elapsed.Round(time.Millisecond),
		(restoreRun.container("fetch").elapsed + restoreRun.container("restore").elapsed).Round(time.Millisecond),
		restoreRun.container("fetch").elapsed.Round(time.Millisecond), restoreRun.container("restore").elapsed.Round(time.Millisecond))
}
