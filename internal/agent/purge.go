package agent

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ReasonPurgeFailed: some backups could not be deleted by a purge.
const ReasonPurgeFailed = "PurgeFailed"

// Purge deletes every backup of o.Stack at the destination: what a Stack deleted with
// dataRetention.backups: Delete asks. Only backups Canopy wrote for that stack are touched (the
// folders ListBackups returns), each manifest first, as retention deletes them: a failure midway
// leaves at worst an orphan dump, never a listed backup without its dump. Another stack's backups
// in the same bucket or volume, and any file Canopy did not write, are left alone.
func Purge(ctx context.Context, store Store, o Options, now func() time.Time) Result {
	res := Result{Operation: OperationPurge, StartTime: now().UTC()}
	backups, err := ListBackups(ctx, store, o.Stack)
	if err != nil {
		return failed(res, fmt.Errorf("listing the backups of %s: %w", o.Stack, err), ReasonPurgeFailed)
	}
	var errs []error
	for _, b := range backups {
		if err := store.Delete(ctx, manifestKey(o.Stack, b.Name)); err != nil {
			errs = append(errs, fmt.Errorf("deleting backup %s: %w", b.Name, err))
			continue
		}
		res.Deleted = append(res.Deleted, b.Name)
		if err := store.Delete(ctx, dumpKey(o.Stack, b.Name)); err != nil {
			errs = append(errs, fmt.Errorf("backup %s was deleted but its dump %s was not (delete it by hand): %w",
				b.Name, store.Location(dumpKey(o.Stack, b.Name)), err))
		}
	}
	res.CompletionTime = now().UTC()
	if err := errors.Join(errs...); err != nil {
		return failed(res, err, ReasonPurgeFailed)
	}
	res.Succeeded = true
	res.Message = fmt.Sprintf("deleted %d backups of %s", len(res.Deleted), o.Stack)
	return res
}
