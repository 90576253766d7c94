package agent

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	mathrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func testKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, MasterKeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

// seeded is deterministic pseudo-random data.
func seeded(n int, seed uint64) []byte {
	r := mathrand.New(mathrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) //nolint:gosec // G404: reproducible test data, not a secret
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32()) //nolint:gosec // G115: the low byte of a pseudo-random number is the point
	}
	return b
}

func encrypt(t *testing.T, plain, key []byte, keyID string) []byte {
	t.Helper()
	r, err := newEncryptReader(bytes.NewReader(plain), key, keyID, rand.Reader)
	require.NoError(t, err)
	out, err := io.ReadAll(r)
	require.NoError(t, err)
	return out
}

// decrypt decrypts all of stream with key (whatever key id the header names).
func decrypt(stream, key []byte) ([]byte, error) {
	r, _, err := newDecryptReader(bytes.NewReader(stream), func(string) ([]byte, error) { return key, nil })
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err // what came before the error is checked apart
	}
	return b, nil
}

// chunkOffsets are the offsets of the sealed chunks of an encrypted stream of plainSize bytes.
func chunkOffsets(plainSize int, keyID string) []int {
	var offs []int
	off := int(headerSize(len(keyID)))
	for left := plainSize; ; left -= encChunkSize {
		offs = append(offs, off)
		if left <= encChunkSize {
			return offs
		}
		off += encChunkSize + encTagSize
	}
}

// TestEncryptionRoundTrip: every size around the chunk boundaries comes back byte for byte, the
// stored size is the one EncryptedSize predicts (an S3 upload declares it beforehand), and two
// encryptions of the same dump differ (a fresh salt and nonce prefix per backup).
func TestEncryptionRoundTrip(t *testing.T) {
	key := testKey(t)
	for _, n := range []int{0, 1, 5, encChunkSize - 1, encChunkSize, encChunkSize + 1, 2 * encChunkSize, 3*encChunkSize + 17, 5 << 20} {
		plain := seeded(n, uint64(n)) //nolint:gosec // G115: n is one of the non-negative sizes listed above
		stream := encrypt(t, plain, key, "2026-01")
		require.EqualValues(t, EncryptedSize(int64(n), len("2026-01")), len(stream), "size of %d bytes", n)
		got, err := decrypt(stream, key)
		require.NoError(t, err, "%d bytes", n)
		require.True(t, bytes.Equal(plain, got), "%d bytes come back", n)
		if n >= 64 {
			require.False(t, bytes.Contains(stream, plain[:64]), "the plaintext does not show")
			require.NotEqual(t, stream, encrypt(t, plain, key, "2026-01"), "a fresh salt each time")
		}
	}
}

// TestEncryptionDetectsTampering: any change of a stored byte, a truncation anywhere, chunks in
// another order, anything appended, and a wrong key are refused with a message that says which,
// never with wrong plaintext.
func TestEncryptionDetectsTampering(t *testing.T) {
	key := testKey(t)
	const id = "k1"
	plain := seeded(3*encChunkSize+100, 7) // four chunks, the last short
	stream := encrypt(t, plain, key, id)
	offs := chunkOffsets(len(plain), id)
	require.Len(t, offs, 4)
	last := seeded(2*encChunkSize, 8) // two chunks, the last one full
	lastStream := encrypt(t, last, key, id)
	lastOffs := chunkOffsets(len(last), id)

	cases := map[string]struct {
		stream []byte
		want   string // in the error
	}{
		"a flipped bit in a chunk":        {flip(stream, offs[1]+100), "chunk 1 does not authenticate"},
		"a flipped bit in a tag":          {flip(stream, offs[2]-1), "chunk 1 does not authenticate"},
		"a flipped bit in the last chunk": {flip(stream, len(stream)-1), "chunk 3 does not authenticate"},
		"the key id changed":              {flip(stream, len(encMagic)+1), "does not open it"},
		"the salt changed":                {flip(stream, len(encMagic)+1+len(id)+3), "does not open it"},
		"the key check changed":           {flip(stream, offs[0]-1), "does not open it"},
		"another magic":                   {flip(stream, 0), "does not start like an encrypted Canopy dump"},
		"cut inside the header":           {stream[:offs[0]-5], "ends inside its header"},
		"cut before any chunk":            {stream[:offs[0]], "truncated after its header"},
		"cut at a chunk boundary":         {stream[:offs[2]], "truncated after chunk 1, which is not its final chunk"},
		"cut inside a chunk":              {stream[:offs[2]+1000], "chunk 2 does not authenticate"},
		"the last byte cut":               {stream[:len(stream)-1], "chunk 3 does not authenticate"},
		"a full last chunk dropped":       {lastStream[:lastOffs[1]], "truncated after chunk 0, which is not its final chunk"},
		"two chunks swapped":              {swap(stream, offs[0], offs[1], encChunkSize+encTagSize), "chunk 0 does not authenticate"},
		"a chunk repeated":                {splice(stream[:offs[2]], stream[offs[1]:]), "chunk 2 does not authenticate"},
		"a byte appended":                 {append(bytes.Clone(stream), 0), "chunk 3 does not authenticate"},
		"a chunk appended":                {append(bytes.Clone(lastStream), lastStream[lastOffs[0]:lastOffs[1]]...), "data follows its last chunk (1)"},
		"the final chunk replayed":        {splice(lastStream, lastStream[lastOffs[1]:]), "data follows its last chunk (1)"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := decrypt(c.stream, key)
			require.Error(t, err)
			require.Empty(t, got)
			require.Contains(t, err.Error(), c.want)
		})
	}

	t.Run("a wrong key", func(t *testing.T) {
		_, err := decrypt(stream, testKey(t))
		require.ErrorIs(t, err, errWrongKey)
		require.Contains(t, err.Error(), `key "k1" does not open it`)
	})
	t.Run("no plaintext before authentication", func(t *testing.T) {
		// A reader that reads chunk by chunk gets the chunks before the damaged one, and an error
		// there: never a byte of a chunk that did not authenticate.
		r, _, err := newDecryptReader(bytes.NewReader(flip(stream, offs[2]+5)), func(string) ([]byte, error) { return key, nil })
		require.NoError(t, err)
		got, err := io.ReadAll(r)
		var d *damagedError
		require.ErrorAs(t, err, &d)
		require.Equal(t, plain[:2*encChunkSize], got)
	})
}

// TestEncryptionStreamsInBoundedMemory: 256 MiB through encryption and decryption allocate about
// one chunk's buffers, not the size of the dump.
func TestEncryptionStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: streams 256 MiB (make test and CI run it)")
	}
	key := testKey(t)
	const size = 256 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	enc, err := newEncryptReader(io.LimitReader(zeroReader{}, size), key, "k", rand.Reader)
	require.NoError(t, err)
	dec, _, err := newDecryptReader(enc, func(string) ([]byte, error) { return key, nil })
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, dec)
	require.NoError(t, err)
	runtime.ReadMemStats(&after)
	require.EqualValues(t, size, n)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("256 MiB encrypted and decrypted with %d KiB allocated", allocated>>10)
	require.Less(t, allocated, uint64(2<<20), "memory does not grow with the dump")
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestEncryptedSize(t *testing.T) {
	require.EqualValues(t, headerSize(2)+encTagSize, EncryptedSize(0, 2), "an empty dump is one empty final chunk")
	require.EqualValues(t, headerSize(2)+encChunkSize+encTagSize, EncryptedSize(encChunkSize, 2))
	require.EqualValues(t, headerSize(2)+encChunkSize+1+2*encTagSize, EncryptedSize(encChunkSize+1, 2))
	require.Less(t, float64(EncryptedSize(1<<30, 8)-(1<<30))/(1<<30), 0.0003, "overhead under 0.03%")
	_, err := newEncryptReader(bytes.NewReader(nil), testKey(t), "", rand.Reader)
	require.Error(t, err, "a key id is required")
	_, err = newEncryptReader(bytes.NewReader(nil), testKey(t), strings.Repeat("k", maxKeyIDLength+1), rand.Reader)
	require.Error(t, err)
	_, err = newEncryptReader(bytes.NewReader(nil), []byte("short"), "k", rand.Reader)
	require.Error(t, err)
}

func TestParseKey(t *testing.T) {
	raw := testKey(t)
	raw[0] = 0x00 // certainly not all printable
	for name, b := range map[string][]byte{
		"raw":                  raw,
		"base64":               []byte(base64.StdEncoding.EncodeToString(raw)),
		"base64 with newline":  []byte(base64.StdEncoding.EncodeToString(raw) + "\n"),
		"url-safe base64":      []byte(base64.RawURLEncoding.EncodeToString(raw)),
		"hex":                  []byte(hex.EncodeToString(raw)),
		"hex with white space": []byte("  " + hex.EncodeToString(raw) + "\r\n"),
	} {
		k, problem := parseKey(b)
		require.Empty(t, problem, name)
		require.Equal(t, raw, k, name)
	}
	for name, b := range map[string][]byte{
		"empty":            nil,
		"a password":       []byte("correct horse battery staple 123"),
		"a short password": []byte("hunter2"),
		"16 random bytes":  raw[:16],
		"base64 of 16":     []byte(base64.StdEncoding.EncodeToString(raw[:16])),
		"too long":         bytes.Repeat([]byte{0}, maxKeyFileBytes+1),
	} {
		k, problem := parseKey(b)
		require.Nil(t, k, name)
		require.NotEmpty(t, problem, name)
		if len(b) > 0 {
			require.NotContains(t, problem, string(b), "the problem never shows the value")
		}
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	key := testKey(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "2026-01"), []byte(base64.StdEncoding.EncodeToString(key)), 0o400))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "old"), []byte("my database password"), 0o400))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "..data"), 0o700)) // what a Secret volume holds beside the keys

	got, err := loadKey(dir, "2026-01")
	require.NoError(t, err)
	require.Equal(t, key, got)

	_, err = loadKey(dir, "2025-12")
	require.Equal(t, ReasonEncryptionKeyMissing, reasonOf(err, ""))
	require.Contains(t, err.Error(), `has no key "2025-12"`)
	require.Contains(t, err.Error(), `only "2026-01", "old"`, "names the ids present")

	_, err = loadKey(dir, "old")
	require.Equal(t, ReasonEncryptionKeyMissing, reasonOf(err, ""))
	require.Contains(t, err.Error(), "a password is not a key")
	require.NotContains(t, err.Error(), "my database password")

	_, err = loadKey(dir, "../etc/passwd")
	require.Equal(t, ReasonEncryptionKeyMissing, reasonOf(err, ""))
	_, err = loadKey(filepath.Join(dir, "absent"), "k")
	require.Contains(t, err.Error(), "it is not mounted")
	require.False(t, errors.Is(err, errWrongKey))
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func swap(b []byte, i, j, n int) []byte {
	c := bytes.Clone(b)
	copy(c[i:i+n], b[j:j+n])
	copy(c[j:j+n], b[i:i+n])
	return c
}

func splice(a, b []byte) []byte { return append(bytes.Clone(a), b...) }
