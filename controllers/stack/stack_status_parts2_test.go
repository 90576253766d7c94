package stack

import (
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

func TestReadiness(t *testing.T) {
	readyFE := frontend("1.1", true)
	for _, tc := range []struct {
		name         string
		o            observed
		p            plan
		paused       bool
		wantFE       string // the web tier's reason
		wantReady    bool
		upgradeWaits bool
	}{
		{name: "absent web tier", o: observed{}, wantFE: canopyv1alpha1.ReasonWaitingForDB},
		{name: "serving the spec's version", o: observed{fe: readyFE}, p: plan{upgrade: upgradeDecision{serving: "1.1"}},
			wantFE: "R", wantReady: true},
		{name: "behind the spec: upgrading", o: observed{fe: readyFE}, p: plan{upgrade: upgradeDecision{serving: "1.0"}},
			wantFE: canopyv1alpha1.ReasonUpgrading},
		{name: "behind the spec: the upgrade waits", o: observed{fe: readyFE},
			p: plan{upgrade: upgradeDecision{serving: "1.0"}, active: opRestore, restore: restoreDecision{progress: &canopyv1alpha1.RestoreProgress{
				BackupName: "b", Step: canopyv1alpha1.StepRestoring}}, waiting: []waitingOperation{{op: opUpgrade}}},
			wantFE: canopyv1alpha1.ReasonUpgradeWaiting, upgradeWaits: true},
		{name: "a spec change not observed yet", o: observed{fe: readyFE, pending: map[string]bool{"Frontend": true}},
			p: plan{upgrade: upgradeDecision{serving: "1.1"}}, wantFE: canopyv1alpha1.ReasonChildReconciling},
		{name: "created by this pass", o: observed{pending: map[string]bool{"Frontend": true}},
			p: plan{upgrade: upgradeDecision{serving: "1.1"}}, wantFE: canopyv1alpha1.ReasonNoStatus},
		{name: "a spec change held by the pause", o: observed{fe: readyFE, pending: map[string]bool{"Frontend": true}}, paused: true,
			p: plan{upgrade: upgradeDecision{serving: "1.1"}}, wantFE: canopyv1alpha1.ReasonPaused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := partsStack()
			s.Spec.Paused = tc.paused
			states, waits := readiness(s, tc.o, tc.p)
			require.Equal(t, tc.wantFE, states["Frontend"].reason)
			require.Equal(t, tc.wantReady, states["Frontend"].ready)
			require.Equal(t, tc.upgradeWaits, waits)
			require.Equal(t, canopyv1alpha1.ReasonNotCreated, states["Database"].reason, "no Database observed")
		})
	}
}

func TestSetSummaries(t *testing.T) {
	done := metav1.Now()
	bp := policy("", "", "", "")
	bp.Status.LastSuccessfulBackup = &componentsv1alpha1.BackupRecord{Name: "shop-1", CompletionTime: &done, Location: "pvc:///x"}
	db := &componentsv1alpha1.Database{}
	db.Status.Endpoint, db.Status.CredentialsSecretName = "shop-postgres.apps.svc:5432", "shop-db-credentials"
	fe := frontend("1.1", true)
	fe.Status.URL = "https://shop.example.com"
	for _, tc := range []struct {
		name     string
		o        observed
		backup   bool
		wantURL  string
		wantLast string
	}{
		{name: "nothing observed", backup: true},
		{name: "everything observed", o: observed{db: db, fe: fe, bp: bp}, backup: true, wantURL: fe.Status.URL, wantLast: "shop-1"},
		{name: "backups off: no backup component", o: observed{db: db, fe: fe}, wantURL: fe.Status.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := partsStack()
			if !tc.backup {
				s.Spec.Backup = nil
			}
			s.Status.URL = "stale"
			setSummaries(s, tc.o, states(childState{}, childState{}, childState{}))
			require.Equal(t, tc.wantURL, s.Status.URL, "never a stale URL")
			require.Equal(t, tc.backup, s.Status.Components.Backup != nil)
			if tc.wantLast != "" {
				require.Equal(t, tc.wantLast, s.Status.LastBackup.Name)
			} else {
				require.Nil(t, s.Status.LastBackup)
			}
		})
	}
}

func TestSetMirrors(t *testing.T) {
	healthy := policy("", "", "", "")
	healthy.Status.Conditions = []metav1.Condition{{Type: componentsv1alpha1.ConditionBackupHealthy, Status: metav1.ConditionFalse, Reason: "BackupFailed"}}
	for _, tc := range []struct {
		name        string
		backup      bool
		o           observed
		wantBackup  bool
		wantHealthy bool
	}{
		{name: "backups on", backup: true, o: observed{bp: healthy}, wantBackup: true, wantHealthy: true},
		{name: "backups off: no backup conditions", o: observed{bp: healthy}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := partsStack()
			if !tc.backup {
				s.Spec.Backup = nil
			}
			conditions.Set(s, canopyv1alpha1.ConditionBackupReady, metav1.ConditionTrue, "R", "left over")
			setMirrors(s, tc.o, states(childState{ready: true, reason: "A"}, childState{reason: "B"}, childState{reason: "C"}))
			require.True(t, conditions.IsTrue(s, canopyv1alpha1.ConditionDatabaseReady))
			require.Equal(t, "C", conditions.Get(s, canopyv1alpha1.ConditionFrontendReady).Reason)
			require.Equal(t, tc.wantBackup, conditions.Get(s, canopyv1alpha1.ConditionBackupReady) != nil)
			require.Equal(t, tc.wantHealthy, conditions.Get(s, canopyv1alpha1.ConditionBackupHealthy) != nil)
		})
	}
}

func TestSetWaiting(t *testing.T) {
	waiting := plan{waiting: []waitingOperation{{op: opUpgrade, reason: canopyv1alpha1.ReasonUpgradeWaiting, message: "the upgrade waits"},
		{op: opMajor, reason: canopyv1alpha1.ReasonDatabaseUpgradeWaiting, message: "the major upgrade waits"}}}
	s := partsStack()
	setWaiting(s, waiting)
	c := conditions.Get(s, canopyv1alpha1.ConditionOperationWaiting)
	require.Equal(t, canopyv1alpha1.ReasonUpgradeWaiting, c.Reason, "the first waiting operation's reason")
	require.Equal(t, "the upgrade waits; the major upgrade waits", c.Message, "every waiting operation is named")

	s.Spec.Paused = true
	setWaiting(s, plan{})
	require.NotNil(t, conditions.Get(s, canopyv1alpha1.ConditionOperationWaiting), "frozen while paused")
	s.Spec.Paused = false
	setWaiting(s, plan{})
	require.Nil(t, conditions.Get(s, canopyv1alpha1.ConditionOperationWaiting), "gone once nothing waits")
}
