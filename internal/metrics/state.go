package metrics

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// The gauges below describe state, so they are computed from the objects' status at each scrape,
// not set when something happens: a manager that restarted (or a new leader) reports the newest
// backup it never saw finish, and a series disappears with its object.

// stackLabels name a Stack. Not "namespace": Prometheus gives that label to the scraped target (the
// manager's namespace) and would rename this one.
var stackLabels = []string{"stack_namespace", "stack"}

var (
	stackReadyDesc = prometheus.NewDesc("canopy_stack_ready",
		"Whether a Stack is Ready (1) or not (0).", stackLabels, nil)
	stackStalledDesc = prometheus.NewDesc("canopy_stack_stalled",
		"Whether a Stack is Stalled (1): it waits for a person, not for time.", stackLabels, nil)
	backupExpectedDesc = prometheus.NewDesc("canopy_backup_expected_since_timestamp_seconds",
		"Unix time since when backups of a database are expected (its BackupPolicy's creation).", backupLabels, nil)
	backupLastSuccessDesc = prometheus.NewDesc("canopy_backup_last_success_timestamp_seconds",
		"Unix time of the newest successful backup of a database.", backupLabels, nil)
	backupDurationDesc = prometheus.NewDesc("canopy_backup_last_duration_seconds",
		"Duration of the newest successful backup of a database.", backupLabels, nil)
	backupSizeDesc = prometheus.NewDesc("canopy_backup_last_size_bytes",
		"Size of the newest successful backup of a database.", backupLabels, nil)
)

// collectTimeout bounds a scrape's reads; they come from the informer cache and are fast unless the
// cache is not synced yet.
const collectTimeout = 5 * time.Second

// stateCollector reads Stacks and BackupPolicies from a reader (the manager's cache) at each scrape.
type stateCollector struct {
	source atomic.Pointer[client.Reader]
}

var state = &stateCollector{}

// WatchState makes the state gauges read from r, the manager's cache. Until it is called (and while
// the cache cannot answer) the gauges have no series.
func WatchState(r client.Reader) {
	state.source.Store(&r)
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{stackReadyDesc, stackStalledDesc, backupExpectedDesc, backupLastSuccessDesc, backupDurationDesc, backupSizeDesc} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.source.Load()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	var stacks canopyv1alpha1.StackList
	if err := (*r).List(ctx, &stacks); err == nil {
		for i := range stacks.Items {
			collectStack(ch, &stacks.Items[i])
		}
	}
	var policies componentsv1alpha1.BackupPolicyList
	if err := (*r).List(ctx, &policies); err == nil {
		collectBackups(ch, policies.Items)
	}
}

func collectStack(ch chan<- prometheus.Metric, s *canopyv1alpha1.Stack) {
	gauge := func(d *prometheus.Desc, condition string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, boolValue(meta.IsStatusConditionTrue(s.Status.Conditions, condition)), s.Namespace,
			s.Name)
	}
	gauge(stackReadyDesc, componentsv1alpha1.ConditionReady)
	gauge(stackStalledDesc, componentsv1alpha1.ConditionStalled)
}

// collectBackups reports each database once. A Stack makes one BackupPolicy per database, but a
// second one (made by hand, or the old one still being deleted) must not emit the same series
// twice: the registry would then refuse the whole scrape. Backups are expected since the earliest
// policy; the newest success of any counts.
func collectBackups(ch chan<- prometheus.Metric, policies []componentsv1alpha1.BackupPolicy) {
	type database struct{ namespace, name string }
	since := map[database]time.Time{}
	newest := map[database]*componentsv1alpha1.BackupRecord{}
	for i := range policies {
		bp := &policies[i]
		db := database{bp.Namespace, bp.Spec.DatabaseName}
		if t, ok := since[db]; !ok || bp.CreationTimestamp.Time.Before(t) {
			since[db] = bp.CreationTimestamp.Time
		}
		last := bp.Status.LastSuccessfulBackup
		if last == nil || last.CompletionTime == nil {
			continue
		}
		if n := newest[db]; n == nil || n.CompletionTime.Before(last.CompletionTime) {
			newest[db] = last
		}
	}
	for db, t := range since {
		ch <- prometheus.MustNewConstMetric(backupExpectedDesc, prometheus.GaugeValue, float64(t.Unix()), db.namespace, db.name)
	}
	for db, last := range newest {
		labels := []string{db.namespace, db.name}
		ch <- prometheus.MustNewConstMetric(backupLastSuccessDesc, prometheus.GaugeValue, float64(last.CompletionTime.Unix()), labels...)
		ch <- prometheus.MustNewConstMetric(backupSizeDesc, prometheus.GaugeValue, float64(last.SizeBytes), labels...)
		if last.StartTime != nil {
			ch <- prometheus.MustNewConstMetric(backupDurationDesc, prometheus.GaugeValue, last.CompletionTime.Sub(last.StartTime.Time).Seconds(), labels...)
		}
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
