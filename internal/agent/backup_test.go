package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeDump writes a custom-format-looking dump into a fresh work folder.
func fakeDump(t *testing.T, content string) string {
	t.Helper()
	work := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(work, DumpFile), []byte(content), 0o600))
	return work
}

func clock(at time.Time) func() time.Time { return func() time.Time { return at } }

func backupOpts(work, name string) Options {
	return Options{Operation: OperationBackup, WorkDir: work, Stack: "shop", Name: name, DatabaseVersion: "15.4", AppVersion: "2.0"}
}

func restoreOpts(work, name string) Options {
	return Options{Operation: OperationRestore, WorkDir: work, Stack: "shop", Name: name}
}

func TestBackupDumpMissing(t *testing.T) {
	store := NewVolumeStore(t.TempDir())
	for name, work := range map[string]string{
		"absent":     t.TempDir(),
		"empty":      fakeDump(t, ""),
		"not custom": fakeDump(t, "-- PostgreSQL database dump (plain format)\n"),
	} {
		t.Run(name, func(t *testing.T) {
			res := Backup(context.Background(), store, backupOpts(work, "b"), time.Now)
			require.False(t, res.Succeeded)
			require.Equal(t, ReasonDumpMissing, res.Reason)
			require.Contains(t, res.Message, DumpFile)
			require.Empty(t, res.Location)
		})
	}
	keys, err := store.List(context.Background(), "")
	require.NoError(t, err)
	require.Empty(t, keys)
}

func TestBackupAndRestoreInProcess(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store := NewVolumeStore(root)
	content := "PGDMP" + strings.Repeat("\x00\x01 data ", 100000)
	work := fakeDump(t, content)
	at := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	dumpStarted := at.Add(-time.Minute)
	require.NoError(t, os.Chtimes(filepath.Join(work, DumpFile), at, at.Add(-time.Second)))
	require.NoError(t, os.Chtimes(work, dumpStarted, dumpStarted))

	res := Backup(ctx, store, backupOpts(work, ""), clock(at))
	sum := sha256.Sum256([]byte(content))
	require.Equal(t, Result{
		Operation: OperationBackup, Succeeded: true, Name: "shop-20250506-070709",
		SizeBytes: int64(len(content)), SHA256: hex.EncodeToString(sum[:]),
		Location: "pvc:///shop/shop-20250506-070709/dump.pgc", DatabaseVersion: "15.4", AppVersion: "2.0",
		StartTime: dumpStarted, CompletionTime: at,
	}, res, "named after the dump's start, which the work folder's time gives")

	m, err := readManifest(ctx, store, "shop", res.Name)
	require.NoError(t, err)
	require.Equal(t, Manifest{Format: ManifestFormat, WrittenBy: WrittenBy, Stack: "shop", Name: res.Name,
		DatabaseVersion: "15.4", AppVersion: "2.0", StartTime: dumpStarted, CompletionTime: at,
		SizeBytes: res.SizeBytes, SHA256: res.SHA256}, m)

	// Never overwritten.
	again := Backup(ctx, store, backupOpts(fakeDump(t, "PGDMP other"), res.Name), clock(at))
	require.False(t, again.Succeeded)
	require.Equal(t, ReasonUploadFailed, again.Reason)
	require.Contains(t, again.Message, "never overwritten")
	m2, err := readManifest(ctx, store, "shop", res.Name)
	require.NoError(t, err)
	require.Equal(t, m, m2)

	// Restore, over a stale dump in the work folder.
	target := fakeDump(t, "PGDMP stale")
	r := Restore(ctx, store, restoreOpts(target, res.Name), clock(at.Add(time.Hour)))
	require.True(t, r.Succeeded, "%+v", r)
	require.Equal(t, res.SHA256, r.SHA256)
	require.Equal(t, res.Location, r.Location)
	require.Equal(t, "15.4", r.DatabaseVersion)
	b, err := os.ReadFile(filepath.Join(target, DumpFile))
	require.NoError(t, err)
	require.Equal(t, content, string(b))
	require.Contains(t, restoreSummary(r), res.Name)
}

func TestRestoreRefusesWhatDoesNotMatch(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store := NewVolumeStore(root)
	res := Backup(ctx, store, backupOpts(fakeDump(t, "PGDMP"+strings.Repeat("x", 4096)), "b1"), time.Now)
	require.True(t, res.Succeeded, "%+v", res)
	dump := filepath.Join(root, "shop", "b1", DumpFile)
	original, err := os.ReadFile(dump)
	require.NoError(t, err)

	damage := map[string][]byte{
		"flipped byte": func() []byte { b := append([]byte{}, original...); b[100] ^= 0x80; return b }(),
		"truncated":    original[:len(original)-1],
		"extended":     append(append([]byte{}, original...), '!'),
	}
	for name, content := range damage {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(dump, content, 0o600))
			work := fakeDump(t, "PGDMP stale")
			r := Restore(ctx, store, restoreOpts(work, "b1"), time.Now)
			require.False(t, r.Succeeded)
			require.Equal(t, ReasonChecksumMismatch, r.Reason)
			require.Contains(t, r.Message, res.SHA256)
			entries, err := os.ReadDir(work)
			require.NoError(t, err)
			require.Empty(t, entries, "neither the damaged dump nor the stale one is left for pg_restore")
		})
	}
}

func TestRestoreNotFound(t *testing.T) {
	ctx := context.Background()
	store := NewVolumeStore(t.TempDir())
	putString(t, store, "shop/foreign/dump.pgc", "PGDMP")
	putString(t, store, "shop/foreign/manifest.json", string(encodeManifest(Manifest{Format: 1, WrittenBy: "someone", Stack: "shop", Name: "foreign"})))
	putString(t, store, "shop/nodump/manifest.json", string(encodeManifest(Manifest{Format: 1, WrittenBy: WrittenBy, Stack: "shop", Name: "nodump"})))
	putString(t, store, "shop/orphan/dump.pgc", "PGDMP")
	for name, want := range map[string]string{
		"missing": "there is no backup missing",
		"orphan":  "there is no backup orphan",
		"foreign": "not a backup Canopy can restore",
		"nodump":  "its dump",
	} {
		t.Run(name, func(t *testing.T) {
			r := Restore(ctx, store, restoreOpts(t.TempDir(), name), time.Now)
			require.False(t, r.Succeeded)
			require.Equal(t, ReasonNotFound, r.Reason)
			require.Contains(t, r.Message, want)
		})
	}
}

// failDeletes makes every Delete fail, as a store that refuses deletion.
type failDeletes struct{ Store }

func (failDeletes) Delete(context.Context, string) error { return errors.New("permission denied") }

func TestBackupReportsRetentionFailure(t *testing.T) {
	ctx := context.Background()
	store := NewVolumeStore(t.TempDir())
	seed(t, store, "shop", backupsAt(100, 200)...)
	opts := backupOpts(fakeDump(t, "PGDMP new"), "new")
	opts.Retention = Retention{KeepLast: 1}
	res := Backup(ctx, failDeletes{store}, opts, time.Now)
	require.False(t, res.Succeeded)
	require.Equal(t, ReasonRetentionFailed, res.Reason)
	require.Contains(t, res.Message, "backup new was stored")
	require.NotEmpty(t, res.Location, "the backup itself is described")
	require.NotEmpty(t, res.SHA256)
	backups, err := ListBackups(ctx, store, "shop")
	require.NoError(t, err)
	require.Len(t, backups, 3)
}

func TestDumpStartTime(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, DumpFile)
	require.NoError(t, os.WriteFile(f, []byte("PGDMP"), 0o600))
	agentStart := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	set := func(dirTime, fileTime time.Time) time.Time {
		require.NoError(t, os.Chtimes(f, fileTime, fileTime))
		require.NoError(t, os.Chtimes(dir, dirTime, dirTime))
		info, err := os.Stat(f)
		require.NoError(t, err)
		return dumpStartTime(dir, info, agentStart).UTC()
	}
	require.Equal(t, agentStart.Add(-time.Hour), set(agentStart.Add(-time.Hour), agentStart.Add(-time.Minute)))
	require.Equal(t, agentStart, set(agentStart.Add(-48*time.Hour), agentStart.Add(-time.Minute)), "an old folder says nothing")
	require.Equal(t, agentStart, set(agentStart.Add(-time.Second), agentStart.Add(-time.Minute)), "after the dump's last write")
	require.Equal(t, agentStart, dumpStartTime(filepath.Join(dir, "gone"), nil, agentStart))
}

func TestMainBackupOnVolume(t *testing.T) {
	work := fakeDump(t, "PGDMP main")
	root := t.TempDir()
	code, r, _, stderr := runMain(t, env(), OperationBackup, "--work-dir="+work, "--stack=shop", "--name=n1", "--volume-path="+root, "--keep-last=1")
	require.Equal(t, ExitOK, code, stderr)
	require.True(t, r.Succeeded)
	require.Contains(t, stderr, "stored backup n1")
	code, r, _, stderr = runMain(t, env(), OperationRestore, "--work-dir="+t.TempDir(), "--stack=shop", "--name=n1", "--volume-path="+root)
	require.Equal(t, ExitOK, code, stderr)
	require.True(t, r.Succeeded)
	code, r, _, _ = runMain(t, env(), OperationRestore, "--work-dir="+t.TempDir(), "--stack=shop", "--name=n2", "--volume-path="+root)
	require.Equal(t, ExitFailed, code)
	require.Equal(t, ReasonNotFound, r.Reason)
}

// TestEncryptedBackupAndRestoreInProcess: the agent's own functions on a volume: the stored dump
// is encrypted and checksummed as stored, the manifest names the key id (format 2), the restore
// gives back the dump; a replaced key and a missing key fail with their reasons and leave no dump.
func TestEncryptedBackupAndRestoreInProcess(t *testing.T) {
	ctx := context.Background()
	root, keys := t.TempDir(), t.TempDir()
	store := NewVolumeStore(root)
	writeKey := func(id string) {
		k := make([]byte, MasterKeySize)
		for i := range k {
			k[i] = byte(int(id[0])*31 + i*7 + int(id[len(id)-1])) //nolint:gosec // G115: test key bytes, wrapping to the low byte is intended
		}
		require.NoError(t, os.WriteFile(filepath.Join(keys, id), []byte(hex.EncodeToString(k)), 0o400))
	}
	writeKey("k1")
	content := "PGDMP" + strings.Repeat("\x00\x01 customer data ", 50000)
	o := backupOpts(fakeDump(t, content), "enc")
	o.EncryptionKeyDir, o.EncryptionKeyID = keys, "k1"
	res := Backup(ctx, store, o, time.Now)
	require.True(t, res.Succeeded, "%+v", res)
	require.True(t, res.Encrypted)
	require.Equal(t, "k1", res.KeyID)

	stored, err := os.ReadFile(filepath.Join(root, "shop", "enc", DumpFile))
	require.NoError(t, err)
	require.NotContains(t, string(stored), "customer data")
	sum := sha256.Sum256(stored)
	require.Equal(t, hex.EncodeToString(sum[:]), res.SHA256)
	m, err := readManifest(ctx, store, "shop", "enc")
	require.NoError(t, err)
	require.Equal(t, ManifestFormatEncrypted, m.Format)
	require.Equal(t, &ManifestEncryption{Scheme: EncryptionScheme, KeyID: "k1"}, m.Encryption)

	restore := func() (Result, string) {
		ro := restoreOpts(t.TempDir(), "enc")
		ro.EncryptionKeyDir = keys
		return Restore(ctx, store, ro, time.Now), ro.WorkDir
	}
	r, work := restore()
	require.True(t, r.Succeeded, "%+v", r)
	require.Equal(t, "k1", r.KeyID)
	got, err := os.ReadFile(filepath.Join(work, DumpFile))
	require.NoError(t, err)
	require.Equal(t, content, string(got))

	require.NoError(t, os.Remove(filepath.Join(keys, "k1")))
	// Another key under the old id.
	writeKey("x1")
	require.NoError(t, os.Rename(filepath.Join(keys, "x1"), filepath.Join(keys, "k1")))
	r, work = restore()
	require.Equal(t, ReasonWrongEncryptionKey, r.Reason, r.Message)
	require.Contains(t, r.Message, `key "k1" is not the key that encrypted it`)
	entries, err := os.ReadDir(work)
	require.NoError(t, err)
	require.Empty(t, entries)

	require.NoError(t, os.Remove(filepath.Join(keys, "k1")))
	r, _ = restore()
	require.Equal(t, ReasonEncryptionKeyMissing, r.Reason, r.Message)
	require.Contains(t, r.Message, `has no key "k1"`)
}

// TestBackupUnreachableEndpoint: an S3 endpoint nothing listens on fails the backup within seconds
// (bounded retries), before any data moves, with UploadFailed and a message that names the
// destination and the network error; the backup controller passes both to BackupHealthy.
func TestBackupUnreachableEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	endpoint := "http://" + l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there any more
	store, err := NewS3Store(S3Options{Endpoint: endpoint, Bucket: "backups", PathStyle: true, AccessKeyID: "id", SecretAccessKey: "s3cr3t-value"})
	require.NoError(t, err)
	start := time.Now()
	res := Backup(context.Background(), store, backupOpts(fakeDump(t, "PGDMP fake"), "b"), time.Now)
	require.Less(t, time.Since(start), 30*time.Second, "bounded retries")
	require.False(t, res.Succeeded)
	require.Equal(t, ReasonUploadFailed, res.Reason)
	require.Contains(t, res.Message, "cannot read the destination s3://backups/shop/")
	require.Contains(t, res.Message, "connection refused")
	require.NotContains(t, res.Message, "s3cr3t-value")
	t.Logf("message: %s", res.Message)
}
