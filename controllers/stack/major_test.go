package stack

import (
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// TestDecideMajorRetry: a failed attempt stays failed until the retry annotation takes a value it
// has not started an attempt with; each attempt asks for its own backup.
func TestDecideMajorRetry(t *testing.T) {
	failed := func(attempt int32, retry string) *canopyv1alpha1.DatabaseUpgradeProgress {
		return &canopyv1alpha1.DatabaseUpgradeProgress{FromVersion: "16", ToVersion: "17", Step: canopyv1alpha1.StepFailed,
			Attempt: attempt, RetryRequest: retry}
	}
	for _, tc := range []struct {
		name        string
		progress    *canopyv1alpha1.DatabaseUpgradeProgress
		retry       string
		wantAttempt int32
		wantStep    canopyv1alpha1.OperationStep
		wantRetry   string
	}{
		{name: "first attempt", wantAttempt: 1, wantStep: canopyv1alpha1.StepStoppingFrontend},
		{name: "first attempt records the annotation it began with", retry: "a", wantAttempt: 1, wantStep: canopyv1alpha1.StepStoppingFrontend, wantRetry: "a"},
		{name: "failed, no annotation: stays failed", progress: failed(1, ""), wantAttempt: 1, wantStep: canopyv1alpha1.StepFailed},
		{name: "failed, annotation seen at its start: stays failed", progress: failed(1, "a"), retry: "a",
			wantAttempt: 1, wantStep: canopyv1alpha1.StepFailed, wantRetry: "a"},
		{name: "failed, new annotation value: a new attempt", progress: failed(1, ""), retry: "a",
			wantAttempt: 2, wantStep: canopyv1alpha1.StepStoppingFrontend, wantRetry: "a"},
		{name: "failed again, another value: a third", progress: failed(2, "a"), retry: "b",
			wantAttempt: 3, wantStep: canopyv1alpha1.StepStoppingFrontend, wantRetry: "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "n"}}
			s.Spec.Database.Version, s.Spec.Database.AllowMajorVersionUpgrade = "17", true
			if tc.retry != "" {
				s.Annotations = map[string]string{canopyv1alpha1.AnnotationRetryDatabaseUpgrade: tc.retry}
			}
			s.Status.DatabaseUpgrade = tc.progress
			db := &componentsv1alpha1.Database{}
			db.Spec.Version, db.Status.Version = "16", "16"
			d := decideMajor(s, observed{db: db})
			require.NotNil(t, d.progress)
			require.Equal(t, tc.wantAttempt, d.progress.Attempt)
			require.Equal(t, tc.wantStep, d.progress.Step)
			require.Equal(t, tc.wantRetry, d.progress.RetryRequest)
			require.Equal(t, "16", d.dbVersion, "the Database is not told before the backup exists")
		})
	}
	require.Equal(t, requestToken("pre-major-", "17"), majorToken("17", 0), "a status from before attempts were counted keeps its token")
	require.NotEqual(t, majorToken("17", 1), majorToken("17", 2))
}

// TestDecideMajorVersionChangedMidUpgrade: once the Database is told the new version, a change of
// database.version waits for that attempt to end; before, it replaces the attempt.
func TestDecideMajorVersionChangedMidUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name          string
		step          canopyv1alpha1.OperationStep
		dbSpec        string
		wantTo        string
		wantStep      canopyv1alpha1.OperationStep
		wantDBVersion string
		wantBackup    string
	}{
		{name: "upgrading: the attempt to 17 goes on, the Database stays told 17", step: canopyv1alpha1.StepUpgrading, dbSpec: "17",
			wantTo: "17", wantStep: canopyv1alpha1.StepUpgrading, wantDBVersion: "17", wantBackup: majorToken("17", 1)},
		{name: "starting the web tier: the Database keeps 17", step: canopyv1alpha1.StepStartingFrontend, dbSpec: "17",
			wantTo: "17", wantStep: canopyv1alpha1.StepStartingFrontend, wantDBVersion: "17"},
		{name: "not told yet: a new attempt to 18, the Database keeps 16", step: canopyv1alpha1.StepBackup, dbSpec: "16",
			wantTo: "18", wantStep: canopyv1alpha1.StepStoppingFrontend, wantDBVersion: "16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "n"}}
			s.Spec.Database.Version, s.Spec.Database.AllowMajorVersionUpgrade = "18", true
			s.Status.DatabaseUpgrade = &canopyv1alpha1.DatabaseUpgradeProgress{FromVersion: "16", ToVersion: "17", Step: tc.step, Attempt: 1,
				BackupName: "shop-x"}
			db := &componentsv1alpha1.Database{}
			db.Spec.Version, db.Status.Version = tc.dbSpec, "16"
			if tc.dbSpec == "17" {
				db.Spec.MajorUpgrade = &componentsv1alpha1.MajorUpgradeRequest{FromBackup: componentsv1alpha1.BackupSource{BackupName: "shop-x"}}
			}
			d := decideMajor(s, observed{db: db})
			require.Equal(t, tc.wantTo, d.progress.ToVersion)
			require.Equal(t, tc.wantStep, d.progress.Step)
			require.Equal(t, tc.wantDBVersion, d.dbVersion)
			require.Equal(t, tc.wantBackup, d.backupRequest)
			if tc.dbSpec == "17" {
				require.NotNil(t, d.dbRequest)
				require.Equal(t, "shop-x", d.dbRequest.FromBackup.BackupName, "the backup being loaded stays asked for")
			}
		})
	}
}
