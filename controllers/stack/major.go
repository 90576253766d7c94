package stack

import (
	"fmt"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// majorDecision is what the major-upgrade orchestration decides for one reconcile.
type majorDecision struct {
	// progress becomes status.databaseUpgrade.
	progress *canopyv1alpha1.DatabaseUpgradeProgress
	// stopFrontend scales the web tier to zero: nothing may write after the backup.
	stopFrontend bool
	// backupRequest, when set, is the backup's token for the BackupPolicy.
	backupRequest string
	// dbVersion, when set, is the version the Database keeps until it is told to upgrade.
	dbVersion string
	// dbRequest is the Database's spec.majorUpgrade.
	dbRequest *componentsv1alpha1.MajorUpgradeRequest
}

func majorRunning(p *canopyv1alpha1.DatabaseUpgradeProgress) bool {
	return p != nil && p.Step != canopyv1alpha1.StepSucceeded && p.Step != canopyv1alpha1.StepFailed
}

// runningDatabaseVersion is the version the Database runs (its spec's before it reports one).
func runningDatabaseVersion(db *componentsv1alpha1.Database) string {
	if db.Status.Version != "" {
		return db.Status.Version
	}
	return db.Spec.Version
}

// decideMajor is the major-upgrade state machine: stop the web tier, take a backup with nothing
// writing, tell the Database to move to the new major with that backup, start the web tier
// again. The Database learns the new version only once the backup exists, and keeps it after
// (a major version never goes down). An attempt that failed stays failed until a new value of the
// canopy.dev/retry-database-upgrade annotation (or another version string) starts a new attempt,
// with a new backup. Pure.
func decideMajor(s *canopyv1alpha1.Stack, o observed) majorDecision {
	var p *canopyv1alpha1.DatabaseUpgradeProgress
	if s.Status.DatabaseUpgrade != nil {
		p = s.Status.DatabaseUpgrade.DeepCopy()
	}
	d := majorDecision{progress: p}
	if o.db == nil {
		return d
	}
	d.dbRequest = o.db.Spec.MajorUpgrade.DeepCopy() // a finished request stays as it is
	want := s.Spec.Database.Version
	running := runningDatabaseVersion(o.db)
	// The API server defaults the version; an empty one (unit tests) asks for nothing. Without
	// allowMajorVersionUpgrade, the Database's admission refuses the change, and says why.
	needed := want != "" && s.Spec.Database.AllowMajorVersionUpgrade &&
		componentsv1alpha1.MajorVersion(running) != componentsv1alpha1.MajorVersion(want)
	retry := s.Annotations[canopyv1alpha1.AnnotationRetryDatabaseUpgrade]
	again := p != nil && p.Step == canopyv1alpha1.StepFailed && retry != "" && retry != p.RetryRequest
	// A Database told its new version is moving to it: that attempt ends first, whatever the spec
	// asks meanwhile (a backup taken now would read a database being loaded).
	committed := p != nil && p.ToVersion != want && (p.Step == canopyv1alpha1.StepUpgrading || p.Step == canopyv1alpha1.StepStartingFrontend)
	if needed && !committed && (p == nil || p.ToVersion != want || again) {
		next := &canopyv1alpha1.DatabaseUpgradeProgress{FromVersion: running, ToVersion: want, Step: canopyv1alpha1.StepStoppingFrontend,
			Attempt: 1, RetryRequest: retry}
		if p != nil {
			next.Attempt = p.Attempt + 1
		}
		p = next
		d.progress = p
	}
	target := want
	if committed {
		target = p.ToVersion
	}
	if p == nil || p.ToVersion != target {
		return d
	}
	switch {
	case committed:
		d.dbVersion = target // kept while the spec asks for another version
	case componentsv1alpha1.MajorVersion(o.db.Spec.Version) != componentsv1alpha1.MajorVersion(target) && p.Step != canopyv1alpha1.StepUpgrading:
		d.dbVersion = o.db.Spec.Version // not told yet
	}
	if !majorRunning(p) {
		return d
	}
	token := majorToken(target, p.Attempt)
	if p.Step == canopyv1alpha1.StepStoppingFrontend && frontendStopped(o.fe) {
		p.Step = canopyv1alpha1.StepBackup
	}
	if p.Step == canopyv1alpha1.StepBackup {
		d.backupRequest = token
		if s.Spec.Backup == nil {
			p.Step, p.Message = canopyv1alpha1.StepFailed, "a major upgrade needs spec.backup: the data moves through a backup"
		} else if r := lastRequest(o.bp); r != nil && r.ID == token {
			switch r.Phase {
			case componentsv1alpha1.PhaseSucceeded:
				p.Step, p.BackupName = canopyv1alpha1.StepUpgrading, r.BackupName
			case componentsv1alpha1.PhaseFailed:
				p.Step, p.Message = canopyv1alpha1.StepFailed, "the backup before the upgrade failed; PostgreSQL "+p.FromVersion+" keeps running: "+r.Message
			}
		}
	}
	if p.Step == canopyv1alpha1.StepUpgrading {
		d.backupRequest = token
		if !committed {
			d.dbVersion = "" // told now
		}
		d.dbRequest = &componentsv1alpha1.MajorUpgradeRequest{FromBackup: componentsv1alpha1.BackupSource{
			BackupName: p.BackupName, Destination: restoreDestinationOf(s, nil)}}
		if m := o.db.Status.MajorUpgrade; m != nil && m.BackupName == p.BackupName && o.db.Status.ObservedGeneration == o.db.Generation {
			switch m.Phase {
			case componentsv1alpha1.PhaseSucceeded:
				p.Step = canopyv1alpha1.StepStartingFrontend
			case componentsv1alpha1.PhaseFailed:
				p.Step, p.Message = canopyv1alpha1.StepFailed,
					"loading the backup into PostgreSQL "+target+" failed; "+p.FromVersion+" runs again on its volume: "+m.Message
			}
		}
	}
	if p.Step == canopyv1alpha1.StepStartingFrontend && frontendServes(o.fe, s.Status.Version) && !o.fe.Spec.Stopped {
		p.Step, p.Message = canopyv1alpha1.StepSucceeded, ""
	}
	// Decided from the step reached in this reconcile: a transition acts at once.
	d.stopFrontend = p.Step == canopyv1alpha1.StepStoppingFrontend || p.Step == canopyv1alpha1.StepBackup || p.Step == canopyv1alpha1.StepUpgrading
	return d
}

// majorToken is the backup request token of an attempt to upgrade to version (attempt 0: a status
// written before attempts were counted).
func majorToken(version string, attempt int32) string {
	if attempt == 0 {
		return requestToken("pre-major-", version)
	}
	return requestToken("pre-major-", fmt.Sprintf("%s#%d", version, attempt))
}
