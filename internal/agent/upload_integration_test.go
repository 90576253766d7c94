package agent_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/pgtest"
)

// failingStore makes chosen operations of a Store fail, as a dropped connection or a killed pod
// would.
type failingStore struct {
	agent.Store
	failPut    func(key string) bool
	failDelete func(key string) bool
}

var errSimulated = errors.New("connection reset by peer (simulated)")

func (f failingStore) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if f.failPut != nil && f.failPut(key) {
		return errSimulated
	}
	return f.Store.Put(ctx, key, r, size)
}

func (f failingStore) Delete(ctx context.Context, key string) error {
	if f.failDelete != nil && f.failDelete(key) {
		return errSimulated
	}
	return f.Store.Delete(ctx, key)
}

func isManifest(key string) bool { return strings.HasSuffix(key, "/"+agent.ManifestFile) }

// TestInterruptedUploadOnS3: when the manifest cannot be written after the dump was, the backup
// does not exist: no manifest, not listed, not restorable, not counted by retention, and the
// Result is a failure. With the cleanup failing too (as when the pod is killed), the dump stays
// behind, still not a backup.
func TestInterruptedUploadOnS3(t *testing.T) {
	ww := requireWorld(t)
	prefix := pgtest.UniqueName("interrupted")
	store := ww.s3.store(t, prefix)
	work := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(work, agent.DumpFile), []byte("PGDMP"+strings.Repeat("data", 1000)), 0o600))
	opts := func(name string) agent.Options {
		return agent.Options{Operation: agent.OperationBackup, WorkDir: work, Stack: "shop", Name: name,
			Retention: agent.Retention{KeepLast: 1}}
	}
	ctx := context.Background()

	for _, tc := range []struct {
		name        string
		store       failingStore
		dumpRemains bool
	}{
		{"cleaned-up", failingStore{Store: store, failPut: isManifest}, false},
		{"killed", failingStore{Store: store, failPut: isManifest, failDelete: func(string) bool { return true }}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "shop-" + tc.name
			res := agent.Backup(ctx, tc.store, opts(name), time.Now)
			require.False(t, res.Succeeded)
			require.Equal(t, agent.ReasonUploadFailed, res.Reason)
			require.Contains(t, res.Message, "the backup does not exist")
			require.Empty(t, res.Location)

			_, err := store.Get(ctx, "shop/"+name+"/"+agent.ManifestFile)
			require.ErrorIs(t, err, agent.ErrNotFound, "no manifest")
			rc, err := store.Get(ctx, "shop/"+name+"/"+agent.DumpFile)
			if tc.dumpRemains {
				require.NoError(t, err)
				require.NoError(t, rc.Close())
				require.Contains(t, res.Message, "by hand")
			} else {
				require.ErrorIs(t, err, agent.ErrNotFound, "the partial upload is removed")
			}
			require.NotContains(t, backupNames(t, store, "shop"), name)

			restore := agent.Restore(ctx, store, agent.Options{Operation: agent.OperationRestore, WorkDir: t.TempDir(), Stack: "shop", Name: name}, time.Now)
			require.False(t, restore.Succeeded)
			require.Equal(t, agent.ReasonNotFound, restore.Reason)
		})
	}

	// A later backup's retention (keepLast 1) sees only real backups, and leaves the orphan dump.
	res := agent.Backup(ctx, store, opts("shop-ok-1"), time.Now)
	require.True(t, res.Succeeded, "%+v", res)
	res = agent.Backup(ctx, store, opts("shop-ok-2"), time.Now)
	require.True(t, res.Succeeded, "%+v", res)
	require.Equal(t, []string{"shop-ok-1"}, res.Deleted)
	require.Equal(t, []string{"shop-ok-2"}, backupNames(t, store, "shop"))
	requireKeys(t, store, []string{"shop/shop-killed/" + agent.DumpFile}, nil)
	require.True(t, slices.Contains(backupNames(t, store, "shop"), "shop-ok-2"))
}

// TestLargeDumpOnS3 stores a dump larger than the S3 client's part size, which goes as a multipart
// upload, and fetches it back intact.
func TestLargeDumpOnS3(t *testing.T) {
	ww := requireWorld(t)
	store := ww.s3.store(t, pgtest.UniqueName("large"))
	work := t.TempDir()
	data := make([]byte, 40<<20)
	rng := rand.New(rand.NewChaCha8([32]byte{1, 2, 3})) //nolint:gosec // G404: reproducible test data, not a secret
	for i := 0; i+8 <= len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], rng.Uint64())
	}
	copy(data, "PGDMP")
	require.NoError(t, os.WriteFile(filepath.Join(work, agent.DumpFile), data, 0o600))
	ctx := context.Background()

	start := time.Now()
	res := agent.Backup(ctx, store, agent.Options{Operation: agent.OperationBackup, WorkDir: work, Stack: "shop", Name: "big"}, time.Now)
	upload := time.Since(start)
	require.True(t, res.Succeeded, "%+v", res)
	sum := sha256.Sum256(data)
	require.Equal(t, hex.EncodeToString(sum[:]), res.SHA256)

	target := t.TempDir()
	start = time.Now()
	r := agent.Restore(ctx, store, agent.Options{Operation: agent.OperationRestore, WorkDir: target, Stack: "shop", Name: "big"}, time.Now)
	download := time.Since(start)
	require.True(t, r.Succeeded, "%+v", r)
	got, err := os.ReadFile(filepath.Join(target, agent.DumpFile))
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got))
	t.Logf("40 MiB through S3: upload %v, download and check %v", upload.Round(time.Millisecond), download.Round(time.Millisecond))
}
