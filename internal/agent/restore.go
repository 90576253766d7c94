package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Restore fetches the backup o.Name of o.Stack into <WorkDir>/dump.pgc and checks its size and
// SHA-256 against the manifest. On any failure no dump.pgc is left behind, so the Job's next
// container (pg_restore, which runs only after the agent succeeded) has nothing to restore.
func Restore(ctx context.Context, store Store, o Options, now func() time.Time) Result {
	res := Result{Operation: OperationRestore, Name: o.Name, StartTime: now().UTC()}
	target := filepath.Join(o.WorkDir, DumpFile)
	// A dump left from an earlier attempt must not be restored in place of this backup.
	if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return failed(res, fail(ReasonDownloadFailed, "cannot clear the work folder: %v", err), "")
	}

	m, err := readManifest(ctx, store, o.Stack, o.Name)
	switch {
	case errors.Is(err, ErrNotFound):
		return failed(res, fail(ReasonNotFound, "there is no backup %s of stack %s at %s (a backup exists once its %s is written)",
			o.Name, o.Stack, store.Location(backupKey(o.Stack, o.Name)), ManifestFile), "")
	case errors.Is(err, errForeign):
		return failed(res, fail(ReasonNotFound, "%s is not a backup Canopy can restore: %v", store.Location(backupKey(o.Stack, o.Name)), err), "")
	case err != nil:
		return failed(res, storeFailure(err, ReasonDownloadFailed, "reading the manifest of backup %s failed", o.Name), "")
	}
	res.DatabaseVersion, res.AppVersion = m.DatabaseVersion, m.AppVersion
	loc := store.Location(dumpKey(o.Stack, o.Name))
	// An encrypted backup's key is read before anything is downloaded.
	var decrypt func(io.Reader) (io.Reader, error)
	if e := m.Encryption; e != nil {
		if decrypt, err = decrypter(o, e, loc); err != nil {
			return failed(res, err, ReasonEncryptionKeyMissing)
		}
	}

	rc, err := store.Get(ctx, dumpKey(o.Stack, o.Name))
	switch {
	case errors.Is(err, ErrNotFound):
		return failed(res, fail(ReasonNotFound, "backup %s has a manifest but its dump %s is missing", o.Name, loc), "")
	case err != nil:
		return failed(res, storeFailure(err, ReasonDownloadFailed, "fetching the dump %s failed", loc), "")
	}
	defer rc.Close()
	size, sum, err := download(ctx, rc, target, m.SizeBytes, decrypt)
	if err != nil {
		return failed(res, err, ReasonDownloadFailed)
	}
	if size != m.SizeBytes || sum != m.SHA256 {
		_ = os.Remove(target)
		return failed(res, fail(ReasonChecksumMismatch,
			"the dump of backup %s at %s does not match its manifest (size %d, sha256 %s; the manifest says size %d, sha256 %s): it was changed or "+
				"damaged at the destination; nothing was restored",
			o.Name, loc, size, sum, m.SizeBytes, m.SHA256), "")
	}
	res.Location, res.SizeBytes, res.SHA256 = loc, size, sum
	if e := m.Encryption; e != nil {
		res.Encrypted, res.KeyID = true, e.KeyID
	}
	res.CompletionTime = now().UTC()
	res.Succeeded = true
	return res
}

// decrypter returns how to decrypt the stored dump of an encrypted backup (manifest e, stored at
// loc) with the key it names, read from o.EncryptionKeyDir. Its errors, and those of the reader it
// returns, are failures that say what went wrong in the user's terms and name the key id.
func decrypter(o Options, e *ManifestEncryption, loc string) (func(io.Reader) (io.Reader, error), error) {
	if e.Scheme != EncryptionScheme {
		return nil, fail(ReasonDownloadFailed, "backup %s is encrypted with %q, which this agent does not know (it knows %s): restore it with a newer Canopy",
			o.Name, e.Scheme, EncryptionScheme)
	}
	if o.EncryptionKeyDir == "" {
		return nil, fail(ReasonEncryptionKeyMissing, "backup %s is encrypted with key %q, and this restore has no encryption keys: "+
			"name the Secret that holds that key in the destination's encryption.keySecret (%s by hand)", o.Name, e.KeyID, FlagEncryptionKeyDir)
	}
	key, err := loadKey(o.EncryptionKeyDir, e.KeyID)
	if err != nil {
		return nil, fail(reasonOf(err, ReasonEncryptionKeyMissing), "backup %s cannot be decrypted: %s", o.Name, messageOf(err))
	}
	damage := func(err error) error {
		var d *damagedError
		if errors.As(err, &d) {
			return fail(ReasonChecksumMismatch, "the encrypted dump of backup %s at %s does not decrypt with key %q: %v; "+
				"it was changed or damaged at the destination; nothing was restored",
				o.Name, loc, e.KeyID, err)
		}
		return err
	}
	return func(r io.Reader) (io.Reader, error) {
		dr, headerKey, err := newDecryptReader(r, func(id string) ([]byte, error) {
			if id != e.KeyID {
				return nil, fail(ReasonChecksumMismatch, "the encrypted dump of backup %s at %s names key %q, its manifest %q: "+
					"one of them was altered; nothing was restored",
					o.Name, loc, id, e.KeyID)
			}
			return key, nil
		})
		switch {
		case errors.Is(err, errWrongKey):
			return nil, fail(ReasonWrongEncryptionKey, "backup %s cannot be decrypted: the encryption Secret's key %q is not the key that encrypted it "+
				"(the value of a key id must never change: add a new key under a new id instead); nothing was restored", o.Name, headerKey)
		case err != nil:
			return nil, damage(err)
		}
		return errorMapper{dr, damage}, nil
	}, nil
}

// errorMapper passes a reader's errors through a function.
type errorMapper struct {
	r   io.Reader
	err func(error) error
}

func (m errorMapper) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if err != nil && err != io.EOF {
		err = m.err(err)
	}
	return n, err
}

// download copies r into target through a temporary file, returning the size and SHA-256 it read.
// It reads at most limit+1 bytes: enough to tell a longer file from the expected one without
// filling the disk with a runaway object. With decrypt, what is written is the decryption of what
// is read, chunk by chunk as each is authenticated. target exists only if every byte was written
// and synced.
func download(ctx context.Context, r io.Reader, target string, limit int64, decrypt func(io.Reader) (io.Reader, error)) (size int64, sum string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return 0, "", fail(ReasonDownloadFailed, "cannot write to the work folder: %v", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	digest := newDigestReader(io.LimitReader(contextReader{ctx, r}, limit+1))
	var src io.Reader = digest
	if decrypt != nil {
		if src, err = decrypt(digest); err != nil {
			return 0, "", asFailure(err, ReasonDownloadFailed, "downloading the dump failed")
		}
	}
	if _, err := io.Copy(tmp, src); err != nil {
		return 0, "", asFailure(err, ReasonDownloadFailed, "downloading the dump failed")
	}
	if err := tmp.Sync(); err != nil {
		return 0, "", fail(ReasonDownloadFailed, "writing %s: %v", target, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, "", fail(ReasonDownloadFailed, "writing %s: %v", target, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return 0, "", fail(ReasonDownloadFailed, "writing %s: %v", target, err)
	}
	return digest.n, digest.sum(), nil
}

// asFailure keeps a failure as it is and turns any other error into one, as storeFailure does.
func asFailure(err error, reason, format string, args ...any) error {
	var f *failure
	if errors.As(err, &f) {
		return err
	}
	return storeFailure(err, reason, format, args...)
}

// restoreSummary is the log line of a successful restore.
func restoreSummary(r Result) string {
	how := "fetched"
	if r.Encrypted {
		how = fmt.Sprintf("fetched and decrypted (key %q)", r.KeyID)
	}
	return fmt.Sprintf("%s backup %s (%d bytes, sha256 %s) from %s into %s", how, r.Name, r.SizeBytes, r.SHA256, r.Location, DumpFile)
}
