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
		return childState{reason: canopyv1alpha1.ReasonNoStatus, message: noStatus(kind)}
	}
	stalled := conditions.IsTrue(obj, componentsv1alpha1.ConditionStalled)
	if observedGeneration != obj.GetGeneration() && !stalled {
		return childState{reason: canopyv1alpha1.ReasonChildReconciling,
			message: "the " + strings.ToLower(kind) + " controller has not observed the latest spec yet"}
	}
	return childState{ready: ready.Status == metav1.ConditionTrue, stalled: stalled, reason: ready.Reason, message: ready.Message}
}

// noStatus explains a child whose controller has written no status yet.
func noStatus(kind string) string {
	return "the " + strings.ToLower(kind) + " controller has not reported yet"
}

func conditionStatus(b bool) metav1.ConditionStatus {
	if b {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}

// computeStatus writes the Stack's status from what was observed and decided. It returns how long
// until the current rollout step times out (zero when nothing waits on time). Pure: each part is a
// setter of its own (stack_status_parts_test.go tests them one by one).
func computeStatus(s *canopyv1alpha1.Stack, o observed, p plan, now metav1.Time) time.Duration {
	d := p.upgrade
	s.Status.Version, s.Status.Upgrade = d.serving, d.upgrade
	s.Status.Restore, s.Status.DatabaseUpgrade = p.restore.progress, p.major.progress
	states, upgradeWaits := readiness(s, o, p)
	setSummaries(s, o, states)
	setMirrors(s, o, states)
	upgradeFailed := setDegraded(s, d, o.fe)
	r := setRollout(s, states, d, upgradeWaits, now)
	setWaiting(s, p)
	setUpgradeable(s, p)
	setSummary(s, states, p, upgradeFailed, r)
	return setPaused(s, r.requeue)
}

// readiness is each child's readiness as the Stack reports it; upgradeWaits is true when the web
// tier is behind the spec only because its upgrade waits for another operation.
func readiness(s *canopyv1alpha1.Stack, o observed, p plan) (map[string]*childState, bool) {
	d := p.upgrade
	states := map[string]*childState{}
	for _, c := range children {
		st := &childState{}
		states[c.kind] = st
		if !c.wanted(s) {
			continue
		}
		obj := c.of(&o)
		*st = childReadiness(obj, observedGeneration(obj), c.kind, c.absentReason, c.absent, o.missingCRD[c.kind])
		if !o.pending[c.kind] {
			continue
		}
		st.ready, st.stalled = false, false
		switch {
		case s.Spec.Paused:
			st.reason, st.message = canopyv1alpha1.ReasonPaused, "spec changes for the "+c.kind+" wait until the Stack is unpaused"
		case obj == nil || conditions.Get(obj, componentsv1alpha1.ConditionReady) == nil:
			// Created by this pass, or never reported: what the next pass reads from it, so that the
			// Stack's status is not written again only to trade one "not yet" for another.
			st.reason, st.message = canopyv1alpha1.ReasonNoStatus, noStatus(c.kind)
		default:
			st.reason, st.message = canopyv1alpha1.ReasonChildReconciling, "the "+strings.ToLower(c.kind)+" controller has not observed the latest spec yet"
		}
	}
	// The web tier is ready for the Stack only when it serves the version the Stack asks for.
	fe := states[frontendChild.kind]
	upgradeWaits := false
	if fe.ready && d.serving != s.Spec.Version {
		fe.ready = false
		fe.reason, fe.message = canopyv1alpha1.ReasonUpgrading, fmt.Sprintf("serving %s, upgrading to %s", d.serving, s.Spec.Version)
		if p.waits(opUpgrade) {
			// Not a rollout step that can be late: the upgrade has not started.
			upgradeWaits = true
			fe.reason, fe.message = canopyv1alpha1.ReasonUpgradeWaiting,
				fmt.Sprintf("serving %s; the upgrade to %s waits for %s", d.serving, s.Spec.Version, describe(&p, p.active))
		}
	}
	return states, upgradeWaits
}

// setSummaries copies what the children report for users: component summaries, URL, endpoint,
// credentials Secret, kept volumes, newest backup and failure.
func setSummaries(s *canopyv1alpha1.Stack, o observed, states map[string]*childState) {
	st := &s.Status
	st.Components = canopyv1alpha1.ComponentsStatus{}
	for _, c := range children {
		if c.wanted(s) {
			want, have := c.versions(s, o)
			// A child this pass wrote exists, even when the pass observed it absent (it created it).
			exists := c.of(&o) != nil || o.pending[c.kind]
			*c.component(&st.Components) = component(exists, s.Name, want, have, *states[c.kind])
		}
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
}

// setMirrors sets the conditions that mirror each child's readiness, and BackupHealthy: a failed
// backup that the schedule retries shows there, not in Ready, since the application serves.
func setMirrors(s *canopyv1alpha1.Stack, o observed, states map[string]*childState) {
	for _, c := range children {
		if st := states[c.kind]; c.wanted(s) {
			conditions.Set(s, c.condition, conditionStatus(st.ready), st.reason, st.message)
		} else {
			conditions.Remove(s, c.condition)
		}
	}
	if h := backupHealth(o.bp); s.Spec.Backup != nil && h != nil {
		conditions.Set(s, canopyv1alpha1.ConditionBackupHealthy, h.Status, h.Reason, h.Message)
	} else {
		conditions.Remove(s, canopyv1alpha1.ConditionBackupHealthy)
	}
}

// setDegraded reports a failed, rolled-back upgrade while the spec still asks for its version;
// else a web tier that serves without its ingress certificate, whose issuer does not exist (the
// Frontend's Degraded IssuerNotFound). It returns whether the upgrade failed.
func setDegraded(s *canopyv1alpha1.Stack, d upgradeDecision, fe *componentsv1alpha1.Frontend) bool {
	failed := d.upgrade != nil && d.upgrade.Phase == canopyv1alpha1.UpgradeFailed && s.Spec.Version != d.serving
	switch c := frontendDegraded(fe); {
	case failed:
		conditions.Set(s, componentsv1alpha1.ConditionDegraded, metav1.ConditionTrue, componentsv1alpha1.ReasonUpgradeFailed,
			fmt.Sprintf("still serving %s: %s%s", d.serving, d.upgrade.Message, restoreOffer(s, d.upgrade)))
	case c != nil && c.Reason == componentsv1alpha1.ReasonIssuerNotFound:
		conditions.Set(s, componentsv1alpha1.ConditionDegraded, metav1.ConditionTrue, c.Reason, "frontend: "+c.Message)
	default:
		conditions.Remove(s, componentsv1alpha1.ConditionDegraded)
	}
	return failed
}

// restoreOffer names the pre-upgrade backup of a failed upgrade and how to restore it: a rollback
// does not undo a migration the new version ran, and that backup holds the data from before it.
func restoreOffer(s *canopyv1alpha1.Stack, up *canopyv1alpha1.UpgradeStatus) string {
	if up == nil || up.BackupName == "" {
		return ""
	}
	return fmt.Sprintf("; if its migration changed the data, restore the pre-upgrade backup %s "+
		"(spec.restoreRequest, or kubectl canopy restore %s --backup %s)", up.BackupName, s.Name, up.BackupName)
}

func frontendDegraded(fe *componentsv1alpha1.Frontend) *metav1.Condition {
	if fe == nil || !conditions.IsTrue(fe, componentsv1alpha1.ConditionDegraded) {
		return nil
	}
	return conditions.Get(fe, componentsv1alpha1.ConditionDegraded)
}

// rolloutClock is the rollout step in progress and where its deadline stands.
type rolloutClock struct {
	step     canopyv1alpha1.RolloutStep
	state    childState
	limit    time.Duration
	timedOut bool
	requeue  time.Duration
}

// setRollout sets status.rollout to the first step not done, with its start, and says whether it
// is past its deadline or when it will be.
func setRollout(s *canopyv1alpha1.Stack, states map[string]*childState, d upgradeDecision, upgradeWaits bool, now metav1.Time) rolloutClock {
	st := &s.Status
	r := rolloutClock{}
	r.step, r.state = currentStep(*states[databaseChild.kind], *states[backupChild.kind], *states[frontendChild.kind], s.Spec.Backup != nil,
		inFlight(d.upgrade))
	r.limit = stepTimeout(s, r.step, d.upgrade)
	switch {
	case r.step == "" || s.Spec.Paused || (r.step == canopyv1alpha1.RolloutFrontend && upgradeWaits):
		// Nothing runs while paused, or while the upgrade waits for another operation: the clock of
		// a step starts again when it runs.
		st.Rollout = nil
	default:
		if st.Rollout == nil || st.Rollout.Step != r.step || st.Rollout.StartTime == nil {
			st.Rollout = &canopyv1alpha1.RolloutProgress{Step: r.step, StartTime: &now}
		}
		elapsed := now.Sub(st.Rollout.StartTime.Time)
		if elapsed >= r.limit {
			r.timedOut = true
		} else {
			r.requeue = r.limit - elapsed
		}
	}
	return r
}

// setUpgradeable says what OLM's gate says for this Stack: false while the plan runs an operation on
// data or versions (application upgrade, in-place restore, PostgreSQL major upgrade).
func setUpgradeable(s *canopyv1alpha1.Stack, p plan) {
	op := describeOperation(p.active, p.upgrade.upgrade, p.restore.progress, p.major.progress)
	switch p.active {
	case opWaitNone:
		conditions.Set(s, canopyv1alpha1.ConditionUpgradeable, metav1.ConditionTrue, canopyv1alpha1.ReasonNoUpgrade, "no upgrade or restore in progress")
	case opUpgrade:
		conditions.Set(s, canopyv1alpha1.ConditionUpgradeable, metav1.ConditionFalse, canopyv1alpha1.ReasonUpgradeInProgress, op)
	default:
		conditions.Set(s, canopyv1alpha1.ConditionUpgradeable, metav1.ConditionFalse, canopyv1alpha1.ReasonDataOperationInProgress, op)
	}
}

// setSummary sets the kstatus summary: Stalled for what needs a person, Ready when everything
// serves the spec, Reconciling otherwise, with the reason of what is in progress.
func setSummary(s *canopyv1alpha1.Stack, states map[string]*childState, p plan, upgradeFailed bool, r rolloutClock) {
	st := &s.Status
	d, major := p.upgrade, p.major.progress
	db, fe, bp := states[databaseChild.kind], states[frontendChild.kind], states[backupChild.kind]
	backupWanted := s.Spec.Backup != nil
	majorFailed := major != nil && major.Step == canopyv1alpha1.StepFailed && major.ToVersion == s.Spec.Database.Version
	failing := failingSummary(s, states)
	// A restore or major upgrade running after a failure is what a person asked for to mend it (the
	// pre-upgrade backup restored, say): progress, not Stalled, unless it is stuck itself.
	childStalled := db.stalled || fe.stalled || (backupWanted && bp.stalled)
	mending := (p.active == opRestore || p.active == opMajor) && !r.timedOut && !childStalled
	switch {
	case upgradeFailed && !mending:
		conditions.MarkStalled(s, componentsv1alpha1.ReasonUpgradeFailed,
			fmt.Sprintf("upgrade to %s failed and was rolled back; still serving %s: %s%s", s.Spec.Version, d.serving, d.upgrade.Message,
				restoreOffer(s, d.upgrade)))
	case r.timedOut:
		conditions.MarkStalled(s, canopyv1alpha1.ReasonStepTimeout, fmt.Sprintf("step %s not finished after %s: %s", r.step, r.limit, r.state.message))
	case majorFailed && !mending:
		conditions.MarkStalled(s, canopyv1alpha1.ReasonDatabaseUpgradeFailed, fmt.Sprintf("the upgrade of PostgreSQL from %s to %s failed: %s "+
			"(to try again with a new backup, give the annotation %s a new value)",
			major.FromVersion, major.ToVersion, major.Message, canopyv1alpha1.AnnotationRetryDatabaseUpgrade))
	case childStalled:
		conditions.MarkStalled(s, firstStalledReason(*db, *fe, *bp), failing)
	case db.ready && fe.ready && (!backupWanted || bp.ready) && p.active == opWaitNone:
		msg := "version " + d.serving + " is serving"
		if st.URL != "" {
			msg += " at " + st.URL
		}
		conditions.MarkReady(s, componentsv1alpha1.ReasonReady, msg)
	case p.active == opMajor:
		conditions.MarkReconciling(s, canopyv1alpha1.ReasonDatabaseUpgrading,
			fmt.Sprintf("upgrading PostgreSQL from %s to %s: step %s", major.FromVersion, major.ToVersion, major.Step))
	case p.active == opRestore:
		rp := p.restore.progress
		conditions.MarkReconciling(s, canopyv1alpha1.ReasonRestoring, fmt.Sprintf("restoring %s in place: step %s", rp.BackupName, rp.Step))
	case p.active == opUpgrade:
		conditions.MarkReconciling(s, canopyv1alpha1.ReasonUpgrading,
			fmt.Sprintf("upgrading from %s to %s: %s", d.upgrade.FromVersion, d.upgrade.ToVersion, upgradeStepMessage(d.upgrade)))
	default:
		conditions.MarkReconciling(s, canopyv1alpha1.ReasonProgressing, fmt.Sprintf("step %s: %s", r.step, failing))
	}
}

// setPaused reports spec.paused; a paused Stack waits on no deadline.
func setPaused(s *canopyv1alpha1.Stack, requeue time.Duration) time.Duration {
	if !s.Spec.Paused {
		conditions.Remove(s, canopyv1alpha1.ConditionPaused)
		return requeue
	}
	conditions.Set(s, canopyv1alpha1.ConditionPaused, metav1.ConditionTrue, canopyv1alpha1.ReasonPaused,
		"spec.paused is true: Canopy makes no changes to this Stack's objects")
	conditions.Remove(s, componentsv1alpha1.ConditionReconciling)
	return 0
}

func upgradeStepMessage(u *canopyv1alpha1.UpgradeStatus) string {
	if u.Phase == canopyv1alpha1.UpgradeBackingUp {
		return "waiting for the pre-upgrade backup (request " + u.BackupRequest + ")"
	}
	return "rolling out the web tier"
}

// currentStep names the first step that is not done, with its state.
func currentStep(db, bp, fe childState, backupWanted, upgrading bool) (canopyv1alpha1.RolloutStep, childState) {
	switch {
	case !db.ready:
		return canopyv1alpha1.RolloutDatabase, db
	case backupWanted && !bp.ready:
		return canopyv1alpha1.RolloutBackup, bp
	case upgrading:
		return canopyv1alpha1.RolloutUpgrade, fe
	case !fe.ready:
		return canopyv1alpha1.RolloutFrontend, fe
	}
	return "", childState{}
}

// failingSummary lists every component that is not ready, so that all failures show at once.
func failingSummary(s *canopyv1alpha1.Stack, states map[string]*childState) string {
	var parts []string
	for _, c := range children {
		if st := states[c.kind]; c.wanted(s) && !st.ready {
			parts = append(parts, c.name+": "+st.message)
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
	return canopyv1alpha1.ReasonProgressing
}

func component(exists bool, name, desired, observedVersion string, st childState) *canopyv1alpha1.ComponentStatus {
	c := &canopyv1alpha1.ComponentStatus{DesiredVersion: desired, ObservedVersion: observedVersion, Ready: st.ready, Reason: st.reason, Message: st.message}
	if exists {
		c.Name = name
	}
	return c
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
func stepTimeout(s *canopyv1alpha1.Stack, step canopyv1alpha1.RolloutStep, up *canopyv1alpha1.UpgradeStatus) time.Duration {
	limit := s.StepTimeout()
	if step != canopyv1alpha1.RolloutUpgrade || up == nil {
		return limit
	}
	switch up.Phase {
	case canopyv1alpha1.UpgradeBackingUp:
		if b := s.Spec.Backup; b != nil {
			limit += time.Duration(b.TimeoutSeconds) * time.Second
		}
	case canopyv1alpha1.UpgradeRollingOut:
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

// setWaiting reports the data operations that wait for the running one (condition OperationWaiting).
func setWaiting(s *canopyv1alpha1.Stack, p plan) {
	if s.Spec.Paused {
		return // frozen as it was
	}
	if len(p.waiting) == 0 {
		conditions.Remove(s, canopyv1alpha1.ConditionOperationWaiting)
		return
	}
	msgs := make([]string, 0, len(p.waiting))
	for _, w := range p.waiting {
		msgs = append(msgs, w.message)
	}
	conditions.Set(s, canopyv1alpha1.ConditionOperationWaiting, metav1.ConditionTrue, p.waiting[0].reason, strings.Join(msgs, "; "))
}
