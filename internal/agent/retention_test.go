package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// backupsAt makes manifests named after their age in hours, completed that long before t0.
func backupsAt(hours ...int) []Manifest {
	var ms []Manifest
	for _, h := range hours {
		ms = append(ms, Manifest{Format: ManifestFormat, WrittenBy: WrittenBy, Stack: "s",
			Name: "b" + time.Duration(h*int(time.Hour)).String(), CompletionTime: t0.Add(-time.Duration(h) * time.Hour)})
	}
	return ms
}

func TestRetentionExpired(t *testing.T) {
	cases := []struct {
		name    string
		r       Retention
		backups []Manifest
		keep    []string
		want    []string
	}{
		{"no policy keeps all", Retention{}, backupsAt(1, 2, 3), nil, nil},
		{"no backups", Retention{KeepLast: 1, MaxAge: time.Hour}, nil, nil, nil},
		{"keepLast 2 of 4, oldest first", Retention{KeepLast: 2}, backupsAt(1, 2, 3, 4), nil, []string{"b4h0m0s", "b3h0m0s"}},
		{"order of input does not matter", Retention{KeepLast: 2}, backupsAt(3, 1, 4, 2), nil, []string{"b4h0m0s", "b3h0m0s"}},
		{"keepLast 1 keeps the newest only", Retention{KeepLast: 1}, backupsAt(5, 6), nil, []string{"b6h0m0s"}},
		{"keepLast larger than count", Retention{KeepLast: 10}, backupsAt(1, 2), nil, nil},
		{"maxAge", Retention{MaxAge: 24 * time.Hour}, backupsAt(1, 23, 25, 100), nil, []string{"b100h0m0s", "b25h0m0s"}},
		{"maxAge never deletes the newest", Retention{MaxAge: 24 * time.Hour}, backupsAt(80, 90, 100), nil, []string{"b100h0m0s", "b90h0m0s"}},
		{"maxAge exactly at the limit is kept", Retention{MaxAge: 24 * time.Hour}, backupsAt(1, 24), nil, nil},
		{"both limits: either expires", Retention{KeepLast: 3, MaxAge: 48 * time.Hour}, backupsAt(1, 2, 50, 3, 4), nil, []string{"b50h0m0s", "b4h0m0s"}},
		{"a kept name survives", Retention{KeepLast: 1}, backupsAt(1, 2, 3), []string{"b3h0m0s"}, []string{"b2h0m0s"}},
		{"a single backup is never expired", Retention{KeepLast: 1, MaxAge: time.Hour}, backupsAt(1000), nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := append([]Manifest(nil), c.backups...)
			require.Equal(t, c.want, c.r.Expired(c.backups, t0, c.keep...))
			require.Equal(t, before, c.backups, "the input is not reordered")
		})
	}
}

func TestRetentionTiesAreStable(t *testing.T) {
	same := []Manifest{{Name: "a", CompletionTime: t0}, {Name: "c", CompletionTime: t0}, {Name: "b", CompletionTime: t0}}
	require.Equal(t, []string{"a", "b"}, Retention{KeepLast: 1}.Expired(same, t0))
}

// recordingStore records the Deletes it sees and fails those of chosen keys.
type recordingStore struct {
	Store
	deletes []string
	fail    func(key string) bool
}

func (r *recordingStore) Delete(ctx context.Context, key string) error {
	r.deletes = append(r.deletes, key)
	if r.fail != nil && r.fail(key) {
		return errors.New("simulated failure")
	}
	return r.Store.Delete(ctx, key)
}

func seed(t *testing.T, s Store, stack string, ms ...Manifest) {
	t.Helper()
	for _, m := range ms {
		m.Stack = stack
		putString(t, s, dumpKey(stack, m.Name), "PGDMP "+m.Name)
		putString(t, s, manifestKey(stack, m.Name), string(encodeManifest(m)))
	}
}

func putString(t *testing.T, s Store, key, v string) {
	t.Helper()
	require.NoError(t, s.Put(context.Background(), key, strings.NewReader(v), int64(len(v))))
}

func TestApplyRetentionDeletesManifestFirstAndKeepsNewest(t *testing.T) {
	store := &recordingStore{Store: NewVolumeStore(t.TempDir())}
	seed(t, store, "s", backupsAt(80, 90, 100)...)
	deleted, err := applyRetention(context.Background(), store, "s", Retention{MaxAge: 24 * time.Hour}, t0, "")
	require.NoError(t, err)
	require.Equal(t, []string{"b100h0m0s", "b90h0m0s"}, deleted)
	require.Equal(t, []string{
		"s/b100h0m0s/manifest.json", "s/b100h0m0s/dump.pgc",
		"s/b90h0m0s/manifest.json", "s/b90h0m0s/dump.pgc",
	}, store.deletes, "manifest first: a backup stops existing before its dump goes")
	left, err := ListBackups(context.Background(), store, "s")
	require.NoError(t, err)
	require.Len(t, left, 1)
	require.Equal(t, "b80h0m0s", left[0].Name, "the newest stays, however old")
}

func TestApplyRetentionFailures(t *testing.T) {
	// The manifest cannot be deleted: the backup stays whole (its dump is not touched).
	store := &recordingStore{Store: NewVolumeStore(t.TempDir()), fail: func(k string) bool { return k == "s/b3h0m0s/manifest.json" }}
	seed(t, store, "s", backupsAt(1, 2, 3)...)
	deleted, err := applyRetention(context.Background(), store, "s", Retention{KeepLast: 1}, t0, "")
	require.Error(t, err)
	require.Equal(t, []string{"b2h0m0s"}, deleted)
	require.NotContains(t, store.deletes, "s/b3h0m0s/dump.pgc")
	rc, err := store.Get(context.Background(), "s/b3h0m0s/dump.pgc")
	require.NoError(t, err)
	require.NoError(t, rc.Close())

	// The dump cannot be deleted: the backup is gone (no manifest), the dump is reported.
	store = &recordingStore{Store: NewVolumeStore(t.TempDir()), fail: func(k string) bool { return k == "s/b2h0m0s/dump.pgc" }}
	seed(t, store, "s", backupsAt(1, 2)...)
	deleted, err = applyRetention(context.Background(), store, "s", Retention{KeepLast: 1}, t0, "")
	require.ErrorContains(t, err, "delete it by hand")
	require.Equal(t, []string{"b2h0m0s"}, deleted)
	_, err = store.Get(context.Background(), "s/b2h0m0s/manifest.json")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestListBackupsSkipsWhatIsNotABackup(t *testing.T) {
	store := NewVolumeStore(t.TempDir())
	seed(t, store, "s", backupsAt(1, 2)...)
	putString(t, store, "s/loose.txt", "x")
	putString(t, store, "s/nomanifest/dump.pgc", "PGDMP")
	putString(t, store, "s/nodump/manifest.json", string(encodeManifest(Manifest{Format: 1, WrittenBy: WrittenBy, Stack: "s", Name: "nodump"})))
	putString(t, store, "s/foreign/dump.pgc", "PGDMP")
	putString(t, store, "s/foreign/manifest.json", string(encodeManifest(Manifest{Format: 1, WrittenBy: "velero", Stack: "s", Name: "foreign"})))
	putString(t, store, "s/future/dump.pgc", "PGDMP")
	putString(t, store, "s/future/manifest.json", string(encodeManifest(Manifest{Format: 2, WrittenBy: WrittenBy, Stack: "s", Name: "future"})))
	putString(t, store, "s/wrongstack/dump.pgc", "PGDMP")
	putString(t, store, "s/wrongstack/manifest.json", string(encodeManifest(Manifest{Format: 1, WrittenBy: WrittenBy, Stack: "t", Name: "wrongstack"})))
	putString(t, store, "s/garbage/dump.pgc", "PGDMP")
	putString(t, store, "s/garbage/manifest.json", "{not json")
	putString(t, store, "s/deep/er/dump.pgc", "PGDMP")
	putString(t, store, "s/deep/er/manifest.json", string(encodeManifest(Manifest{Format: 1, WrittenBy: WrittenBy, Stack: "s", Name: "er"})))
	seed(t, store, "s2", backupsAt(3)...)

	backups, err := ListBackups(context.Background(), store, "s")
	require.NoError(t, err)
	var names []string
	for _, b := range backups {
		names = append(names, b.Name)
	}
	require.Equal(t, []string{"b1h0m0s", "b2h0m0s"}, names, "newest first")
}

// TestRetentionKeepsProtectedBackups: a backup a data operation in flight references (here the
// pre-upgrade backup, named by --keep) survives a keepLast 1 policy, while the others beyond the
// limit go. The flags are the ones the backup Jobs carry.
func TestRetentionKeepsProtectedBackups(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	store := NewVolumeStore(root)
	seed(t, store, "apps.shop", backupsAt(1, 2, 3)...)
	// b2h0m0s is the pre-upgrade backup; b1h0m0s and b3h0m0s are older scheduled runs.
	o, err := ParseOptions(OperationBackup, []string{"--stack=apps.shop", "--volume-path=" + root, "--work-dir=" + fakeDump(t, "PGDMP new"),
		"--name=shop-20250301-120000", "--keep-last=1", "--keep=b2h0m0s", "--keep=not-there"}, env())
	require.NoError(t, err)
	res := Backup(ctx, store, o, clock(t0))
	require.True(t, res.Succeeded, res.Message)
	require.Equal(t, []string{"b3h0m0s", "b1h0m0s"}, res.Deleted, "keepLast 1 deletes every older backup but the protected one")
	left, err := ListBackups(ctx, store, "apps.shop")
	require.NoError(t, err)
	var names []string
	for _, m := range left {
		names = append(names, m.Name)
	}
	require.Equal(t, []string{"shop-20250301-120000", "b2h0m0s"}, names)
}
