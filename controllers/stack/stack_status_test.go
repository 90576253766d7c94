package stack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

func readyCond(st metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: componentsv1alpha1.ConditionReady, Status: st, Reason: reason, Message: msg}
}

func db(ready bool, msg string) *componentsv1alpha1.Database {
	d := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	d.Status.ObservedGeneration = 1
	d.Status.Version = "17.2"
	d.Status.Endpoint = "shop-postgres.ns.svc:5432"
	d.Status.CredentialsSecretName = "shop-db-credentials"
	if ready {
		d.Status.Conditions = []metav1.Condition{readyCond(metav1.ConditionTrue, "Ready", "ok")}
	} else {
		d.Status.Conditions = []metav1.Condition{readyCond(metav1.ConditionFalse, "Provisioning", msg)}
	}
	return d
}

func bpReady(ready bool, msg string) *componentsv1alpha1.BackupPolicy {
	b := &componentsv1alpha1.BackupPolicy{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	b.Status.ObservedGeneration = 1
	st := metav1.ConditionFalse
	if ready {
		st = metav1.ConditionTrue
	}
	b.Status.Conditions = []metav1.Condition{readyCond(st, "R", msg)}
	done := metav1.NewTime(now.Add(-time.Hour))
	b.Status.LastSuccessfulBackup = &componentsv1alpha1.BackupRecord{Name: "shop-20261126-110000", CompletionTime: &done,
		Location: "pvc://shop-backups/shop-20261126-110000"}
	return b
}

func stalledFrontend(msg string) *componentsv1alpha1.Frontend {
	f := frontend("", false)
	f.Status.Conditions = []metav1.Condition{
		readyCond(metav1.ConditionFalse, "ImagePullBackOff", msg),
		{Type: componentsv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "ImagePullBackOff", Message: msg},
	}
	return f
}

func conds(s *canopyv1alpha1.Stack) map[string]string {
	out := map[string]string{}
	for _, c := range s.Status.Conditions {
		out[c.Type] = string(c.Status) + "/" + c.Reason
	}
	return out
}

// kstatusOf runs the kstatus library, as kubectl wait, Flux and Argo CD read a Stack.
func kstatusOf(t *testing.T, s *canopyv1alpha1.Stack) status.Status {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
	require.NoError(t, err)
	res, err := status.Compute(&unstructured.Unstructured{Object: m})
	require.NoError(t, err)
	return res.Status
}

func TestComputeStatus(t *testing.T) {
	withFrontend := func(version string, ready bool) *componentsv1alpha1.Frontend {
		f := frontend(version, ready)
		f.Status.URL = "https://shop.example.com"
		return f
	}
	for _, tc := range []struct {
		name        string
		stack       *canopyv1alpha1.Stack
		o           observed
		wantConds   map[string]string
		wantKstatus status.Status
		wantMsg     []string
		wantStep    canopyv1alpha1.RolloutStep
	}{
		{
			name:  "database provisioning",
			stack: testStack("1.0", "", true, nil),
			o:     observed{db: db(false, "waiting for the StatefulSet")},
			wantConds: map[string]string{"Ready": "False/Progressing", "Reconciling": "True/Progressing", "DatabaseReady": "False/Provisioning",
				"FrontendReady": "False/WaitingForDatabase", "BackupReady": "False/WaitingForDatabase", "Upgradeable": "True/NoUpgradeInProgress"},
			wantKstatus: status.InProgressStatus, wantMsg: []string{"step Database", "database: waiting for the StatefulSet"},
			wantStep: canopyv1alpha1.RolloutDatabase,
		},
		{
			name:  "every failing component is visible at once",
			stack: testStack("1.0", "", true, nil),
			o:     observed{db: db(true, ""), fe: stalledFrontend("image ghcr.io/acme/shop:1.0 not found"), bp: bpReady(false, "backup volume pending")},
			wantConds: map[string]string{"Ready": "False/ImagePullBackOff", "Stalled": "True/ImagePullBackOff", "DatabaseReady": "True/Ready",
				"FrontendReady": "False/ImagePullBackOff", "BackupReady": "False/R", "Upgradeable": "True/NoUpgradeInProgress"},
			wantKstatus: status.FailedStatus, wantMsg: []string{"frontend: image ghcr.io/acme/shop:1.0 not found", "backup: backup volume pending"},
			wantStep: canopyv1alpha1.RolloutBackup,
		},
		{
			name:  "ready",
			stack: testStack("1.0", "", true, nil),
			o:     observed{db: db(true, ""), fe: withFrontend("1.0", true), bp: bpReady(true, "")},
			wantConds: map[string]string{"Ready": "True/Ready", "DatabaseReady": "True/Ready", "FrontendReady": "True/R", "BackupReady": "True/R",
				"Upgradeable": "True/NoUpgradeInProgress"},
			wantKstatus: status.CurrentStatus, wantMsg: []string{"version 1.0 is serving at https://shop.example.com"},
		},
		{
			name:  "ready without backups has no BackupReady",
			stack: testStack("1.0", "1.0", false, nil),
			o:     observed{db: db(true, ""), fe: withFrontend("1.0", true)},
			wantConds: map[string]string{"Ready": "True/Ready", "DatabaseReady": "True/Ready", "FrontendReady": "True/R",
				"Upgradeable": "True/NoUpgradeInProgress"},
			wantKstatus: status.CurrentStatus,
		},
		{
			name:  "upgrade waiting for its backup",
			stack: testStack("2.0", "1.0", true, nil),
			o:     observed{db: db(true, ""), fe: withFrontend("1.0", true), bp: bpReady(true, "")},
			wantConds: map[string]string{"Ready": "False/Upgrading", "Reconciling": "True/Upgrading", "DatabaseReady": "True/Ready",
				"FrontendReady": "False/Upgrading", "BackupReady": "True/R", "Upgradeable": "False/UpgradeInProgress"},
			wantKstatus: status.InProgressStatus, wantMsg: []string{"waiting for the pre-upgrade backup (request pre-upgrade-g7)"},
			wantStep: canopyv1alpha1.RolloutUpgrade,
		},
		{
			name:  "failed upgrade: degraded, stalled, old version serving",
			stack: testStack("2.0", "1.0", false, &canopyv1alpha1.UpgradeStatus{FromVersion: "1.0", ToVersion: "2.0", Phase: canopyv1alpha1.UpgradeRollingOut}),
			o:     observed{db: db(true, ""), fe: failedFrontend("1.0", "2.0")},
			wantConds: map[string]string{"Ready": "False/UpgradeFailed", "Stalled": "True/UpgradeFailed", "Degraded": "True/UpgradeFailed",
				"DatabaseReady": "True/Ready", "FrontendReady": "False/RolloutFailed", "Upgradeable": "True/NoUpgradeInProgress"},
			wantKstatus: status.FailedStatus, wantMsg: []string{"still serving 1.0", "pods of 2.0 not available after 600s"},
			wantStep: canopyv1alpha1.RolloutFrontend,
		},
		{
			name: "step timed out",
			stack: func() *canopyv1alpha1.Stack {
				s := testStack("1.0", "", false, nil)
				start := metav1.NewTime(now.Add(-16 * time.Minute))
				s.Status.Rollout = &canopyv1alpha1.RolloutProgress{Step: canopyv1alpha1.RolloutDatabase, StartTime: &start}
				return s
			}(),
			o: observed{db: db(false, "0/1 pods ready: pod shop-postgres-0 is Pending")},
			wantConds: map[string]string{"Ready": "False/StepTimeout", "Stalled": "True/StepTimeout", "DatabaseReady": "False/Provisioning",
				"FrontendReady": "False/WaitingForDatabase", "Upgradeable": "True/NoUpgradeInProgress"},
			wantKstatus: status.FailedStatus, wantMsg: []string{"step Database not finished after 15m0s", "pod shop-postgres-0 is Pending"},
			wantStep: canopyv1alpha1.RolloutDatabase,
		},
		{
			name:  "child CRD missing",
			stack: testStack("1.0", "", true, nil),
			o:     observed{db: db(true, ""), missingCRD: map[string]bool{"BackupPolicy": true}},
			wantConds: map[string]string{"Ready": "False/Progressing", "Reconciling": "True/Progressing", "DatabaseReady": "True/Ready",
				"FrontendReady": "False/WaitingForDatabase", "BackupReady": "False/CRDNotInstalled", "Upgradeable": "True/NoUpgradeInProgress"},
			wantKstatus: status.InProgressStatus, wantMsg: []string{"the BackupPolicy CRD is not installed"}, wantStep: canopyv1alpha1.RolloutBackup,
		},
		{
			name: "paused",
			stack: func() *canopyv1alpha1.Stack {
				s := testStack("1.0", "", false, nil)
				s.Spec.Paused = true
				return s
			}(),
			o: observed{db: db(false, "waiting")},
			wantConds: map[string]string{"Ready": "False/Progressing", "Paused": "True/Paused", "DatabaseReady": "False/Provisioning",
				"FrontendReady": "False/WaitingForDatabase", "Upgradeable": "True/NoUpgradeInProgress"},
			wantKstatus: status.InProgressStatus,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.stack
			s.Generation = 7
			requeue := computeStatus(s, tc.o, decide(s, tc.o, now), now)
			s.Status.ObservedGeneration = s.Generation
			require.Equal(t, tc.wantConds, conds(s))
			require.Equal(t, tc.wantKstatus, kstatusOf(t, s))
			ready := conditions.Get(s, componentsv1alpha1.ConditionReady)
			for _, m := range tc.wantMsg {
				require.Contains(t, ready.Message, m)
			}
			if tc.wantStep == "" {
				require.Nil(t, s.Status.Rollout)
			} else {
				require.Equal(t, tc.wantStep, s.Status.Rollout.Step)
			}
			if s.Status.Rollout != nil && !conditions.IsTrue(s, componentsv1alpha1.ConditionStalled) && !s.Spec.Paused {
				require.Positive(t, requeue, "a running step must come back at its deadline")
			}
		})
	}
}

func TestComputeStatusMirrorsChildDetails(t *testing.T) {
	s := testStack("1.0", "1.0", true, nil)
	o := observed{db: db(true, ""), fe: frontend("1.0", true), bp: bpReady(true, "")}
	o.fe.Status.URL = "https://shop.example.com"
	computeStatus(s, o, decide(s, o, now), now)
	require.Equal(t, "1.0", s.Status.Version)
	require.Equal(t, "https://shop.example.com", s.Status.URL)
	require.Equal(t, "shop-postgres.ns.svc:5432", s.Status.DatabaseEndpoint)
	require.Equal(t, "shop-db-credentials", s.Status.CredentialsSecretName)
	require.Equal(t, "shop-20261126-110000", s.Status.LastBackup.Name)
	require.Equal(t, "17.2", s.Status.Components.Database.ObservedVersion)
	require.True(t, s.Status.Components.Frontend.Ready)
	require.Equal(t, "shop", s.Status.Components.Backup.Name)
}

// TestComputeStatusKeepsStepStart: the step's start time survives reconciles, or it would never
// time out.
func TestComputeStatusKeepsStepStart(t *testing.T) {
	s := testStack("1.0", "", false, nil)
	o := observed{db: db(false, "x")}
	computeStatus(s, o, decide(s, o, now), now)
	start := s.Status.Rollout.StartTime.DeepCopy()
	later := metav1.NewTime(now.Add(5 * time.Minute))
	requeue := computeStatus(s, o, decide(s, o, later), later)
	require.Equal(t, start, s.Status.Rollout.StartTime)
	require.Equal(t, 10*time.Minute, requeue)
}

// TestFailedBackupDoesNotMakeTheStackNotReady: a backup that failed and that the schedule retries
// leaves the BackupPolicy Ready; the Stack stays Ready and says so in BackupHealthy.
func TestFailedBackupDoesNotMakeTheStackNotReady(t *testing.T) {
	s := testStack("1.0", "1.0", true, nil)
	bp := bpReady(true, "the latest backup failed (UploadFailed) and the next one retries")
	bp.Status.Conditions = append(bp.Status.Conditions, metav1.Condition{Type: componentsv1alpha1.ConditionBackupHealthy,
		Status: metav1.ConditionFalse, Reason: "UploadFailed", Message: "the latest backup failed: connection reset", LastTransitionTime: now})
	o := observed{db: db(true, ""), fe: frontend("1.0", true), bp: bp}
	computeStatus(s, o, decide(s, o, now), now)
	require.True(t, conditions.IsTrue(s, componentsv1alpha1.ConditionReady), "the application serves")
	require.Nil(t, conditions.Get(s, componentsv1alpha1.ConditionStalled))
	h := conditions.Get(s, canopyv1alpha1.ConditionBackupHealthy)
	require.NotNil(t, h)
	require.Equal(t, metav1.ConditionFalse, h.Status)
	require.Equal(t, "UploadFailed", h.Reason)
}
