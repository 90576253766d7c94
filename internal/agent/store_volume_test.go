package agent

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVolumeStore(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := NewVolumeStore(root)

	putString(t, s, "shop/b1/dump.pgc", "one")
	putString(t, s, "shop/b1/manifest.json", "{}")
	putString(t, s, "shop/b2/dump.pgc", "two")
	putString(t, s, "shop/b1/dump.pgc", "replaced")
	putString(t, s, "shopping/x", "not under shop/")

	rc, err := s.Get(ctx, "shop/b1/dump.pgc")
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, "replaced", string(b))

	keys, err := s.List(ctx, "shop/")
	require.NoError(t, err)
	slices.Sort(keys)
	require.Equal(t, []string{"shop/b1/dump.pgc", "shop/b1/manifest.json", "shop/b2/dump.pgc"}, keys)
	keys, err = s.List(ctx, "nothing/")
	require.NoError(t, err)
	require.Empty(t, keys)

	// Files and folders are private: a dump holds the whole database.
	st, err := os.Stat(filepath.Join(root, "shop", "b1", "dump.pgc"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	st, err = os.Stat(filepath.Join(root, "shop", "b1"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	_, err = s.Get(ctx, "shop/b3/dump.pgc")
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, s.Delete(ctx, "shop/b3/dump.pgc"), "deleting a missing object is fine")

	require.NoError(t, s.Delete(ctx, "shop/b2/dump.pgc"))
	_, err = os.Stat(filepath.Join(root, "shop", "b2"))
	require.ErrorIs(t, err, os.ErrNotExist, "the emptied folder goes")
	require.DirExists(t, filepath.Join(root, "shop"), "a folder with content stays")
	require.Equal(t, "pvc:///shop/b1/dump.pgc", s.Location("shop/b1/dump.pgc"))

	for _, bad := range []string{"../escape", "shop/../../x", "/abs", "", "a//b"} {
		require.Error(t, s.Put(ctx, bad, strings.NewReader("x"), 1), bad)
	}
}

type failingReader struct{ after int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("connection lost")
	}
	n := min(len(p), f.after)
	for i := range n {
		p[i] = 'x'
	}
	f.after -= n
	return n, nil
}

func TestVolumeStorePutIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := NewVolumeStore(root)
	putString(t, s, "shop/b1/dump.pgc", "old")

	require.Error(t, s.Put(ctx, "shop/b1/dump.pgc", &failingReader{after: 5000}, 10000))
	require.Error(t, s.Put(ctx, "shop/b1/dump.pgc", strings.NewReader("short"), 10), "a short read is a failure")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, s.Put(cancelled, "shop/b1/dump.pgc", strings.NewReader("new"), 3), context.Canceled)

	entries, err := os.ReadDir(filepath.Join(root, "shop", "b1"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left")
	b, err := os.ReadFile(filepath.Join(root, "shop", "b1", "dump.pgc"))
	require.NoError(t, err)
	require.Equal(t, "old", string(b), "the previous object is intact")
}

func TestVolumeStoreNeedsTheVolume(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "not-mounted")
	err := NewVolumeStore(missing).Put(context.Background(), "shop/b/dump.pgc", strings.NewReader("x"), 1)
	require.ErrorContains(t, err, "backup volume")
	require.NoDirExists(t, missing, "never creates the mount point: it would fill the container instead")
}
