package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// VolumeStore keeps backups in a folder, the mount of the backup volume.
type VolumeStore struct {
	root string
}

// NewVolumeStore stores under root, which must exist (it is the volume's mount point).
func NewVolumeStore(root string) *VolumeStore { return &VolumeStore{root: filepath.Clean(root)} }

var _ Store = (*VolumeStore)(nil)

// Folders and files are private to the agent's user: dumps hold the whole database.
const (
	volumeDirMode = 0o700
)

func (s *VolumeStore) path(key string) (string, error) {
	clean := path.Clean("/" + key)
	if clean == "/" || clean != "/"+strings.TrimSuffix(key, "/") {
		return "", fmt.Errorf("invalid key %q", key)
	}
	return filepath.Join(s.root, filepath.FromSlash(clean)), nil
}

// Put writes to a temporary file beside the target, syncs it, renames it into place and syncs the
// folder: a crash at any point leaves either the old object or the new one, never a part.
func (s *VolumeStore) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if _, err := os.Stat(s.root); err != nil {
		return fmt.Errorf("backup volume at %s: %w", s.root, err)
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, volumeDirMode); err != nil {
		return err
	}
	// A dot name: listings of the folder do not mistake it for the object, and a leftover from a
	// crash is visibly temporary.
	f, err := os.CreateTemp(dir, "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, contextReader{ctx, r})
	if err != nil {
		return err
	}
	if size >= 0 && n != size {
		return fmt.Errorf("wrote %d bytes, expected %d", n, size)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return err
	}
	return syncDir(dir)
}

// Get opens the file under key.
func (s *VolumeStore) Get(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p) //nolint:gosec // G304: path() keeps p inside the store's root (clean, relative keys only)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", s.Location(key), ErrNotFound)
	}
	return f, err
}

// List walks the folder of prefix; a missing folder lists nothing.
func (s *VolumeStore) List(ctx context.Context, prefix string) ([]string, error) {
	base := s.root
	if dir := path.Dir(prefix + "x"); dir != "." { // the folder that holds every key with this prefix
		p, err := s.path(dir)
		if err != nil {
			return nil, err
		}
		base = p
	}
	var keys []string
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == base {
				return filepath.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	return keys, err
}

// Delete removes the file under key, then the folders it leaves empty (up to the root).
func (s *VolumeStore) Delete(_ context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for dir := filepath.Dir(p); dir != s.root && strings.HasPrefix(dir, s.root+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil { // not empty (or gone): stop
			break
		}
	}
	return syncDir(filepath.Dir(p))
}

// Location is the key's path inside the volume as a pvc:/// URL; the volume's claim is not known
// to the agent, so the host is empty (a reader may put the claim name there).
func (s *VolumeStore) Location(key string) string { return "pvc:///" + key }

// syncDir makes a rename or removal in dir durable; a folder that is gone needs nothing.
func syncDir(dir string) error {
	d, err := os.Open(dir) //nolint:gosec // G304: dir is a folder of the store, from path()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// contextReader stops a copy when its context ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
