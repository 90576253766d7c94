package agent

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// keyIDPattern is what a key id may be: a Secret's data key (letters, digits, '-', '_', '.'),
// starting and ending with a letter or digit so that it is never one of the files Kubernetes
// keeps beside the keys in a Secret volume (..data, ..2026_01_01...).
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9]([-._A-Za-z0-9]*[A-Za-z0-9])?$`)

const keyIDRule = "must be 1 to 128 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"

func validKeyID(id string) bool { return len(id) <= maxKeyIDLength && keyIDPattern.MatchString(id) }

// maxKeyFileBytes bounds what is read of a key file: a key is at most 64 hex digits and a newline.
const maxKeyFileBytes = 4096

// loadKey reads the master key id from dir, the mounted encryption Secret: one file per key, named
// by its id. Its errors carry ReasonEncryptionKeyMissing and never any byte of a key.
func loadKey(dir, id string) ([]byte, error) {
	if !validKeyID(id) {
		return nil, fail(ReasonEncryptionKeyMissing, "encryption key id %q: %s", id, keyIDRule)
	}
	f, err := os.Open(filepath.Join(dir, id)) //nolint:gosec // G304: dir is the mounted encryption Secret; validKeyID admits no path separator
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fail(ReasonEncryptionKeyMissing, "the encryption Secret has no key %q (%s); it holds %s. "+
			"Keep every key that encrypted a backup in the Secret for as long as that backup is to be restored", id, dir, keyList(dir))
	}
	if err != nil {
		return nil, fail(ReasonEncryptionKeyMissing, "cannot read encryption key %q: %v", id, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileBytes+1))
	if err != nil {
		return nil, fail(ReasonEncryptionKeyMissing, "cannot read encryption key %q: %v", id, err)
	}
	key, problem := parseKey(b)
	if problem != "" {
		return nil, fail(ReasonEncryptionKeyMissing, "encryption key %q in the Secret %s; it must be %d random bytes, or their base64 or hex "+
			"(for example: kubectl create secret generic NAME --from-literal=%s=\"$(openssl rand -base64 32)\")", id, problem, MasterKeySize, id)
	}
	return key, nil
}

// KeyProblem says why a Secret's value is not usable as an encryption key ("" when it is), in the
// words the agent would use, without any byte of it: the controller checks the key before it
// starts a backup that would fail on it.
func KeyProblem(value []byte) string {
	_, problem := parseKey(value)
	return problem
}

// parseKey accepts 32 raw bytes, or their standard or URL-safe base64, or their hex, with
// surrounding white space. 32 bytes of printable text are refused: they are a password, not a
// key (32 random bytes are all printable once in 10^14). problem says what is wrong, never what
// the value is.
func parseKey(b []byte) (key []byte, problem string) {
	if len(b) == MasterKeySize && !printable(b) {
		return append([]byte(nil), b...), ""
	}
	s := strings.TrimSpace(string(b))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == MasterKeySize {
			return k, ""
		}
	}
	if k, err := hex.DecodeString(s); err == nil && len(k) == MasterKeySize {
		return k, ""
	}
	switch {
	case len(b) == 0:
		return nil, "is empty"
	case len(b) > maxKeyFileBytes:
		return nil, "is far too long"
	case printable(b):
		return nil, "is text that is not the base64 or hex of a 256-bit key (a password is not a key)"
	}
	return nil, "has the wrong length"
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			if c != '\n' && c != '\r' && c != '\t' {
				return false
			}
		}
	}
	return true
}

// keyList names the keys in dir, for an error message: ids only, never a value.
func keyList(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "no key (it is not mounted)"
	}
	var ids []string
	for _, e := range entries {
		if validKeyID(e.Name()) {
			ids = append(ids, "\""+e.Name()+"\"")
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return "no key"
	}
	return "only " + strings.Join(ids, ", ")
}
