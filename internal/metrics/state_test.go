package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// TestTwoPoliciesForOneDatabase: a second BackupPolicy for the same database (made by hand, or the
// previous one still being deleted) yields one series per database, not a duplicate that would make
// the registry refuse the whole scrape.
func TestTwoPoliciesForOneDatabase(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	policy := func(name string, created time.Time, done *time.Time) componentsv1alpha1.BackupPolicy {
		bp := componentsv1alpha1.BackupPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, CreationTimestamp: metav1.NewTime(created)},
			Spec: componentsv1alpha1.BackupPolicySpec{DatabaseName: "shop"}}
		if done != nil {
			bp.Status.LastSuccessfulBackup = &componentsv1alpha1.BackupRecord{Name: name, SizeBytes: 10, CompletionTime: &metav1.Time{Time: *done}}
		}
		return bp
	}
	older, newer := t0.Add(time.Hour), t0.Add(2*time.Hour)
	c := collectorFunc(func(ch chan<- prometheus.Metric) {
		collectBackups(ch, []componentsv1alpha1.BackupPolicy{policy("a", t0.Add(time.Minute), &newer), policy("b", t0, &older)})
	})
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err, "the scrape is accepted")
	require.Equal(t, 3, n, "one series of each gauge for the database")
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		v := f.GetMetric()[0].GetGauge().GetValue()
		switch f.GetName() {
		case "canopy_backup_expected_since_timestamp_seconds":
			require.Equal(t, float64(t0.Unix()), v, "the earliest policy")
		case "canopy_backup_last_success_timestamp_seconds":
			require.Equal(t, float64(newer.Unix()), v, "the newest success")
		}
	}
}

// collectorFunc is an unchecked collector (it describes nothing) around a collect function.
type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }
