package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// restoreDecision is what the in-place restore orchestration decides for one reconcile.
type restoreDecision struct {
	// progress becomes status.restore.
	progress *canopyv1alpha1.RestoreProgress
	// stopFrontend scales the web tier to zero.
	stopFrontend bool
	// backupRequest, when set, is the safety backup's token for the BackupPolicy.
	backupRequest string
	// dbRequest, when set, is the Database's restore request.
	dbRequest *componentsv1alpha1.RestoreRequest
}

func restoreRunning(p *canopyv1alpha1.RestoreProgress) bool {
	return p != nil && p.Step != canopyv1alpha1.StepSucceeded && p.Step != canopyv1alpha1.StepFailed
}

// decideRestore is the in-place restore state machine: stop the web tier, take a safety backup
// (when backups are configured), have the Database restore the backup, start the web tier again.
// Each request id runs once; a failure at any step ends the request (the web tier starts again on
// the data it had: the restore is one transaction). Pure.
func decideRestore(s *canopyv1alpha1.Stack, o observed) restoreDecision {
	req := s.Spec.RestoreRequest
	var p *canopyv1alpha1.RestoreProgress
	if s.Status.Restore != nil {
		p = s.Status.Restore.DeepCopy()
	}
	d := restoreDecision{progress: p}
	if o.db != nil {
		d.dbRequest = o.db.Spec.RestoreRequest.DeepCopy() // a finished request stays as it is
	}
	if req == nil || (p != nil && p.ID == req.ID && !restoreRunning(p)) {
		return d
	}
	if p == nil || p.ID != req.ID {
		p = &canopyv1alpha1.RestoreProgress{ID: req.ID, BackupName: req.BackupName, Step: canopyv1alpha1.StepStoppingFrontend}
		d.progress = p
	}
	token := restoreToken(req.ID)
	switch p.Step {
	case canopyv1alpha1.StepStoppingFrontend:
		d.stopFrontend = true
		if frontendStopped(o.fe) {
			p.Step = canopyv1alpha1.StepRestoring
			if s.Spec.Backup != nil {
				p.Step = canopyv1alpha1.StepSafetyBackup
			}
		}
	}
	if p.Step == canopyv1alpha1.StepSafetyBackup {
		d.stopFrontend, d.backupRequest = true, token
		if r := lastRequest(o.bp); r != nil && r.ID == token {
			switch r.Phase {
			case componentsv1alpha1.PhaseSucceeded:
				p.Step = canopyv1alpha1.StepRestoring
			case componentsv1alpha1.PhaseFailed:
				p.Step, p.Message = canopyv1alpha1.StepFailed, "the safety backup failed, nothing was restored: "+r.Message
			}
		}
	}
	if p.Step == canopyv1alpha1.StepRestoring {
		d.stopFrontend = true
		if s.Spec.Backup != nil {
			d.backupRequest = token
		}
		d.dbRequest = &componentsv1alpha1.RestoreRequest{ID: req.ID, Source: componentsv1alpha1.BackupSource{
			BackupName: req.BackupName, Destination: restoreDestinationOf(s, req.Destination)}}
		if o.db != nil && o.db.Status.Restore != nil && o.db.Status.Restore.ID == req.ID {
			switch o.db.Status.Restore.Phase {
			case componentsv1alpha1.PhaseSucceeded:
				p.Step = canopyv1alpha1.StepStartingFrontend
			case componentsv1alpha1.PhaseFailed:
				p.Step, p.Message = canopyv1alpha1.StepFailed,
					fmt.Sprintf("restoring %s failed; the data is as it was: %s", req.BackupName, o.db.Status.Restore.Message)
			}
		}
	}
	if p.Step == canopyv1alpha1.StepStartingFrontend {
		if frontendServes(o.fe, s.Status.Version) && !o.fe.Spec.Stopped {
			p.Step, p.Message = canopyv1alpha1.StepSucceeded, ""
		}
	}
	// Decided from the step reached in this reconcile: a transition acts at once, since no watch
	// would bring the Stack back for its own status change.
	d.stopFrontend = p.Step == canopyv1alpha1.StepStoppingFrontend || p.Step == canopyv1alpha1.StepSafetyBackup || p.Step == canopyv1alpha1.StepRestoring
	return d
}

// frontendStopped reports whether the web tier runs no pod, as observed for its current spec.
func frontendStopped(fe *componentsv1alpha1.Frontend) bool {
	return fe != nil && fe.Spec.Stopped && fe.Status.ObservedGeneration == fe.Generation && fe.Status.Replicas == 0 && fe.Status.ReadyReplicas == 0
}

func restoreDestinationOf(s *canopyv1alpha1.Stack, explicit *componentsv1alpha1.BackupDestination) componentsv1alpha1.BackupDestination {
	if explicit != nil {
		return *explicit
	}
	if s.Spec.Backup != nil {
		return s.Spec.Backup.Destination
	}
	return componentsv1alpha1.BackupDestination{}
}

// restoreToken is the safety backup's request token: unique per request id and always valid (an id
// may be up to 63 characters, too long to prefix).
func restoreToken(id string) string { return requestToken("pre-restore-", id) }

// requestToken is a BackupPolicy request token: prefix and a short hash of key, unique per key and
// always a valid token whatever key's length.
func requestToken(prefix, key string) string {
	sum := sha256.Sum256([]byte(key))
	return prefix + hex.EncodeToString(sum[:6])
}
