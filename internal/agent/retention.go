package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Retention says which backups to keep; a zero field sets no limit.
type Retention struct {
	// KeepLast keeps at most this many backups.
	KeepLast int
	// MaxAge deletes backups that completed longer ago than this.
	MaxAge time.Duration
}

// Expired returns the names of the backups that the policy deletes at time now, oldest first.
// The newest backup (by completion time) and the backups named in keep are never among them,
// whatever the policy says: a stack always keeps its latest restore point. backups must be
// Canopy's own (see ListBackups); Expired only chooses among what it is given.
func (r Retention) Expired(backups []Manifest, now time.Time, keep ...string) []string {
	sorted := slices.Clone(backups)
	sortNewestFirst(sorted)
	var expired []string
	for i, m := range sorted {
		if i == 0 || slices.Contains(keep, m.Name) {
			continue
		}
		tooMany := r.KeepLast > 0 && i >= r.KeepLast
		tooOld := r.MaxAge > 0 && now.Sub(m.CompletionTime) > r.MaxAge
		if tooMany || tooOld {
			expired = append(expired, m.Name)
		}
	}
	slices.Reverse(expired)
	return expired
}

// applyRetention deletes the backups of stack that r expires, keeping the ones named in keep (the
// backup just taken, and those a data operation in flight references), and returns the names of
// those it deleted. A backup is deleted manifest first: from that moment it
// is no backup any more (nothing lists or restores it), and a failure before its dump is gone
// leaves an orphan dump but never a manifest without its dump.
func applyRetention(ctx context.Context, store Store, stack string, r Retention, now time.Time, keep ...string) ([]string, error) {
	if r.KeepLast == 0 && r.MaxAge == 0 {
		return nil, nil
	}
	backups, err := ListBackups(ctx, store, stack)
	if err != nil {
		return nil, err
	}
	var deleted []string
	var errs []error
	for _, name := range r.Expired(backups, now, keep...) {
		if err := store.Delete(ctx, manifestKey(stack, name)); err != nil {
			errs = append(errs, fmt.Errorf("deleting backup %s: %w", name, err))
			continue
		}
		deleted = append(deleted, name)
		if err := store.Delete(ctx, dumpKey(stack, name)); err != nil {
			errs = append(errs, fmt.Errorf("backup %s was deleted but its dump %s was not (delete it by hand): %w",
				name, store.Location(dumpKey(stack, name)), err))
		}
	}
	return deleted, errors.Join(errs...)
}
