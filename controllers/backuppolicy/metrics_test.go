package backuppolicy

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestBackupGaugesComeFromStatus: the gauges CanopyBackupTooOld reads describe the catalogue in
// status, not the backups this process saw finish. A manager that restarted (or a new leader) never
// saw the newest backup complete, yet reports it; a policy whose backups never succeeded reports
// since when they are expected, so the alert can fire for it too.
func TestBackupGaugesComeFromStatus(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	bp := h.policy("shop")
	labels := map[string]string{"database_namespace": h.NS, "database": "shop"}
	gauge := func(name string) (float64, bool) { return testenv.Gauge(t, name, labels) }

	h.Eventually(func() bool {
		since, ok := gauge("canopy_backup_expected_since_timestamp_seconds")
		return ok && since == float64(bp.CreationTimestamp.Unix())
	}, "backups are expected since the policy exists")
	_, ok := gauge("canopy_backup_last_success_timestamp_seconds")
	require.False(t, ok, "no backup succeeded: no last-success series")

	// What an earlier manager process recorded; this one saw no Job finish.
	done := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	rec := componentsv1alpha1.BackupRecord{Name: "shop-earlier", SizeBytes: 4096, Location: "pvc://shop-backups/shop/shop-earlier/dump.pgc",
		StartTime: &metav1.Time{Time: done.Add(-90 * time.Second)}, CompletionTime: &metav1.Time{Time: done}}
	testenv.Mutate(t, h.C, client.ObjectKeyFromObject(bp), func() *componentsv1alpha1.BackupPolicy { return &componentsv1alpha1.BackupPolicy{} }, true,
		func(p *componentsv1alpha1.BackupPolicy) {
			p.Status.Backups = []componentsv1alpha1.BackupRecord{rec}
			p.Status.LastSuccessfulBackup = rec.DeepCopy()
		})
	h.Eventually(func() bool {
		last, ok := gauge("canopy_backup_last_success_timestamp_seconds")
		return ok && last == float64(done.Unix())
	}, "the newest backup in status is reported")
	size, _ := gauge("canopy_backup_last_size_bytes")
	duration, _ := gauge("canopy_backup_last_duration_seconds")
	require.Equal(t, 4096.0, size)
	require.Equal(t, 90.0, duration)
	require.Empty(t, h.jobs(), "nothing ran in this process")
}
