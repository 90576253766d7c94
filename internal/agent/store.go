package agent

import (
	"context"
	"errors"
	"io"
)

// Store is a destination of backups: a flat space of slash-separated keys relative to the
// destination's root (the volume path, or the bucket and prefix). The two implementations are
// VolumeStore and S3Store.
type Store interface {
	// Put stores size bytes read from r under key, replacing any object there. The object
	// appears whole or not at all: an interrupted Put leaves nothing under key.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the object under key; ErrNotFound when there is none.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns every key that starts with prefix, in no particular order.
	List(ctx context.Context, prefix string) ([]string, error)
	// Delete removes the object under key; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// Location is the URL of key shown to users: s3://bucket/prefix/key or pvc:///key.
	Location(key string) string
}

var (
	// ErrNotFound is returned (wrapped) by Store.Get for a missing object.
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized is returned (wrapped) by a Store whose credentials are refused.
	ErrUnauthorized = errors.New("access denied")
)

// OpenStore returns the destination the options name.
func OpenStore(o Options) (Store, error) {
	if o.S3 != nil {
		return NewS3Store(*o.S3)
	}
	return NewVolumeStore(o.VolumePath), nil
}
