package agent_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
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

// seedBackup writes a backup of stack directly through the store, completed at the given time, as
// an earlier agent would have.
func seedBackup(t *testing.T, store agent.Store, stack, name string, completed time.Time) {
	t.Helper()
	dump := []byte("PGDMP seeded dump of " + name)
	sum := sha256.Sum256(dump)
	putObject(t, store, stack+"/"+name+"/"+agent.DumpFile, dump)
	putManifest(t, store, stack+"/"+name+"/"+agent.ManifestFile, agent.Manifest{
		Format: agent.ManifestFormat, WrittenBy: agent.WrittenBy, Stack: stack, Name: name,
		StartTime: completed.Add(-time.Minute), CompletionTime: completed,
		SizeBytes: int64(len(dump)), SHA256: hex.EncodeToString(sum[:]),
	})
}

func putObject(t *testing.T, store agent.Store, key string, data []byte) {
	t.Helper()
	require.NoError(t, store.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))))
}

func putManifest(t *testing.T, store agent.Store, key string, m agent.Manifest) {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	putObject(t, store, key, b)
}

// seedForeign writes things beside the backups of stack that are not Canopy's backups, and returns
// their keys: retention must leave every one of them.
func seedForeign(t *testing.T, store agent.Store, stack string, old time.Time) []string {
	t.Helper()
	m := func(writtenBy, name string) agent.Manifest {
		return agent.Manifest{Format: agent.ManifestFormat, WrittenBy: writtenBy, Stack: stack, Name: name, CompletionTime: old}
	}
	keys := []string{
		stack + "/README.txt",                         // a loose file
		stack + "/manual/" + agent.DumpFile,           // a folder without a manifest
		stack + "/other/" + agent.DumpFile,            // a folder with someone else's manifest
		stack + "/other/" + agent.ManifestFile,        //
		stack + "/copied/" + agent.DumpFile,           // Canopy's manifest, but of another folder
		stack + "/copied/" + agent.ManifestFile,       //
		stack + "/broken/" + agent.DumpFile,           // a manifest that is not JSON
		stack + "/broken/" + agent.ManifestFile,       //
		"other-stack/other-stack-1/" + agent.DumpFile, // another stack's backup
		"other-stack/other-stack-1/" + agent.ManifestFile,
	}
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, stack+"/other/") && strings.HasSuffix(k, agent.ManifestFile):
			putManifest(t, store, k, m("someone-else", "other"))
		case strings.HasPrefix(k, stack+"/copied/") && strings.HasSuffix(k, agent.ManifestFile):
			putManifest(t, store, k, m(agent.WrittenBy, "not-copied"))
		case strings.HasPrefix(k, "other-stack/") && strings.HasSuffix(k, agent.ManifestFile):
			mm := m(agent.WrittenBy, "other-stack-1")
			mm.Stack = "other-stack"
			putManifest(t, store, k, mm)
		default:
			putObject(t, store, k, []byte("PGDMP not a backup: "+k))
		}
	}
	return keys
}

func backupNames(t *testing.T, store agent.Store, stack string) []string {
	t.Helper()
	backups, err := agent.ListBackups(context.Background(), store, stack)
	require.NoError(t, err)
	var names []string
	for _, b := range backups {
		names = append(names, b.Name)
	}
	return names
}

func requireKeys(t *testing.T, store agent.Store, present, absent []string) {
	t.Helper()
	keys, err := store.List(context.Background(), "")
	require.NoError(t, err)
	for _, k := range present {
		require.Contains(t, keys, k)
	}
	for _, k := range absent {
		require.NotContains(t, keys, k)
	}
}

// TestRetentionKeepLastOnS3: keepLast 2 over three earlier backups and a new one keeps the two
// newest, and leaves everything that is not a Canopy backup of this stack.
func TestRetentionKeepLastOnS3(t *testing.T) {
	ww := requireWorld(t)
	source, _ := sourceDatabase(t, ww)
	prefix := pgtest.UniqueName("keeplast")
	store := ww.s3.store(t, prefix)
	now := time.Now().UTC()
	for i, age := range []time.Duration{72 * time.Hour, 48 * time.Hour, 24 * time.Hour} {
		seedBackup(t, store, "apps.shop", "shop-old-"+string(rune('1'+i)), now.Add(-age))
	}
	putObject(t, store, "apps.shop/shop-old-1/notes.txt", []byte("someone's notes inside a backup folder"))
	foreign := append(seedForeign(t, store, "apps.shop", now.Add(-1000*time.Hour)), "apps.shop/shop-old-1/notes.txt")

	bp := policy("shop", s3Destination(ww, prefix), componentsv1alpha1.RetentionPolicy{KeepLast: ptr.To[int32](2)})
	res, _ := runBackupPod(t, ww, bp, "shop-new", testSecrets(ww, source, ww.s3.accessKey, ww.s3.secretKey), nil)
	require.True(t, res.Succeeded, "%+v", res)
	require.Equal(t, []string{"shop-old-1", "shop-old-2"}, res.Deleted, "oldest first")
	require.Equal(t, []string{"shop-new", "shop-old-3"}, backupNames(t, store, "apps.shop"))
	requireKeys(t, store, foreign, []string{
		"apps.shop/shop-old-1/" + agent.DumpFile, "apps.shop/shop-old-1/" + agent.ManifestFile,
		"apps.shop/shop-old-2/" + agent.DumpFile, "apps.shop/shop-old-2/" + agent.ManifestFile,
	})
}

// TestRetentionMaxAgeOnVolume: maxAge 24h deletes the backups that completed more than a day ago.
func TestRetentionMaxAgeOnVolume(t *testing.T) {
	ww := requireWorld(t)
	source, _ := sourceDatabase(t, ww)
	bp := policy("shop", volumeDestination(), componentsv1alpha1.RetentionPolicy{MaxAge: "24h"})
	dir := claimDir(t, ww)
	store := agent.NewVolumeStore(dir)
	now := time.Now().UTC()
	seedBackup(t, store, "apps.shop", "shop-100h", now.Add(-100*time.Hour))
	seedBackup(t, store, "apps.shop", "shop-50h", now.Add(-50*time.Hour))
	seedBackup(t, store, "apps.shop", "shop-2h", now.Add(-2*time.Hour))
	foreign := seedForeign(t, store, "apps.shop", now.Add(-1000*time.Hour))

	res, _ := runBackupPod(t, ww, bp, "shop-new", testSecrets(ww, source, "", ""), map[string]string{backup.ClaimName(bp): dir})
	require.True(t, res.Succeeded, "%+v", res)
	require.Equal(t, []string{"shop-100h", "shop-50h"}, res.Deleted)
	require.Equal(t, []string{"shop-new", "shop-2h"}, backupNames(t, store, "apps.shop"))
	requireKeys(t, store, foreign, nil)
	_, err := os.Stat(filepath.Join(dir, "apps.shop", "shop-100h"))
	require.ErrorIs(t, err, os.ErrNotExist, "the emptied folder is removed")
}
