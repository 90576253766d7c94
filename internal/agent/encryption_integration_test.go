package agent_test

// Encrypted backups through the real S3 server, with the exact pods of the backup Job builder
// (internal/desired/backup) and of the restore Job builder (internal/desired/database), the
// encryption Secret mounted as the kubelet mounts it.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/pgtest"
)

const keySecret = "shop-backup-keys"

func newKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, agent.MasterKeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(k) // as `openssl rand -base64 32` writes it
}

func encrypted(dest componentsv1alpha1.BackupDestination, keyID string) componentsv1alpha1.BackupDestination {
	dest.Encryption = &componentsv1alpha1.BackupEncryption{KeySecret: corev1.LocalObjectReference{Name: keySecret}, KeyID: keyID}
	return dest
}

// restoreJobPod is the pod of the restore Job the database controller creates for backup name at
// dest, restoring into the database the credentials Secret names.
func restoreJobPod(dest componentsv1alpha1.BackupDestination, name string) corev1.PodSpec {
	db := &componentsv1alpha1.Database{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "apps", Labels: map[string]string{"canopy.dev/stack": "shop"}},
		Spec:       componentsv1alpha1.DatabaseSpec{Version: "15", Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}},
	}
	job := database.RestoreJob(db, database.RestoreInput{AgentImage: "ghcr.io/canopy-dev/canopy:test", PostgresImage: "docker.io/library/postgres:15",
		Source: componentsv1alpha1.BackupSource{BackupName: name, Destination: dest}}, "r-"+name)
	return job.Spec.Template.Spec
}

// TestEncryptedBackupOnS3: the stored object is not the dump (nor any part of it) and its size and
// SHA-256 are the manifest's; after a key rotation both the old and the new backup restore, each
// with the key it names; a replaced key and a missing key fail the restore with a message that
// names the key id, nothing restored, no key in any output; so does a damaged object.
func TestEncryptedBackupOnS3(t *testing.T) {
	ww := requireWorld(t)
	source, want := sourceDatabase(t, ww)
	prefix := pgtest.UniqueName("encrypted")
	dest := s3Destination(ww, prefix)
	oldKey, newKey2 := newKey(t), newKey(t)
	withKeys := func(db string, keys map[string]string) secrets {
		sec := testSecrets(ww, db, ww.s3.accessKey, ww.s3.secretKey)
		sec[keySecret] = keys
		return sec
	}

	// A backup with the first key.
	bp := policy("shop", encrypted(dest, "2026-01"), componentsv1alpha1.RetentionPolicy{})
	res, run := runBackupPod(t, ww, bp, "shop-enc-1", withKeys(source, map[string]string{"2026-01": oldKey}), nil)
	require.True(t, res.Succeeded, "%+v\n%s", res, run.container("agent").output)
	require.True(t, res.Encrypted)
	require.Equal(t, "2026-01", res.KeyID)

	plain, err := os.ReadFile(filepath.Join(run.volumes["work"], agent.DumpFile))
	require.NoError(t, err)
	stored, err := os.ReadFile(ww.s3.file(prefix + "/apps.shop/shop-enc-1/" + agent.DumpFile))
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(plain, []byte("PGDMP")), "pg_dump wrote a custom-format archive")
	require.False(t, bytes.HasPrefix(stored, []byte("PGDMP")), "what is stored is not the dump")
	for off := 0; off+256 <= len(plain); off += len(plain) / 16 {
		require.False(t, bytes.Contains(stored, plain[off:off+256]), "no 256-byte run of the dump is stored in clear (offset %d)", off)
	}
	require.EqualValues(t, agent.EncryptedSize(int64(len(plain)), len("2026-01")), len(stored))
	sum := sha256.Sum256(stored)
	require.Equal(t, hex.EncodeToString(sum[:]), res.SHA256, "the checksum is that of what is stored")
	require.EqualValues(t, len(stored), res.SizeBytes)
	m := readManifestFile(t, ww.s3.file(prefix+"/apps.shop/shop-enc-1/"+agent.ManifestFile))
	require.Equal(t, agent.ManifestFormatEncrypted, m.Format)
	require.Equal(t, &agent.ManifestEncryption{Scheme: agent.EncryptionScheme, KeyID: "2026-01"}, m.Encryption)
	require.Equal(t, res.SHA256, m.SHA256)
	manifestBytes, err := os.ReadFile(ww.s3.file(prefix + "/apps.shop/shop-enc-1/" + agent.ManifestFile))
	require.NoError(t, err)
	require.NotContains(t, string(manifestBytes), oldKey)
	for _, out := range []string{run.container("agent").output, run.container("agent").message} {
		require.NotContains(t, out, oldKey, "no key in the agent's log or result")
	}

	// Rotation: a new key is added under a new id and becomes the one new backups use.
	rotated := map[string]string{"2026-01": oldKey, "2026-02": newKey2}
	bp = policy("shop", encrypted(dest, "2026-02"), componentsv1alpha1.RetentionPolicy{})
	res2, run2 := runBackupPod(t, ww, bp, "shop-enc-2", withKeys(source, rotated), nil)
	require.True(t, res2.Succeeded, "%+v\n%s", res2, run2.container("agent").output)
	require.Equal(t, "2026-02", res2.KeyID)

	// Both restore with the rotated Secret: each backup with the key it names.
	rotatedDest := encrypted(dest, "2026-02")
	for _, name := range []string{"shop-enc-1", "shop-enc-2"} {
		target := ww.pg.createDatabase(t, "restored")
		restoreRun := runPod(t, ww, restoreJobPod(rotatedDest, name), withKeys(target, rotated), nil)
		requireRestored(t, restoreRun)
		r := restoreRun.container("fetch").result(t)
		require.True(t, r.Encrypted)
		require.Equal(t, map[string]string{"shop-enc-1": "2026-01", "shop-enc-2": "2026-02"}[name], r.KeyID)
		require.Equal(t, want, takeSnapshot(t, ww, target), "%s restored whole", name)
		if name == "shop-enc-1" {
			logFigures(t, "S3 encrypted", want, res, run, restoreRun)
		}
	}

	// Failures: nothing restored, the target untouched, a message naming the key id, no key shown.
	target := ww.pg.createDatabase(t, "target")
	app := ww.pg.appConn(t, target)
	_, err = app.Exec(testCtx(t), `CREATE TABLE previous (id int PRIMARY KEY); INSERT INTO previous SELECT generate_series(1, 10)`)
	require.NoError(t, err)
	before := contentOf(t, ww, target)
	replaced := newKey(t)
	damagedFile := ww.s3.file(prefix + "/apps.shop/shop-enc-2/" + agent.DumpFile)
	cases := []struct {
		name, backup string
		dest         componentsv1alpha1.BackupDestination
		keys         map[string]string
		damage       bool
		reason       string
		message      []string
	}{
		{name: "a replaced key", backup: "shop-enc-1", dest: rotatedDest, keys: map[string]string{"2026-01": replaced, "2026-02": newKey2},
			reason: agent.ReasonWrongEncryptionKey, message: []string{`key "2026-01" is not the key`, "nothing was restored"}},
		{name: "a key dropped from the Secret", backup: "shop-enc-1", dest: rotatedDest, keys: map[string]string{"2026-02": newKey2},
			reason: agent.ReasonEncryptionKeyMissing, message: []string{`has no key "2026-01"`, `only "2026-02"`}},
		{name: "no encryption Secret", backup: "shop-enc-1", dest: dest, keys: map[string]string{},
			reason: agent.ReasonEncryptionKeyMissing, message: []string{`encrypted with key "2026-01"`, "encryption.keySecret"}},
		{name: "a damaged object", backup: "shop-enc-2", dest: rotatedDest, keys: rotated, damage: true,
			reason: agent.ReasonChecksumMismatch, message: []string{`does not decrypt with key "2026-02"`, "does not authenticate", "nothing was restored"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.damage {
				b, err := os.ReadFile(damagedFile)
				require.NoError(t, err)
				b[len(b)*2/3] ^= 0x01
				require.NoError(t, os.WriteFile(damagedFile, b, 0o644))
			}
			run := runPod(t, ww, restoreJobPod(c.dest, c.backup), withKeys(target, c.keys), nil)
			fetch := run.container("fetch")
			r := fetch.result(t)
			require.NotEqual(t, 0, fetch.exitCode)
			require.Equal(t, c.reason, r.Reason, r.Message)
			for _, m := range c.message {
				require.Contains(t, r.Message, m)
			}
			t.Logf("message: %s", r.Message)
			for _, k := range []string{oldKey, newKey2, replaced} {
				require.NotContains(t, fetch.output+fetch.message, k)
			}
			require.Nil(t, run.container("restore"), "pg_restore must not run after the agent failed")
			entries, err := os.ReadDir(run.volumes["work"])
			require.NoError(t, err)
			require.Empty(t, entries, "no dump, not even a partial one, is left")
			require.Equal(t, before, contentOf(t, ww, target), "the target database is untouched")
		})
	}
}

// TestEncryptionKeepsUnencryptedBackupsReadable: turning encryption on leaves the earlier,
// unencrypted backups restorable, and a backup whose key is not in the Secret fails at once.
func TestEncryptionKeepsUnencryptedBackupsReadable(t *testing.T) {
	ww := requireWorld(t)
	source, want := sourceDatabase(t, ww)
	prefix := pgtest.UniqueName("mixed")
	dest := s3Destination(ww, prefix)
	key := newKey(t)
	sec := func(db string, keys map[string]string) secrets {
		s := testSecrets(ww, db, ww.s3.accessKey, ww.s3.secretKey)
		s[keySecret] = keys
		return s
	}
	res, _ := runBackupPod(t, ww, policy("shop", dest, componentsv1alpha1.RetentionPolicy{}), "shop-plain", sec(source, nil), nil)
	require.True(t, res.Succeeded, "%+v", res)
	require.False(t, res.Encrypted)

	target := ww.pg.createDatabase(t, "restored")
	run := runPod(t, ww, restoreJobPod(encrypted(dest, "k1"), "shop-plain"), sec(target, map[string]string{"k1": key}), nil)
	requireRestored(t, run)
	require.Equal(t, want, takeSnapshot(t, ww, target))

	res, run = runBackupPod(t, ww, policy("shop", encrypted(dest, "k2"), componentsv1alpha1.RetentionPolicy{}), "shop-nokey",
		sec(source, map[string]string{"k1": key}), nil)
	require.False(t, res.Succeeded)
	require.Equal(t, agent.ReasonEncryptionKeyMissing, res.Reason)
	require.Contains(t, res.Message, `has no key "k2"`)
	keys, err := ww.s3.store(t, prefix).List(testCtx(t), "apps.shop/shop-nokey/")
	require.NoError(t, err)
	require.Empty(t, keys, "nothing was uploaded")
	require.NotContains(t, run.container("agent").output, key)
}
