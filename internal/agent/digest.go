package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
)

// digestReader computes the SHA-256 and size of what is read through it, so that a dump is read
// once, while it is uploaded or downloaded.
type digestReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func newDigestReader(r io.Reader) *digestReader { return &digestReader{r: r, h: sha256.New()} }

func (d *digestReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	d.n += int64(n)
	return n, err
}

// sum is the hex SHA-256 of what was read so far.
func (d *digestReader) sum() string { return hex.EncodeToString(d.h.Sum(nil)) }
