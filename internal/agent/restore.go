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

	rc, err := store.Get(ctx, dumpKey(o.Stack, o.Name))
	switch {
	case errors.Is(err, ErrNotFound):
		return failed(res, fail(ReasonNotFound, "backup %s has a manifest but its dump %s is missing", o.Name, loc), "")
	case err != nil:
		return failed(res, storeFailure(err, ReasonDownloadFailed, "fetching the dump %s failed", loc), "")
	}
	defer rc.Close()
	size, sum, err := download(ctx, rc, target, m.SizeBytes)
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
	res.CompletionTime = now().UTC()
	res.Succeeded = true
	return res
}

// download copies r into target through a temporary file, returning the size and SHA-256 it read.
// It reads at most limit+1 bytes: enough to tell a longer file from the expected one without
// filling the disk with a runaway object. target exists only if every byte was written and synced.
func download(ctx context.Context, r io.Reader, target string, limit int64) (size int64, sum string, err error) {
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
	if _, err := io.Copy(tmp, digest); err != nil {
		return 0, "", storeFailure(err, ReasonDownloadFailed, "downloading the dump failed")
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

// restoreSummary is the log line of a successful restore.
func restoreSummary(r Result) string {
	return fmt.Sprintf("fetched backup %s (%d bytes, sha256 %s) from %s into %s", r.Name, r.SizeBytes, r.SHA256, r.Location, DumpFile)
}
