package stack

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// Data operations: each changes what the data is or where it lives, so at most one runs at a time.
const (
	opRestore  = "restore"
	opMajor    = "major"
	opUpgrade  = "upgrade"
	opWaitNone = ""
)

// plan is every decision of one reconcile, made once by decide and then carried out: the children's
// specs, the state of each data operation, and which operation waits for which. The builders and
// status read it; none of them combines the three operations again.
type plan struct {
	upgrade upgradeDecision
	restore restoreDecision
	major   majorDecision
	// active is the data operation that runs ("" when none does).
	active string
	// waiting are the operations asked for that wait for the active one, each with why.
	waiting []waitingOperation
	// stopFrontend keeps the web tier at zero replicas: an operation stopped it.
	stopFrontend bool
	// backupRequest, hold and protected are what the BackupPolicy is told (backupToken, backupHold).
	backupRequest string
	hold          *componentsv1alpha1.BackupHold
	protected     []string
}

// waitingOperation is a data operation that was asked for and waits.
type waitingOperation struct {
	op, reason, message string
}

// operationOrder is the order in which operations asked for at the same time start: an in-place
// restore first (the user wants the data back before anything else changes), then a PostgreSQL major
// upgrade, then the application upgrade (its new version may need the new PostgreSQL).
var operationOrder = []string{opRestore, opMajor, opUpgrade}

// decide makes every decision of a reconcile from the Stack (spec and status as last written), the
// observed children and the time. Pure.
//
// One rule holds it together (DESIGN §4): at most one data operation — an application upgrade with
// its pre-upgrade backup, an in-place restore, a PostgreSQL major upgrade — runs at a time. One that
// is running goes on to its end; another one asked for meanwhile waits, untouched and reported, and
// starts once the running one ended. A paused Stack freezes all three, status included.
func decide(s *canopyv1alpha1.Stack, o observed, now metav1.Time) plan {
	var p plan
	if s.Spec.Paused {
		p = plan{upgrade: pausedDecision(s, o.fe), restore: frozenRestore(s, o), major: frozenMajor(s, o), active: runningOperation(s)}
	} else {
		p = decideOperations(s, o, now)
	}
	p.stopFrontend = p.restore.stopFrontend || p.major.stopFrontend
	p.backupRequest = backupToken(o.bp, p)
	p.hold, p.protected = backupHold(o.bp, p)
	return p
}

// decideOperations moves each data operation on, and lets only one run.
func decideOperations(s *canopyv1alpha1.Stack, o observed, now metav1.Time) plan {
	p := plan{upgrade: decideUpgrade(s, o.fe, o.bp, now), restore: decideRestore(s, o), major: decideMajor(s, o)}
	// The operation status shows running blocks the others while it goes on; one that ends in this
	// reconcile lets the next start now (no event would come back for the Stack's own status).
	if op := runningOperation(s); p.runs(op) {
		p.active = op
	}
	for _, op := range operationOrder {
		if !p.runs(op) || op == p.active {
			continue
		}
		if p.active == opWaitNone {
			p.active = op // the first operation asked for starts
			continue
		}
		p.waiting = append(p.waiting, p.wait(s, o, op))
	}
	return p
}

// runningOperation is the operation that status shows running (the first in operationOrder should a
// status written before this rule show several); "" when none runs.
func runningOperation(s *canopyv1alpha1.Stack) string {
	for _, op := range operationOrder {
		if running(s, op) {
			return op
		}
	}
	return opWaitNone
}

// running reports whether status shows op between its start and its end.
func running(s *canopyv1alpha1.Stack, op string) bool {
	switch op {
	case opRestore:
		return restoreRunning(s.Status.Restore)
	case opMajor:
		return majorRunning(s.Status.DatabaseUpgrade)
	case opUpgrade:
		return inFlight(s.Status.Upgrade)
	}
	return false
}

// runs reports whether this plan's decision for op has it running (started or going on).
func (p *plan) runs(op string) bool {
	switch op {
	case opRestore:
		return restoreRunning(p.restore.progress)
	case opMajor:
		return majorRunning(p.major.progress)
	case opUpgrade:
		return inFlight(p.upgrade.upgrade)
	}
	return false
}

// wait replaces the decision for op by one that leaves it as status has it, and says why.
func (p *plan) wait(s *canopyv1alpha1.Stack, o observed, op string) waitingOperation {
	because := describe(p, p.active)
	switch op {
	case opRestore:
		p.restore = frozenRestore(s, o)
		return waitingOperation{op: op, reason: canopyv1alpha1.ReasonRestoreWaiting,
			message: fmt.Sprintf("the in-place restore %s of %s waits: %s", s.Spec.RestoreRequest.ID, s.Spec.RestoreRequest.BackupName, because)}
	case opMajor:
		p.major = frozenMajor(s, o)
		return waitingOperation{op: op, reason: canopyv1alpha1.ReasonDatabaseUpgradeWaiting,
			message: fmt.Sprintf("the upgrade of PostgreSQL to %s waits: %s", s.Spec.Database.Version, because)}
	default:
		p.upgrade = pausedDecision(s, o.fe)
		return waitingOperation{op: op, reason: canopyv1alpha1.ReasonUpgradeWaiting,
			message: fmt.Sprintf("the upgrade of the application to %s waits: %s", s.Spec.Version, because)}
	}
}

// describe says what the running operation op does, from this plan's decision, with the upgrade's
// phase (the other two name their step).
func describe(p *plan, op string) string {
	msg := describeOperation(op, p.upgrade.upgrade, p.restore.progress, p.major.progress)
	if op == opUpgrade {
		msg += fmt.Sprintf(" (%s)", p.upgrade.upgrade.Phase)
	}
	return msg
}

// backupToken is the BackupPolicy's request token: the one a step of the running operation asks for
// (the in-place restore's safety backup, the backup a major upgrade loads, the pre-upgrade backup),
// and otherwise the one the policy holds. An operation that ended asks for nothing, even in the
// reconcile it fails in: the next one may start in that reconcile and ask for its own. A finished
// request's token stays: going back to an older one would read to the policy as a new request, and
// take a backup nobody asked for.
func backupToken(bp *componentsv1alpha1.BackupPolicy, p plan) string {
	switch {
	case p.active == opRestore && p.restore.backupRequest != "":
		return p.restore.backupRequest
	case p.active == opMajor && p.major.backupRequest != "":
		return p.major.backupRequest
	case p.active == opUpgrade && p.upgrade.upgrade.Phase == canopyv1alpha1.UpgradeBackingUp:
		return p.upgrade.backupRequest
	case bp != nil:
		return bp.Spec.BackupRequest
	}
	return ""
}

// frozenRestore leaves an in-place restore as status has it: no step is taken, the Database keeps
// the request it has.
func frozenRestore(s *canopyv1alpha1.Stack, o observed) restoreDecision {
	d := restoreDecision{progress: s.Status.Restore.DeepCopy()}
	if o.db != nil {
		d.dbRequest = o.db.Spec.RestoreRequest.DeepCopy()
	}
	if r := d.progress; restoreRunning(r) {
		// A restore that stopped the web tier keeps it stopped: its data is not known to be whole.
		d.stopFrontend = r.Step != canopyv1alpha1.StepStartingFrontend
		if (r.Step == canopyv1alpha1.StepSafetyBackup || r.Step == canopyv1alpha1.StepRestoring) && s.Spec.Backup != nil {
			d.backupRequest = restoreToken(r.ID)
		}
	}
	return d
}

// frozenMajor leaves a major upgrade as status has it: the Database keeps the version and request it
// has (a major version is not changed while the upgrade waits).
func frozenMajor(s *canopyv1alpha1.Stack, o observed) majorDecision {
	d := majorDecision{progress: s.Status.DatabaseUpgrade.DeepCopy()}
	if o.db == nil {
		return d
	}
	d.dbRequest = o.db.Spec.MajorUpgrade.DeepCopy()
	if componentsv1alpha1.MajorVersion(o.db.Spec.Version) != componentsv1alpha1.MajorVersion(s.Spec.Database.Version) {
		d.dbVersion = o.db.Spec.Version
	}
	if m := d.progress; majorRunning(m) {
		d.stopFrontend = m.Step != canopyv1alpha1.StepStartingFrontend
		if m.Step == canopyv1alpha1.StepBackup || m.Step == canopyv1alpha1.StepUpgrading {
			d.backupRequest = majorToken(m.ToVersion, m.Attempt)
		}
	}
	return d
}

// waits reports whether op was asked for and waits.
func (p *plan) waits(op string) bool {
	for _, w := range p.waiting {
		if w.op == op {
			return true
		}
	}
	return false
}
