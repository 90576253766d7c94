package stack

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// Rollout steps, in order, as reported in status.rollout.step and in condition messages.
const (
	StepDatabase = "Database"
	StepBackup   = "Backup"
	StepFrontend = "Frontend"
	StepUpgrade  = "Upgrade"
)

// Reasons of the Stack's own conditions.
const (
	ReasonProgressing       = "Progressing"
	ReasonUpgrading         = "Upgrading"
	ReasonStepTimeout       = "StepTimeout"
	ReasonPaused            = "Paused"
	ReasonNotCreated        = "NotCreated"
	ReasonWaitingForDB      = "WaitingForDatabase"
	ReasonChildReconciling  = "ChildReconciling"
	ReasonNoStatus          = "NoStatus"
	ReasonUpgradeInProgress = "UpgradeInProgress"
	ReasonNoUpgrade         = "NoUpgradeInProgress"
	ReasonDeleting          = "Deleting"
	ReasonNameConflict      = componentsv1alpha1.ReasonNameConflict
	ReasonChildRejected     = "ChildRejected"
	ReasonRestoring         = "Restoring"
	// ReasonDatabaseUpgrading: a PostgreSQL major-version upgrade is in progress.
	ReasonDatabaseUpgrading = "DatabaseUpgrading"
	// ReasonDatabaseUpgradeFailed: a PostgreSQL major-version upgrade failed; the old major runs.
	ReasonDatabaseUpgradeFailed = "DatabaseUpgradeFailed"
)

// observed holds the children as read from the cache; nil when absent. missingCRD names the kinds
// whose CRD is not installed.
type observed struct {
	db         *componentsv1alpha1.Database
	fe         *componentsv1alpha1.Frontend
	bp         *componentsv1alpha1.BackupPolicy
	missingCRD map[string]bool
	// pending names the children whose spec this reconcile changed (or, while paused, would change):
	// their statuses describe an older spec.
	pending map[string]bool
}

// childState is a child's readiness as the Stack reports it.
type childState struct {
	ready           bool
	stalled         bool
	reason, message string
}

// childReadiness reads a child's Ready condition, refusing to trust a status written for an older
// spec. waiting explains an absent child.
func childReadiness(obj conditions.Object, observedGeneration int64, kind, waitingReason, waiting string, missingCRD bool) childState {
	switch {
	case missingCRD:
		return childState{reason: componentsv1alpha1.ReasonCRDNotInstalled, message: "the " + kind + " CRD is not installed"}
	case obj == nil:
		return childState{reason: waitingReason, message: waiting}
	}
	ready := conditions.Get(obj, componentsv1alpha1.ConditionReady)
	if ready == nil {
		return childState{reason: ReasonNoStatus, message: "the " + strings.ToLower(kind) + " controller has not reported yet"}
	}
	stalled := conditions.IsTrue(obj, componentsv1alpha1.ConditionStalled)
	if observedGeneration != obj.GetGeneration() && !stalled {
		return childState{reason: ReasonChildReconciling, message: "the " + strings.ToLower(kind) + " controller has not observed the latest spec yet"}
	}
	return childState{ready: ready.Status == metav1.ConditionTrue, stalled: stalled, reason: ready.Reason, message: ready.Message}
}

func conditionStatus(b bool) metav1.ConditionStatus {
	if b {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}

// computeStatus writes the Stack's status from what was observed and decided. It returns how long
// until the current rollout step times out (zero when nothing waits on time). Pure.
func computeStatus(s *canopyv1alpha1.Stack, o observed, d upgradeDecision, now metav1.Time) time.Duration {
	st := &s.Status
	st.Version = d.serving
	st.Upgrade = d.upgrade

	var db, fe, bp childState
	var dbGen, feGen, bpGen int64
	if o.db != nil {
		dbGen = o.db.Status.ObservedGeneration
	}
	if o.fe != nil {
		feGen = o.fe.Status.ObservedGeneration
	}
	if o.bp != nil {
		bpGen = o.bp.Status.ObservedGeneration
	}
	db = childReadiness(nilIfAbsent(o.db), dbGen, "Database", ReasonNotCreated, "the Database is being created", o.missingCRD["Database"])
	fe = childReadiness(nilIfAbsent(o.fe), feGen, "Frontend", ReasonWaitingForDB, "the Frontend is created once the Database is Ready",
		o.missingCRD["Frontend"])
	backupWanted := s.Spec.Backup != nil
	if backupWanted {
		bp = childReadiness(nilIfAbsent(o.bp), bpGen, "BackupPolicy", ReasonWaitingForDB, "the BackupPolicy is created once the Database is Ready",
			o.missingCRD["BackupPolicy"])
	}
	for kind, st := range map[string]*childState{"Database": &db, "Frontend": &fe, "BackupPolicy": &bp} {
		if !o.pending[kind] {
			continue
		}
		st.ready, st.stalled = false, false
		if s.Spec.Paused {
			st.reason, st.message = ReasonPaused, "spec changes for the "+kind+" wait until the Stack is unpaused"
		} else {
			st.reason, st.message = ReasonChildReconciling, "the "+strings.ToLower(kind)+" controller has not observed the latest spec yet"
		}
	}
	// The web tier is ready for the Stack only when it serves the version the Stack asks for.
	if fe.ready && d.serving != s.Spec.Version {
		fe.ready = false
		fe.reason, fe.message = ReasonUpgrading, fmt.Sprintf("serving %s, upgrading to %s", d.serving, s.Spec.Version)
	}

	// Summaries.
	st.Components = canopyv1alpha1.ComponentsStatus{
		Database: component(o.db != nil, s.Name, s.Spec.Database.Version, observedDBVersion(o.db), db),
		Frontend: component(o.fe != nil, s.Name, s.Spec.Version, observedFEVersion(o.fe), fe),
	}
	if backupWanted {
		st.Components.Backup = component(o.bp != nil, s.Name, "", "", bp)
	}
	st.URL, st.DatabaseEndpoint, st.CredentialsSecretName, st.KeptVolumes = "", "", "", nil
	if o.fe != nil {
		st.URL = o.fe.Status.URL
	}
	if o.db != nil {
		st.DatabaseEndpoint, st.CredentialsSecretName = o.db.Status.Endpoint, o.db.Status.CredentialsSecretName
		st.KeptVolumes = o.db.Status.KeptVolumes
	}
	st.LastBackup, st.LastBackupFailure = nil, nil
	if o.bp != nil {
		if b := o.bp.Status.LastSuccessfulBackup; b != nil {
			st.LastBackup = &canopyv1alpha1.LastBackup{Name: b.Name, Time: b.CompletionTime, Location: b.Location}
		}
		st.LastBackupFailure = o.bp.Status.LastFailedBackup.DeepCopy()
	}

	// Mirrored conditions.
	conditions.Set(s, canopyv1alpha1.ConditionDatabaseReady, conditionStatus(db.ready), db.reason, db.message)
	conditions.Set(s, canopyv1alpha1.ConditionFrontendReady, conditionStatus(fe.ready), fe.reason, fe.message)
	if backupWanted {
		conditions.Set(s, canopyv1alpha1.ConditionBackupReady, conditionStatus(bp.ready), bp.reason, bp.message)
	} else {
		conditions.Remove(s, canopyv1alpha1.ConditionBackupReady)
	}
	// A failed backup that the schedule retries shows here, not in Ready: the application serves.
	if h := backupHealth(o.bp); backupWanted && h != nil {
		conditions.Set(s, canopyv1alpha1.ConditionBackupHealthy, h.Status, h.Reason, h.Message)
	} else {
		conditions.Remove(s, canopyv1alpha1.ConditionBackupHealthy)
	}
	upgradeFailed := d.upgrade != nil && d.upgrade.Phase == PhaseFailed && s.Spec.Version != d.serving
	if upgradeFailed {
		conditions.Set(s, componentsv1alpha1.ConditionDegraded, metav1.ConditionTrue, componentsv1alpha1.ReasonUpgradeFailed,
			fmt.Sprintf("still serving %s: %s", d.serving, d.upgrade.Message))
	} else {
		conditions.Remove(s, componentsv1alpha1.ConditionDegraded)
	}

	// The rollout step in progress and its deadline.
	step, stepState := currentStep(db, bp, fe, backupWanted, inFlight(d.upgrade))
	var requeue time.Duration
	timedOut := false
	limit := stepTimeout(s, step, d.upgrade)
	switch {
	case step == "" || s.Spec.Paused:
		// Nothing runs while paused: the clock of a step starts again when the Stack resumes.
		st.Rollout = nil
	default:
		if st.Rollout == nil || st.Rollout.Step != step || st.Rollout.StartTime == nil {
			st.Rollout = &canopyv1alpha1.RolloutProgress{Step: step, StartTime: &now}
		}
		elapsed := now.Sub(st.Rollout.StartTime.Time)
		if elapsed >= limit {
			timedOut = true
		} else {
			requeue = limit - elapsed
		}
	}
	s.Status.Restore = decideRestore(s, o).progress
	s.Status.DatabaseUpgrade = decideMajor(s, o).progress
	// Upgradeable says what OLM's gate says for this Stack: false during any operation on data or
	// versions (application upgrade, in-place restore, PostgreSQL major upgrade).
	switch op := dataOperation(s); {
	case op == "":
		conditions.Set(s, canopyv1alpha1.ConditionUpgradeable, metav1.ConditionTrue, ReasonNoUpgrade, "no upgrade or restore in progress")
	case inFlight(d.upgrade):
		conditions.Set(s, canopyv1alpha1.ConditionUpgradeable, metav1.ConditionFalse, ReasonUpgradeInProgress, op)
	default:
		conditions.Set(s, canopyv1alpha1.ConditionUpgradeable, metav1.ConditionFalse, ReasonDataOperationInProgress, op)
	}
	major := st.DatabaseUpgrade
	majorFailed := major != nil && major.Step == RestoreFailed && major.ToVersion == s.Spec.Database.Version

	// Summary conditions (kstatus).
	failing := failingSummary(map[string]childState{"database": db, "frontend": fe, "backup": bp}, backupWanted)
	switch {
	case upgradeFailed:
		conditions.MarkStalled(s, componentsv1alpha1.ReasonUpgradeFailed, fmt.Sprintf("upgrade to %s failed and was rolled back; still serving %s: %s",
			s.Spec.Version, d.serving, d.upgrade.Message))
	case timedOut:
		conditions.MarkStalled(s, ReasonStepTimeout, fmt.Sprintf("step %s not finished after %s: %s", step, limit, stepState.message))
	case majorFailed:
		conditions.MarkStalled(s, ReasonDatabaseUpgradeFailed, fmt.Sprintf("the upgrade of PostgreSQL from %s to %s failed: %s "+
			"(to try again with a new backup, give the annotation %s a new value)", major.FromVersion, major.ToVersion, major.Message,
			canopyv1alpha1.AnnotationRetryDatabaseUpgrade))
	case db.stalled || fe.stalled || (backupWanted && bp.stalled):
		reason := firstStalledReason(db, fe, bp)
		conditions.MarkStalled(s, reason, failing)
	case db.ready && fe.ready && (!backupWanted || bp.ready) && !inFlight(d.upgrade) && !restoreRunning(st.Restore) && !majorRunning(major):
		msg := "version " + d.serving + " is serving"
		if st.URL != "" {
			msg += " at " + st.URL
		}
		conditions.MarkReady(s, componentsv1alpha1.ReasonReady, msg)
	case majorRunning(major):
		conditions.MarkReconciling(s, ReasonDatabaseUpgrading, fmt.Sprintf("upgrading PostgreSQL from %s to %s: step %s", major.FromVersion,
			major.ToVersion, major.Step))
	case restoreRunning(st.Restore):
		conditions.MarkReconciling(s, ReasonRestoring, fmt.Sprintf("restoring %s in place: step %s", st.Restore.BackupName, st.Restore.Step))
	case inFlight(d.upgrade):
		conditions.MarkReconciling(s, ReasonUpgrading, fmt.Sprintf("upgrading from %s to %s: %s", d.upgrade.FromVersion, d.upgrade.ToVersion,
			upgradeStepMessage(d.upgrade)))
	default:
		conditions.MarkReconciling(s, ReasonProgressing, fmt.Sprintf("step %s: %s", step, failing))
	}
	if s.Spec.Paused {
		conditions.Set(s, canopyv1alpha1.ConditionPaused, metav1.ConditionTrue, ReasonPaused,
			"spec.paused is true: Canopy makes no changes to this Stack's objects")
		conditions.Remove(s, componentsv1alpha1.ConditionReconciling)
		requeue = 0
	} else {
		conditions.Remove(s, canopyv1alpha1.ConditionPaused)
	}
	return requeue
}

func upgradeStepMessage(u *canopyv1alpha1.UpgradeStatus) string {
	if u.Phase == PhaseBackingUp {
		return "waiting for the pre-upgrade backup (request " + u.BackupRequest + ")"
	}
	return "rolling out the web tier"
}

// currentStep names the first step that is not done, with its state.
func currentStep(db, bp, fe childState, backupWanted, upgrading bool) (string, childState) {
	switch {
	case !db.ready:
		return StepDatabase, db
	case backupWanted && !bp.ready:
		return StepBackup, bp
	case upgrading:
		return StepUpgrade, fe
	case !fe.ready:
		return StepFrontend, fe
	}
	return "", childState{}
}

// failingSummary lists every component that is not ready, so that all failures show at once.
func failingSummary(states map[string]childState, backupWanted bool) string {
	var parts []string
	for _, name := range []string{"database", "backup", "frontend"} {
		if name == "backup" && !backupWanted {
			continue
		}
		if st := states[name]; !st.ready {
			parts = append(parts, name+": "+st.message)
		}
	}
	return strings.Join(parts, "; ")
}

func firstStalledReason(states ...childState) string {
	for _, st := range states {
		if st.stalled {
			return st.reason
		}
	}
	return ReasonProgressing
}

func component(exists bool, name, desired, observedVersion string, st childState) *canopyv1alpha1.ComponentStatus {
	c := &canopyv1alpha1.ComponentStatus{DesiredVersion: desired, ObservedVersion: observedVersion, Ready: st.ready, Reason: st.reason, Message: st.message}
	if exists {
		c.Name = name
	}
	return c
}

func observedDBVersion(db *componentsv1alpha1.Database) string {
	if db == nil {
		return ""
	}
	return db.Status.Version
}

func observedFEVersion(fe *componentsv1alpha1.Frontend) string {
	if fe == nil {
		return ""
	}
	return fe.Status.Version
}

// nilIfAbsent turns a typed nil pointer into an untyped nil interface.
func nilIfAbsent[T conditions.Object](obj T) conditions.Object {
	var zero T
	if any(obj) == any(zero) {
		return nil
	}
	return obj
}

// stepTimeout is how long a step may take: spec.rollout.stepTimeout, plus, for an upgrade, the time
// its own work is allowed (the pre-upgrade backup's timeout, or the migration's timeout and the
// rollout's progress deadline), so that a slow but healthy backup is not called stuck.
func stepTimeout(s *canopyv1alpha1.Stack, step string, up *canopyv1alpha1.UpgradeStatus) time.Duration {
	limit := s.StepTimeout()
	if step != StepUpgrade || up == nil {
		return limit
	}
	switch up.Phase {
	case PhaseBackingUp:
		if b := s.Spec.Backup; b != nil {
			limit += time.Duration(b.TimeoutSeconds) * time.Second
		}
	case PhaseRollingOut:
		if m := s.Spec.Frontend.Migration; m != nil {
			limit += time.Duration(m.TimeoutSeconds) * time.Second
		}
		limit += time.Duration(s.Spec.Frontend.ProgressDeadlineSeconds) * time.Second
	}
	return limit
}

// backupHealth is the BackupPolicy's BackupHealthy condition once it reports on its spec, else nil.
func backupHealth(bp *componentsv1alpha1.BackupPolicy) *metav1.Condition {
	if bp == nil || bp.Status.ObservedGeneration != bp.Generation {
		return nil
	}
	return conditions.Get(bp, componentsv1alpha1.ConditionBackupHealthy)
}
