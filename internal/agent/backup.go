package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// dumpMagic starts every pg_dump custom-format archive.
var dumpMagic = []byte("PGDMP")

// Backup stores <WorkDir>/dump.pgc as the backup o.Name (or DefaultName) of o.Stack: it uploads
// the dump while computing its SHA-256, writes the manifest last, then applies o.Retention, which
// never deletes the backups named in o.Keep. now is the clock (time.Now outside tests). The Result
// says what happened; it never holds a secret.
func Backup(ctx context.Context, store Store, o Options, now func() time.Time) Result {
	res := Result{Operation: OperationBackup, DatabaseVersion: o.DatabaseVersion, AppVersion: o.AppVersion}
	agentStart := now()

	dumpPath := filepath.Join(o.WorkDir, DumpFile)
	f, info, err := openDump(dumpPath)
	if err != nil {
		return failed(res, err, ReasonDumpMissing)
	}
	defer f.Close()
	// The key is read before anything is written, so that a missing key fails the backup at once.
	var master []byte
	if o.EncryptionKeyID != "" {
		if master, err = loadKey(o.EncryptionKeyDir, o.EncryptionKeyID); err != nil {
			return failed(res, err, ReasonEncryptionKeyMissing)
		}
	}
	res.StartTime = dumpStartTime(o.WorkDir, info, agentStart).UTC()
	res.Name = o.Name
	if res.Name == "" {
		res.Name = DefaultName(o.Stack, res.StartTime)
	}
	dump, manifest := dumpKey(o.Stack, res.Name), manifestKey(o.Stack, res.Name)
	res.Location = store.Location(dump)

	// Never overwrite: a backup is immutable once its manifest exists. (A dump without a manifest
	// is a leftover of an interrupted upload, which this one replaces.) This first request also
	// checks the credentials before any data moves.
	switch _, err := readManifest(ctx, store, o.Stack, res.Name); {
	case err == nil || errors.Is(err, errForeign):
		return failed(res, fail(ReasonUploadFailed, "a backup named %s already exists at %s; backups are never overwritten, choose another name",
			res.Name, store.Location(backupKey(o.Stack, res.Name))), "")
	case !errors.Is(err, ErrNotFound):
		return failed(res, storeFailure(err, ReasonUploadFailed, "cannot read the destination %s", store.Location(stackKey(o.Stack))), "")
	}

	// What is stored is the dump, or its encrypted form: the size and SHA-256 recorded are those
	// of the stored bytes, so that they check what is at the destination.
	plain := &countingReader{r: f}
	var stored io.Reader = plain
	size := info.Size()
	if master != nil {
		enc, err := newEncryptReader(plain, master, o.EncryptionKeyID, rand.Reader)
		if err != nil {
			return failed(res, fail(ReasonUploadFailed, "cannot encrypt the dump: %v", err), "")
		}
		stored, size = enc, EncryptedSize(size, len(o.EncryptionKeyID))
	}
	digest := newDigestReader(stored)
	if err := store.Put(ctx, dump, digest, size); err != nil {
		return failed(res, storeFailure(err, ReasonUploadFailed, "uploading the dump to %s failed", res.Location), "")
	}
	if plain.n != info.Size() || digest.n != size {
		// Put read what it was told to; the file changed under it.
		return failed(res, abandon(ctx, store, o.Stack, res.Name,
			fail(ReasonUploadFailed, "%s changed while it was uploaded (%d bytes read, %d expected)", dumpPath, plain.n, info.Size())), "")
	}
	res.SizeBytes, res.SHA256 = digest.n, digest.sum()
	res.CompletionTime = now().UTC()

	m := Manifest{
		Format: ManifestFormat, WrittenBy: WrittenBy, Stack: o.Stack, Name: res.Name,
		DatabaseVersion: o.DatabaseVersion, AppVersion: o.AppVersion,
		StartTime: res.StartTime, CompletionTime: res.CompletionTime,
		SizeBytes: res.SizeBytes, SHA256: res.SHA256,
	}
	if master != nil {
		m.Format, m.Encryption = ManifestFormatEncrypted, &ManifestEncryption{Scheme: EncryptionScheme, KeyID: o.EncryptionKeyID}
		res.Encrypted, res.KeyID = true, o.EncryptionKeyID
	}
	body := encodeManifest(m)
	if err := store.Put(ctx, manifest, bytes.NewReader(body), int64(len(body))); err != nil {
		return failed(res, abandon(ctx, store, o.Stack, res.Name,
			storeFailure(err, ReasonUploadFailed, "writing the manifest %s failed, so the backup does not exist", store.Location(manifest))), "")
	}

	deleted, err := applyRetention(ctx, store, o.Stack, o.Retention, now(), append([]string{res.Name}, o.Keep...)...)
	res.Deleted = deleted
	if err != nil {
		// The backup itself is complete (the fields above describe it); the failure is reported so
		// that old backups do not silently pile up.
		return failed(res, storeFailure(err, ReasonRetentionFailed, "backup %s was stored at %s, but applying the retention policy failed",
			res.Name, res.Location), "")
	}
	res.Succeeded = true
	return res
}

// openDump opens pg_dump's output and checks that it is a non-empty custom-format archive.
func openDump(p string) (*os.File, fs.FileInfo, error) {
	f, err := os.Open(p) //nolint:gosec // G304: p is the dump in the agent's own work folder (its --work-dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fail(ReasonDumpMissing, "no dump at %s: pg_dump did not produce one (see the logs of the dump container)", p)
	}
	if err != nil {
		return nil, nil, fail(ReasonDumpMissing, "cannot open the dump: %v", err)
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", p)
	}
	if err != nil {
		_ = f.Close() // read-only: nothing to lose, the error returned is the one that matters
		return nil, nil, fail(ReasonDumpMissing, "cannot read the dump: %v", err)
	}
	if info.Size() == 0 {
		_ = f.Close() // read-only: nothing to lose, the error returned is the one that matters
		return nil, nil, fail(ReasonDumpMissing, "the dump %s is empty: pg_dump failed or was stopped (see the logs of the dump container)", p)
	}
	head := make([]byte, len(dumpMagic))
	if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, dumpMagic) {
		_ = f.Close() // read-only: nothing to lose, the error returned is the one that matters
		return nil, nil, fail(ReasonDumpMissing, "%s is not a pg_dump custom-format archive (pg_dump --format=custom)", p)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		_ = f.Close() // read-only: nothing to lose, the error returned is the one that matters
		return nil, nil, fail(ReasonDumpMissing, "cannot read the dump: %v", err)
	}
	return f, info, nil
}

// countingReader counts what is read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// dumpStartTime estimates when pg_dump started. pg_dump creates its output file before it connects,
// which updates the work folder's modification time; in a backup pod the folder is a fresh
// emptyDir that nothing else writes. The estimate is used only when it is plausible (not after the
// dump's last write, and at most a day before it); otherwise the agent's own start is used.
func dumpStartTime(workDir string, dump fs.FileInfo, agentStart time.Time) time.Time {
	dir, err := os.Stat(workDir)
	if err != nil {
		return agentStart
	}
	started, finished := dir.ModTime(), dump.ModTime()
	if started.After(finished) || finished.Sub(started) > 24*time.Hour || started.After(agentStart) {
		return agentStart
	}
	return started
}

// abandon cleans up after a backup that failed once its dump was uploaded: it deletes the
// manifest (in case a failed write did land) and only then the dump, so that it never leaves a
// manifest without its dump. cause is returned, with a note when something is left behind.
func abandon(ctx context.Context, store Store, stack, name string, cause error) error {
	// The job may have been stopped: clean up on a fresh, short context.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := store.Delete(ctx, manifestKey(stack, name)); err != nil {
		return fail(reasonOf(cause, ReasonUploadFailed), "%s; also, cleaning up failed, check %s by hand: %v",
			messageOf(cause), store.Location(backupKey(stack, name)), err)
	}
	if err := store.Delete(ctx, dumpKey(stack, name)); err != nil {
		return fail(reasonOf(cause, ReasonUploadFailed), "%s; the partial upload %s, which is not a backup, could not be deleted (delete it by hand): %v",
			messageOf(cause), store.Location(dumpKey(stack, name)), err)
	}
	return cause
}

// failed completes a failed Result from err.
func failed(res Result, err error, fallbackReason string) Result {
	if fallbackReason == "" {
		fallbackReason = ReasonUploadFailed
	}
	res.Succeeded = false
	res.Reason = reasonOf(err, fallbackReason)
	res.Message = messageOf(err)
	if res.Reason != ReasonRetentionFailed {
		// Only a stored backup has a location and a checksum; the controller must not record one.
		res.Location, res.SizeBytes, res.SHA256, res.CompletionTime = "", 0, "", time.Time{}
		res.Encrypted, res.KeyID = false, ""
	}
	return res
}
