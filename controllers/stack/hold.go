package stack

import (
	"fmt"
	"slices"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// backupHold is what the BackupPolicy is told about the data operation that runs (DESIGN §4, one
// data operation at a time): while a PostgreSQL major upgrade, an in-place restore or an
// application upgrade runs, scheduled and annotation-requested backups wait (hold, with the
// operation as its reason), and retention keeps every backup an operation references (protected):
//   - a major upgrade's backup, which the new instance loads;
//   - an in-place restore's source and its safety backup, the way back;
//   - an application upgrade's pre-upgrade backup, also after the upgrade failed: a failed
//     migration may have changed the data, and that backup is the state before it. It is
//     released when the upgrade is cancelled, succeeds or another version is asked for.
//
// The hold ends with the operation; the schedule resumes and a request that waited runs. Pure.
func backupHold(bp *componentsv1alpha1.BackupPolicy, p plan) (*componentsv1alpha1.BackupHold, []string) {
	var hold *componentsv1alpha1.BackupHold
	switch u, r, m := p.upgrade.upgrade, p.restore.progress, p.major.progress; p.active {
	case opMajor:
		hold = &componentsv1alpha1.BackupHold{Reason: canopyv1alpha1.ReasonDatabaseUpgrading,
			Message: fmt.Sprintf("upgrading PostgreSQL from %s to %s", m.FromVersion, m.ToVersion)}
	case opRestore:
		hold = &componentsv1alpha1.BackupHold{Reason: canopyv1alpha1.ReasonRestoring, Message: fmt.Sprintf("restoring the backup %s in place", r.BackupName)}
	case opUpgrade:
		hold = &componentsv1alpha1.BackupHold{Reason: canopyv1alpha1.ReasonUpgrading,
			Message: fmt.Sprintf("upgrading the application from %s to %s", u.FromVersion, u.ToVersion)}
	}
	var protected []string
	protect := func(name string) {
		if name != "" && !slices.Contains(protected, name) {
			protected = append(protected, name)
		}
	}
	if m := p.major.progress; majorRunning(m) {
		protect(m.BackupName)
	}
	if r := p.restore.progress; restoreRunning(r) {
		protect(r.BackupName)
		if last := lastRequest(bp); last != nil && last.ID == restoreToken(r.ID) && last.Phase == componentsv1alpha1.PhaseSucceeded {
			protect(last.BackupName)
		}
	}
	if u := p.upgrade.upgrade; inFlight(u) || (u != nil && u.Phase == canopyv1alpha1.UpgradeFailed) {
		protect(u.BackupName)
	}
	return hold, protected
}
