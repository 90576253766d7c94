package database

import (
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
)

// TestPlanMajor walks the major-upgrade state machine through its decisions.
func TestPlanMajor(t *testing.T) {
	const img16, img17 = "postgres:16", "postgres:17"
	source := &componentsv1alpha1.MajorUpgradeRequest{FromBackup: componentsv1alpha1.BackupSource{BackupName: "b1"}}
	db := func(version string, req *componentsv1alpha1.MajorUpgradeRequest, st *componentsv1alpha1.MajorUpgradeStatus) *componentsv1alpha1.Database {
		return &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Name: "shop"},
			Spec:   componentsv1alpha1.DatabaseSpec{Version: version, AllowMajorVersionUpgrade: true, MajorUpgrade: req},
			Status: componentsv1alpha1.DatabaseStatus{MajorUpgrade: st}}
	}
	old := stsState{exists: true, image: img16, version: "16", dataVolume: "data"}
	newVol := desired.MajorDataVolume("17", "b1")
	onNew := stsState{exists: true, image: img17, version: "17", dataVolume: newVol}
	running := func(step string) *componentsv1alpha1.MajorUpgradeStatus {
		return &componentsv1alpha1.MajorUpgradeStatus{FromVersion: "16", FromImage: img16, ToVersion: "17", BackupName: "b1",
			Phase: componentsv1alpha1.PhaseRunning, Step: step, PreviousVolumeClaim: "data-shop-postgres-0", VolumeClaim: newVol + "-shop-postgres-0"}
	}
	failed := running("")
	failed.Phase = componentsv1alpha1.PhaseFailed
	succeeded := running("")
	succeeded.Phase = componentsv1alpha1.PhaseSucceeded

	for _, c := range []struct {
		name    string
		db      *componentsv1alpha1.Database
		ss      stsState
		want    instance
		replace bool
		blocked bool
		hold    bool
		step    string
	}{
		{name: "same major: the spec's image on the current volume", db: db("16.4", nil, nil), ss: old,
			want: instance{image: img17, version: "16.4", dataVolume: "data"}},
		{name: "new database", db: db("17", nil, nil), ss: stsState{}, want: instance{image: img17, version: "17", dataVolume: "data"}},
		{name: "no backup named: held back", db: db("17", nil, nil), ss: old, want: instance{image: img16, version: "16", dataVolume: "data"}, blocked: true},
		{name: "backup named: the old StatefulSet goes", db: db("17", source, nil), ss: old,
			want: instance{image: img17, version: "17", dataVolume: newVol, keepVolume: true}, replace: true, step: componentsv1alpha1.MajorStepReplacing},
		{name: "replacing: the new StatefulSet", db: db("17", source, running(componentsv1alpha1.MajorStepReplacing)), ss: stsState{},
			want: instance{image: img17, version: "17", dataVolume: newVol, keepVolume: true}, step: componentsv1alpha1.MajorStepReplacing},
		{name: "rolling back: the old instance on its volume", db: db("17", source, running(componentsv1alpha1.MajorStepRollingBack)), ss: onNew,
			want: instance{image: img16, version: "16", dataVolume: "data", keepVolume: true}, replace: true, step: componentsv1alpha1.MajorStepRollingBack},
		{name: "failed: the same backup is not tried again", db: db("17", source, failed), ss: old, want: instance{image: img16, version: "16",
			dataVolume: "data"}},
		{name: "succeeded: the new volume, retention as the spec says", db: db("17", source, succeeded), ss: onNew,
			want: instance{image: img17, version: "17", dataVolume: newVol}},
		{name: "succeeded, StatefulSet deleted by hand: recreated on the new volume", db: db("17", source, succeeded), ss: stsState{},
			want: instance{image: img17, version: "17", dataVolume: newVol}},
		{name: "Database recreated (no status, no StatefulSet): the claim labelled current", db: db("17", source, nil),
			ss: stsState{currentClaim: newVol + "-shop-postgres-0"}, want: instance{image: img17, version: "17", dataVolume: newVol}},
		{name: "failed, StatefulSet deleted by hand: recreated on the old volume", db: db("17", source, failed), ss: stsState{},
			want: instance{image: img16, version: "16", dataVolume: "data"}},
		{name: "Database recreated on another major's data (even mid-upgrade): that major runs it", db: db("17", source, nil),
			ss:   stsState{currentClaim: "data-shop-postgres-0", currentMajor: "16", currentImage: img16},
			want: instance{image: img16, version: "16", dataVolume: "data"}},
		{name: "the same, with a custom image: nothing starts, held back", db: db("17", source, nil),
			ss: stsState{currentClaim: "data-shop-postgres-0", currentMajor: "16"}, want: instance{image: img17, version: "17", dataVolume: "data"},
			blocked: true, hold: true},
		{name: "Database recreated on its own major's data", db: db("17", nil, nil),
			ss:   stsState{currentClaim: "data-shop-postgres-0", currentMajor: "17", currentImage: img17},
			want: instance{image: img17, version: "17", dataVolume: "data"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := planMajor(c.db, c.ss, img17)
			require.Equal(t, c.want, p.target)
			require.Equal(t, c.replace, p.replace)
			require.Equal(t, c.blocked, p.blocked != "")
			require.Equal(t, c.hold, p.hold)
			if c.step != "" {
				require.True(t, p.running())
				require.Equal(t, c.step, p.status.Step)
			}
		})
	}
}
