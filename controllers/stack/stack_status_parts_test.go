package stack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// The setters computeStatus is made of, one table each.

func partsStack() *canopyv1alpha1.Stack {
	s := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "apps", Generation: 4}}
	s.Spec.Version, s.Spec.Database.Version = "1.1", "16"
	s.Spec.Backup = &canopyv1alpha1.StackBackup{}
	return s
}

func states(db, bp, fe childState) map[string]*childState {
	return map[string]*childState{"Database": &db, "BackupPolicy": &bp, "Frontend": &fe}
}

var allReady = states(childState{ready: true}, childState{ready: true}, childState{ready: true})

func TestSetUpgradeable(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     canopyv1alpha1.StackStatus
		d          upgradeDecision
		wantStatus metav1.ConditionStatus
		wantReason string
	}{
		{name: "nothing runs", wantStatus: metav1.ConditionTrue, wantReason: canopyv1alpha1.ReasonNoUpgrade},
		{name: "an application upgrade",
			status: canopyv1alpha1.StackStatus{Upgrade: &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "1.1",
				Phase: canopyv1alpha1.UpgradeRollingOut}},
			d:          upgradeDecision{upgrade: &canopyv1alpha1.UpgradeStatus{Phase: canopyv1alpha1.UpgradeRollingOut}},
			wantStatus: metav1.ConditionFalse, wantReason: canopyv1alpha1.ReasonUpgradeInProgress},
		{name: "a restore", status: canopyv1alpha1.StackStatus{Restore: &canopyv1alpha1.RestoreProgress{ID: "r", Step: canopyv1alpha1.StepRestoring}},
			wantStatus: metav1.ConditionFalse, wantReason: canopyv1alpha1.ReasonDataOperationInProgress},
		{name: "a major upgrade", status: canopyv1alpha1.StackStatus{DatabaseUpgrade: &canopyv1alpha1.DatabaseUpgradeProgress{Step: canopyv1alpha1.StepBackup}},
			wantStatus: metav1.ConditionFalse, wantReason: canopyv1alpha1.ReasonDataOperationInProgress},
		{name: "a failed restore is over",
			status:     canopyv1alpha1.StackStatus{Restore: &canopyv1alpha1.RestoreProgress{ID: "r", Step: canopyv1alpha1.StepFailed}},
			wantStatus: metav1.ConditionTrue, wantReason: canopyv1alpha1.ReasonNoUpgrade},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := partsStack()
			s.Status = tc.status
			setUpgradeable(s, planOf(tc.d, restoreDecision{progress: s.Status.Restore}, majorDecision{progress: s.Status.DatabaseUpgrade}))
			c := conditions.Get(s, canopyv1alpha1.ConditionUpgradeable)
			require.Equal(t, tc.wantStatus, c.Status)
			require.Equal(t, tc.wantReason, c.Reason)
		})
	}
}

func TestSetPaused(t *testing.T) {
	s := partsStack()
	conditions.Set(s, componentsv1alpha1.ConditionReconciling, metav1.ConditionTrue, "R", "m")
	require.Equal(t, time.Minute, setPaused(s, time.Minute), "not paused: the deadline stands")
	require.Nil(t, conditions.Get(s, canopyv1alpha1.ConditionPaused))
	s.Spec.Paused = true
	require.Zero(t, setPaused(s, time.Minute), "paused: no deadline")
	require.True(t, conditions.IsTrue(s, canopyv1alpha1.ConditionPaused))
	require.Nil(t, conditions.Get(s, componentsv1alpha1.ConditionReconciling), "paused is not reconciling")
}

func TestSetDegraded(t *testing.T) {
	failed := upgradeDecision{serving: "1.0", upgrade: &canopyv1alpha1.UpgradeStatus{ToVersion: "1.1", Phase: canopyv1alpha1.UpgradeFailed, Message: "boom"}}
	noIssuer := &componentsv1alpha1.Frontend{}
	conditions.Set(noIssuer, componentsv1alpha1.ConditionDegraded, metav1.ConditionTrue, componentsv1alpha1.ReasonIssuerNotFound, "the ClusterIssuer le ...")
	for _, tc := range []struct {
		name     string
		spec     string
		d        upgradeDecision
		fe       *componentsv1alpha1.Frontend
		want     bool
		degraded string // the Stack's Degraded reason, "" for none
	}{
		{name: "failed, the spec still asks for it", spec: "1.1", d: failed, want: true, degraded: componentsv1alpha1.ReasonUpgradeFailed},
		{name: "failed, the spec went back", spec: "1.0", d: failed},
		{name: "no upgrade", spec: "1.1", d: upgradeDecision{serving: "1.1"}},
		{name: "the ingress certificate's issuer is missing", spec: "1.1", d: upgradeDecision{serving: "1.1"}, fe: noIssuer,
			degraded: componentsv1alpha1.ReasonIssuerNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := partsStack()
			s.Spec.Version = tc.spec
			require.Equal(t, tc.want, setDegraded(s, tc.d, tc.fe))
			require.Equal(t, tc.degraded != "", conditions.IsTrue(s, componentsv1alpha1.ConditionDegraded))
			if tc.degraded != "" {
				require.Equal(t, tc.degraded, conditions.Get(s, componentsv1alpha1.ConditionDegraded).Reason)
			}
		})
	}
}

func TestSetRollout(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	dbNotReady := states(childState{message: "starting"}, childState{}, childState{})
	for _, tc := range []struct {
		name         string
		states       map[string]*childState
		paused       bool
		upgradeWaits bool
		started      *canopyv1alpha1.RolloutProgress
		now          time.Duration
		wantStep     canopyv1alpha1.RolloutStep
		wantTimedOut bool
		wantRequeue  time.Duration
	}{
		{name: "all ready: no step", states: allReady},
		{name: "a new step starts its clock", states: dbNotReady, wantStep: canopyv1alpha1.RolloutDatabase, wantRequeue: canopyv1alpha1.DefaultStepTimeout},
		{name: "the step goes on", states: dbNotReady, started: &canopyv1alpha1.RolloutProgress{Step: canopyv1alpha1.RolloutDatabase, StartTime: &t0},
			now: 5 * time.Minute, wantStep: canopyv1alpha1.RolloutDatabase, wantRequeue: canopyv1alpha1.DefaultStepTimeout - 5*time.Minute},
		{name: "past its deadline", states: dbNotReady, started: &canopyv1alpha1.RolloutProgress{Step: canopyv1alpha1.RolloutDatabase, StartTime: &t0},
			now: canopyv1alpha1.DefaultStepTimeout, wantStep: canopyv1alpha1.RolloutDatabase, wantTimedOut: true},
		{name: "paused: no clock", states: dbNotReady, paused: true, wantStep: canopyv1alpha1.RolloutDatabase},
		{name: "an upgrade that waits: no clock", states: states(childState{ready: true}, childState{ready: true}, childState{}), upgradeWaits: true,
			wantStep: canopyv1alpha1.RolloutFrontend},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := partsStack()
			s.Spec.Paused, s.Status.Rollout = tc.paused, tc.started
			r := setRollout(s, tc.states, upgradeDecision{}, tc.upgradeWaits, metav1.NewTime(t0.Add(tc.now)))
			require.Equal(t, tc.wantStep, r.step)
			require.Equal(t, tc.wantTimedOut, r.timedOut)
			require.Equal(t, tc.wantRequeue, r.requeue)
			require.Equal(t, tc.wantRequeue > 0 || tc.wantTimedOut, s.Status.Rollout != nil, "status.rollout while a clock runs")
		})
	}
}

func TestSetSummary(t *testing.T) {
	stalled := states(childState{ready: false, stalled: true, reason: componentsv1alpha1.ReasonNameConflict, message: "yours"},
		childState{ready: true}, childState{ready: true})
	for _, tc := range []struct {
		name       string
		states     map[string]*childState
		status     canopyv1alpha1.StackStatus
		d          upgradeDecision
		failed     bool
		clock      rolloutClock
		wantType   string
		wantReason string
	}{
		{name: "everything serves", states: allReady, d: upgradeDecision{serving: "1.1"},
			wantType: componentsv1alpha1.ConditionReady, wantReason: componentsv1alpha1.ReasonReady},
		{name: "a child needs a person", states: stalled, wantType: componentsv1alpha1.ConditionStalled, wantReason: componentsv1alpha1.ReasonNameConflict},
		{name: "a failed upgrade", states: allReady, failed: true,
			d:        upgradeDecision{serving: "1.0", upgrade: &canopyv1alpha1.UpgradeStatus{Phase: canopyv1alpha1.UpgradeFailed}},
			wantType: componentsv1alpha1.ConditionStalled, wantReason: componentsv1alpha1.ReasonUpgradeFailed},
		{name: "a step past its deadline", states: allReady, clock: rolloutClock{step: canopyv1alpha1.RolloutDatabase, timedOut: true},
			wantType: componentsv1alpha1.ConditionStalled, wantReason: canopyv1alpha1.ReasonStepTimeout},
		{name: "a restore runs", states: allReady,
			status:   canopyv1alpha1.StackStatus{Restore: &canopyv1alpha1.RestoreProgress{Step: canopyv1alpha1.StepRestoring}},
			wantType: componentsv1alpha1.ConditionReconciling, wantReason: canopyv1alpha1.ReasonRestoring},
		{name: "a restore waits for a Secret: the Database's Stalled wins over Restoring",
			states: states(childState{stalled: true, reason: componentsv1alpha1.ReasonSecretNotFound, message: "the S3 credentials Secret s3 ..."},
				childState{ready: true}, childState{ready: true}),
			status:   canopyv1alpha1.StackStatus{Restore: &canopyv1alpha1.RestoreProgress{Step: canopyv1alpha1.StepRestoring}},
			wantType: componentsv1alpha1.ConditionStalled, wantReason: componentsv1alpha1.ReasonSecretNotFound},
		{name: "a major upgrade runs", states: allReady,
			status:   canopyv1alpha1.StackStatus{DatabaseUpgrade: &canopyv1alpha1.DatabaseUpgradeProgress{Step: canopyv1alpha1.StepBackup}},
			wantType: componentsv1alpha1.ConditionReconciling, wantReason: canopyv1alpha1.ReasonDatabaseUpgrading},
		{name: "a failed major upgrade the spec still asks for", states: allReady,
			status:   canopyv1alpha1.StackStatus{DatabaseUpgrade: &canopyv1alpha1.DatabaseUpgradeProgress{ToVersion: "16", Step: canopyv1alpha1.StepFailed}},
			wantType: componentsv1alpha1.ConditionStalled, wantReason: canopyv1alpha1.ReasonDatabaseUpgradeFailed},
		{name: "a restore asked for after a failed upgrade is progress, not Stalled", states: allReady, failed: true,
			d:        upgradeDecision{serving: "1.0", upgrade: &canopyv1alpha1.UpgradeStatus{Phase: canopyv1alpha1.UpgradeFailed}},
			status:   canopyv1alpha1.StackStatus{Restore: &canopyv1alpha1.RestoreProgress{Step: canopyv1alpha1.StepRestoring}},
			wantType: componentsv1alpha1.ConditionReconciling, wantReason: canopyv1alpha1.ReasonRestoring},
		{name: "a restore after a failed major upgrade is progress", states: allReady,
			status: canopyv1alpha1.StackStatus{DatabaseUpgrade: &canopyv1alpha1.DatabaseUpgradeProgress{ToVersion: "16", Step: canopyv1alpha1.StepFailed},
				Restore: &canopyv1alpha1.RestoreProgress{Step: canopyv1alpha1.StepRestoring}},
			wantType: componentsv1alpha1.ConditionReconciling, wantReason: canopyv1alpha1.ReasonRestoring},
		{name: "a restore stuck past its deadline after a failed upgrade stalls", states: allReady, failed: true,
			d:        upgradeDecision{serving: "1.0", upgrade: &canopyv1alpha1.UpgradeStatus{Phase: canopyv1alpha1.UpgradeFailed}},
			status:   canopyv1alpha1.StackStatus{Restore: &canopyv1alpha1.RestoreProgress{Step: canopyv1alpha1.StepRestoring}},
			clock:    rolloutClock{step: canopyv1alpha1.RolloutDatabase, timedOut: true},
			wantType: componentsv1alpha1.ConditionStalled, wantReason: componentsv1alpha1.ReasonUpgradeFailed},
		{name: "a child on its way", states: states(childState{message: "starting"}, childState{ready: true}, childState{ready: true}),
			wantType: componentsv1alpha1.ConditionReconciling, wantReason: canopyv1alpha1.ReasonProgressing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := partsStack()
			s.Status = tc.status
			setSummary(s, tc.states, planOf(tc.d, restoreDecision{progress: s.Status.Restore}, majorDecision{progress: s.Status.DatabaseUpgrade}),
				tc.failed, tc.clock)
			c := conditions.Get(s, tc.wantType)
			require.NotNil(t, c)
			require.Equal(t, metav1.ConditionTrue, c.Status)
			require.Equal(t, tc.wantReason, c.Reason)
			require.Empty(t, testenv.KstatusRules(s), "kstatus rules hold")
		})
	}
}
