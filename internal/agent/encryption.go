package agent

// The encrypted dump format: streaming authenticated encryption with AES-256-GCM in 64 KiB chunks,
// in the manner of the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár, 2015) and Tink's
// AES256_GCM_HKDF streaming AEAD. A dump of any size is encrypted and decrypted in bounded memory
// (one chunk), and every chunk is authenticated before any of its bytes is released.
//
//	header:  magic "CNPYENC1" | key id length (1 byte) | key id | salt (32) | nonce prefix (7) | key check (32)
//	chunks:  AES-256-GCM(data key, nonce, plaintext chunk), 64 KiB of plaintext each, the last
//	         one shorter or empty; each adds a 16-byte tag
//
// The data key and the key check are derived per backup with HKDF-SHA256 from the master key (one
// of the encryption Secret's keys), the random salt, and the header up to the key check as info:
// each backup has its own data key, and a header changed in any byte (another key id, another
// prefix) derives other keys, so that no chunk opens. The key check tells a wrong master key from
// damaged data before any chunk is read. A chunk's nonce is the prefix, the chunk's counter (4
// bytes, big-endian) and a final flag (1 byte: 1 on the last chunk, 0 before): a chunk moved to
// another position does not open, and a stream cut at a chunk boundary lacks the chunk whose flag
// says it is the last, so that reordering and truncation are detected, and so is anything appended.

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// EncryptionScheme names the format above in manifests and results.
const EncryptionScheme = "aes-256-gcm-stream-v1"

const (
	encMagic        = "CNPYENC1"
	encChunkSize    = 64 << 10
	encTagSize      = 16
	encSaltSize     = 32
	encPrefixSize   = 7
	encKeyCheckSize = 32
	// MasterKeySize is the size of an encryption key: 256 bits.
	MasterKeySize = 32
	// maxKeyIDLength bounds a key id (its length is one byte of the header).
	maxKeyIDLength = 128
	hkdfInfoLabel  = "canopy backup encryption v1\x00"
)

// damagedError says what is wrong with an encrypted stream that does not decrypt with the right
// key: it was altered, cut, reordered or extended. Errors of the underlying reader are passed on
// as they are.
type damagedError struct{ msg string }

func (e *damagedError) Error() string { return e.msg }

func damaged(format string, args ...any) error { return &damagedError{fmt.Sprintf(format, args...)} }

// errWrongKey marks a master key that is not the one a stream was encrypted with.
var errWrongKey = errors.New("wrong key")

// EncryptedSize is the size of the encrypted form of plainSize bytes under a key id of keyIDLen
// bytes: what is stored, known before the first byte is (an S3 upload needs it).
func EncryptedSize(plainSize int64, keyIDLen int) int64 {
	chunks := plainSize / encChunkSize
	if plainSize%encChunkSize != 0 || plainSize == 0 {
		chunks++
	}
	return headerSize(keyIDLen) + plainSize + chunks*encTagSize
}

func headerSize(keyIDLen int) int64 {
	return int64(len(encMagic) + 1 + keyIDLen + encSaltSize + encPrefixSize + encKeyCheckSize)
}

// deriveKeys returns the AEAD of the data key and the key check for a header's fields.
func deriveKeys(master []byte, headerPrefix []byte, salt []byte) (cipher.AEAD, []byte, error) {
	if len(master) != MasterKeySize {
		return nil, nil, fmt.Errorf("an encryption key must be %d bytes, not %d", MasterKeySize, len(master))
	}
	okm, err := hkdf.Key(sha256.New, master, salt, hkdfInfoLabel+string(headerPrefix), 32+encKeyCheckSize)
	if err != nil {
		return nil, nil, err
	}
	block, err := aes.NewCipher(okm[:32])
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	return aead, okm[32:], nil
}

// chunkNonce is the nonce of chunk counter.
func chunkNonce(dst *[12]byte, prefix []byte, counter uint32, last bool) []byte {
	copy(dst[:encPrefixSize], prefix)
	binary.BigEndian.PutUint32(dst[encPrefixSize:], counter)
	dst[11] = 0
	if last {
		dst[11] = 1
	}
	return dst[:]
}

// encryptReader reads plaintext from src and yields the encrypted stream.
type encryptReader struct {
	src     *bufio.Reader
	aead    cipher.AEAD
	prefix  []byte
	counter uint32
	nonce   [12]byte
	plain   []byte
	sealed  []byte
	out     []byte // what is left to hand out: the header, then the current sealed chunk
	done    bool
}

// newEncryptReader encrypts src with master, recording keyID in the header. randomness is the
// source of the salt and nonce prefix (crypto/rand outside tests).
func newEncryptReader(src io.Reader, master []byte, keyID string, randomness io.Reader) (io.Reader, error) {
	idLen := len(keyID)
	if idLen < 1 || idLen > maxKeyIDLength {
		return nil, fmt.Errorf("a key id must be 1 to %d bytes", maxKeyIDLength)
	}
	random := make([]byte, encSaltSize+encPrefixSize)
	if _, err := io.ReadFull(randomness, random); err != nil {
		return nil, fmt.Errorf("reading randomness: %w", err)
	}
	salt, prefix := random[:encSaltSize], random[encSaltSize:]
	header := make([]byte, 0, headerSize(len(keyID)))
	header = append(header, encMagic...)
	header = append(header, byte(idLen))
	header = append(header, keyID...)
	header = append(header, salt...)
	header = append(header, prefix...)
	aead, check, err := deriveKeys(master, header, salt)
	if err != nil {
		return nil, err
	}
	header = append(header, check...)
	return &encryptReader{
		src: bufio.NewReaderSize(src, encChunkSize), aead: aead, prefix: prefix,
		plain: make([]byte, encChunkSize), sealed: make([]byte, 0, encChunkSize+encTagSize), out: header,
	}, nil
}

func (e *encryptReader) Read(p []byte) (int, error) {
	for len(e.out) == 0 {
		if e.done {
			return 0, io.EOF
		}
		if err := e.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, e.out)
	e.out = e.out[n:]
	return n, nil
}

// next seals the next chunk: the last one when the source has nothing after it.
func (e *encryptReader) next() error {
	n, err := io.ReadFull(e.src, e.plain)
	last := false
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		last = true
	case err != nil:
		return err
	default:
		if _, err := e.src.Peek(1); err == io.EOF {
			last = true
		} else if err != nil {
			return err
		}
	}
	if !last && e.counter == math.MaxUint32 {
		return errors.New("the dump is too large to encrypt (more than 2^32 chunks)")
	}
	e.out = e.aead.Seal(e.sealed[:0], chunkNonce(&e.nonce, e.prefix, e.counter, last), e.plain[:n], nil)
	e.counter++
	e.done = last
	return nil
}

// streamHeader is what an encrypted stream's header says.
type streamHeader struct {
	keyID  string
	salt   []byte
	prefix []byte
	check  []byte
	raw    []byte // the header up to the key check: the HKDF info
}

// readHeader reads and parses the header of an encrypted stream.
func readHeader(r io.Reader) (streamHeader, error) {
	var h streamHeader
	fixed := make([]byte, len(encMagic)+1)
	if _, err := io.ReadFull(r, fixed); err != nil {
		return h, headerError(err)
	}
	if !bytes.Equal(fixed[:len(encMagic)], []byte(encMagic)) {
		return h, damaged("it does not start like an encrypted Canopy dump")
	}
	idLen := int(fixed[len(encMagic)])
	rest := make([]byte, idLen+encSaltSize+encPrefixSize+encKeyCheckSize)
	if _, err := io.ReadFull(r, rest); err != nil {
		return h, headerError(err)
	}
	if idLen == 0 {
		return h, damaged("its header names no key")
	}
	h.keyID = string(rest[:idLen])
	h.salt = rest[idLen : idLen+encSaltSize]
	h.prefix = rest[idLen+encSaltSize : idLen+encSaltSize+encPrefixSize]
	h.check = rest[idLen+encSaltSize+encPrefixSize:]
	h.raw = append(fixed, rest[:idLen+encSaltSize+encPrefixSize]...)
	return h, nil
}

func headerError(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return damaged("it ends inside its header: it was truncated")
	}
	return err
}

// decryptReader yields the plaintext of an encrypted stream, each chunk only once it is
// authenticated. Its errors say what is wrong in the user's terms: a chunk that does not open
// (altered, reordered), a stream cut short, data after the last chunk.
type decryptReader struct {
	src     *bufio.Reader
	aead    cipher.AEAD
	prefix  []byte
	counter uint32
	nonce   [12]byte
	sealed  []byte
	plain   []byte
	out     []byte
	done    bool
	err     error
}

// newDecryptReader reads the header of src and checks master against it. keyOf gives the master
// key of the key id the header names; a wrong key gives an error wrapping errWrongKey. The
// returned key id is the header's.
func newDecryptReader(src io.Reader, keyOf func(keyID string) ([]byte, error)) (io.Reader, string, error) {
	h, err := readHeader(src)
	if err != nil {
		return nil, "", err
	}
	master, err := keyOf(h.keyID)
	if err != nil {
		return nil, h.keyID, err
	}
	aead, check, err := deriveKeys(master, h.raw, h.salt)
	if err != nil {
		return nil, h.keyID, err
	}
	if subtle.ConstantTimeCompare(check, h.check) != 1 {
		return nil, h.keyID, fmt.Errorf("%w: key %q does not open it "+
			"(it is not the key the backup was encrypted with, or the header was altered)", errWrongKey, h.keyID)
	}
	return &decryptReader{
		src: bufio.NewReaderSize(src, encChunkSize+encTagSize), aead: aead, prefix: h.prefix,
		sealed: make([]byte, encChunkSize+encTagSize), plain: make([]byte, 0, encChunkSize),
	}, h.keyID, nil
}

func (d *decryptReader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		if err := d.next(); err != nil {
			d.err = err
			return 0, err
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// next opens the next chunk.
func (d *decryptReader) next() error {
	n, err := io.ReadFull(d.src, d.sealed)
	last := false
	switch {
	case err == io.EOF && d.counter == 0:
		return damaged("it was truncated after its header")
	case err == io.EOF:
		return damaged("it was truncated after chunk %d, which is not its final chunk", d.counter-1)
	case err == io.ErrUnexpectedEOF:
		last = true // only the last chunk is short
	case err != nil:
		return err
	default:
		if _, err := d.src.Peek(1); err == io.EOF {
			last = true
		} else if err != nil {
			return err
		}
	}
	chunk := d.sealed[:n]
	plain, err := d.aead.Open(d.plain[:0], chunkNonce(&d.nonce, d.prefix, d.counter, last), chunk, nil)
	if err != nil {
		// Tell the cases apart by trying the other flag: a chunk that opens as a middle chunk at
		// the end of the stream means the stream was cut after it; a final chunk followed by
		// more data means something was appended.
		if _, other := d.aead.Open(nil, chunkNonce(&d.nonce, d.prefix, d.counter, !last), chunk, nil); other == nil {
			if last {
				return damaged("it was truncated after chunk %d, which is not its final chunk", d.counter)
			}
			return damaged("data follows its last chunk (%d): something was appended", d.counter)
		}
		return damaged("chunk %d does not authenticate: it was altered, moved or cut", d.counter)
	}
	if !last && d.counter == math.MaxUint32 {
		return damaged("it has more than 2^32 chunks")
	}
	d.out = plain
	d.counter++
	d.done = last
	return nil
}
