package backuppolicy

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/backup"
)

// Reasons of a BackupPolicy's conditions besides the shared ones.
const (
	ReasonWaitingForDatabase = "WaitingForDatabase"
	ReasonBackupRunning      = "BackupRunning"
	ReasonAvailable          = "Available"
)

// computeStatus writes the catalogue, the request outcomes, the schedule and the conditions. Pure.
func computeStatus(bp *componentsv1alpha1.BackupPolicy, st status, schedule cron.Schedule, now time.Time) {
	s := &bp.Status
	var added []componentsv1alpha1.BackupRecord
	var deleted []string
	for _, f := range st.newlyDone {
		if stored(f) {
			rec := backupRecord(f)
			added = append(added, rec)
			deleted = append(deleted, f.result.Deleted...)
			if s.LastSuccessfulBackup == nil || !completion(rec).Time.Before(completion(*s.LastSuccessfulBackup).Time) {
				s.LastSuccessfulBackup = rec.DeepCopy()
			}
		}
		if !f.succeeded {
			fail := failure(f)
			s.LastFailedBackup = &fail
		}
	}
	s.Backups = mergeCatalogue(s.Backups, added, deleted, bp.Spec.ProtectedBackups)

	// Request outcomes, from the Jobs that serve them.
	s.LastRequest = requestStatus(bp.Spec.BackupRequest, desired.TriggerRequest, bp, st, s.LastRequest)
	s.LastAnnotationRequest = requestStatus(bp.Annotations[canopyv1alpha1.AnnotationBackupNow], desired.TriggerAnnotation, bp, st, s.LastAnnotationRequest)

	s.NextScheduledTime = nil
	if schedule != nil && !desired.Suspended(bp) {
		loc := time.Local
		if tz := bp.Spec.TimeZone; tz != nil && *tz != "" {
			if l, err := time.LoadLocation(*tz); err == nil {
				loc = l
			}
		}
		// Whole minutes: the status must not change on every reconcile.
		next := schedule.Next(now.In(loc)).Truncate(time.Minute)
		s.NextScheduledTime = &metav1.Time{Time: next}
	}

	failedLast := s.LastFailedBackup != nil && s.LastFailedBackup.Time != nil &&
		(s.LastSuccessfulBackup == nil || s.LastSuccessfulBackup.CompletionTime == nil || s.LastSuccessfulBackup.CompletionTime.Before(s.LastFailedBackup.Time))
	if h := bp.Spec.Hold; h != nil {
		conditions.Set(bp, componentsv1alpha1.ConditionHeld, metav1.ConditionTrue, h.Reason,
			"scheduled and annotation-requested backups wait until the data operation ends: "+h.Message)
	} else {
		conditions.Remove(bp, componentsv1alpha1.ConditionHeld)
	}

	if failedLast {
		conditions.Set(bp, componentsv1alpha1.ConditionBackupHealthy, metav1.ConditionFalse, s.LastFailedBackup.Reason,
			"the latest backup failed: "+s.LastFailedBackup.Message)
	} else {
		conditions.Set(bp, componentsv1alpha1.ConditionBackupHealthy, metav1.ConditionTrue, ReasonAvailable, "no backup has failed since the last success")
	}

	switch {
	case st.scheduleErr != nil:
		conditions.MarkStalled(bp, componentsv1alpha1.ReasonInvalidSpec, st.scheduleErr.Error())
	case st.secrets != nil:
		conditions.MarkStalled(bp, st.secrets.Reason, st.secrets.Message)
	case !st.dbKnown:
		conditions.MarkReconciling(bp, ReasonWaitingForDatabase, fmt.Sprintf("waiting for the Database %s to report its endpoint and image",
			bp.Spec.DatabaseName))
	case failedLast && needsPerson(s.LastFailedBackup.Reason):
		// Retrying cannot help: the policy is not Ready until someone fixes the cause.
		conditions.MarkStalled(bp, s.LastFailedBackup.Reason, fmt.Sprintf("the latest backup failed: %s", s.LastFailedBackup.Message))
	case failedLast:
		// The schedule retries: the policy still does what its spec asks, and BackupHealthy (with
		// the alert on the last success) carries the failure.
		conditions.MarkReady(bp, ReasonAvailable, fmt.Sprintf("the latest backup failed (%s) and the next one retries", s.LastFailedBackup.Reason))
	default:
		msg := "ready to take backups"
		if l := s.LastSuccessfulBackup; l != nil {
			msg = "latest backup " + l.Name
		}
		conditions.MarkReady(bp, ReasonAvailable, msg)
	}
}

// requestStatus reports the request with this token: Pending until its Job exists, then Running,
// Succeeded or Failed. It keeps the previous outcome when no request is pending.
func requestStatus(token, trigger string, bp *componentsv1alpha1.BackupPolicy, st status,
	prev *componentsv1alpha1.BackupRequestStatus) *componentsv1alpha1.BackupRequestStatus {
	if token == "" {
		return prev
	}
	name := desired.JobName(bp, trigger, token)
	out := &componentsv1alpha1.BackupRequestStatus{ID: token, JobName: name, Phase: componentsv1alpha1.PhasePending}
	if prev != nil && prev.ID == token && (prev.Phase == componentsv1alpha1.PhaseSucceeded || prev.Phase == componentsv1alpha1.PhaseFailed) {
		return prev // answered; the Job may have been pruned since
	}
	out.Message = st.waiting[trigger]
	for _, j := range st.running {
		if j.Name == name {
			out.Phase, out.Message = componentsv1alpha1.PhaseRunning, ""
		}
	}
	for _, f := range st.finished {
		if f.job.Name != name {
			continue
		}
		if f.succeeded && f.result != nil {
			out.Phase, out.BackupName = componentsv1alpha1.PhaseSucceeded, f.result.Name
		} else {
			fail := failure(f)
			out.Phase, out.Message = componentsv1alpha1.PhaseFailed, fail.Reason+": "+fail.Message
		}
	}
	return out
}

// needsPerson reports whether a backup failure is one that retrying cannot cure: the destination
// refused the credentials, does not exist, the agent's arguments are wrong, or the encryption
// key is missing from its Secret (or is not a key).
func needsPerson(reason string) bool {
	switch reason {
	case agent.ReasonUnauthorized, agent.ReasonNotFound, agent.ReasonInvalidArguments,
		agent.ReasonEncryptionKeyMissing, agent.ReasonWrongEncryptionKey:
		return true
	}
	return false
}
