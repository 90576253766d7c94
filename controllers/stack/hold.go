package stack

import (
	"fmt"
	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	"slices"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// backupHold is what the BackupPolicy is told about the data operations in flight (DESIGN §4, one
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
func backupHold(bp *componentsv1alpha1.BackupPolicy, d upgradeDecision, md majorDecision, rd restoreDecision) (*componentsv1alpha1.BackupHold, []string) {
	var hold *componentsv1alpha1.BackupHold
	var protected []string
	protect := func(name string) {
		if name != "" && !slices.Contains(protected, name) {
			protected = append(protected, name)
		}
	}
	holdFor := func(reason, message string) {
		if hold == nil {
			hold = &componentsv1alpha1.BackupHold{Reason: reason, Message: message}
		}
	}
	if p := md.progress; majorRunning(p) {
		holdFor(canopyv1alpha1.ReasonDatabaseUpgrading, fmt.Sprintf("upgrading PostgreSQL from %s to %s", p.FromVersion, p.ToVersion))
		protect(p.BackupName)
	}
	if p := rd.progress; restoreRunning(p) {
		holdFor(canopyv1alpha1.ReasonRestoring, fmt.Sprintf("restoring the backup %s in place", p.BackupName))
		protect(p.BackupName)
		if r := lastRequest(bp); r != nil && r.ID == restoreToken(p.ID) && r.Phase == componentsv1alpha1.PhaseSucceeded {
			protect(r.BackupName)
		}
	}
	if u := d.upgrade; inFlight(u) || (u != nil && u.Phase == canopyv1alpha1.UpgradeFailed) {
		if inFlight(u) {
			holdFor(canopyv1alpha1.ReasonUpgrading, fmt.Sprintf("upgrading the application from %s to %s", u.FromVersion, u.ToVersion))
		}
		protect(u.BackupName)
	}
	return hold, protected
}
