package promrules

import (
	"fmt"
	"strings"
	"time"
)

// seg is a stretch of a series: value v (or "_", no sample) for d, with an optional increment per
// sample (a counter).
type seg struct {
	v   string
	d   time.Duration
	inc string
}

func series(name string, segs ...seg) string {
	parts := make([]string, 0, len(segs))
	for _, g := range segs {
		if g.inc != "" {
			parts = append(parts, fmt.Sprintf("%s+%sx%d", g.v, g.inc, n(g.d)-1))
			continue
		}
		parts = append(parts, samples(g.v, n(g.d)))
	}
	return name + " " + strings.Join(parts, " ")
}

const (
	h = time.Hour
	m = time.Minute
)

// The label sets the golden PrometheusRule (database apps/shop, backups expected every 48h) and the
// operator's rules (job of the manager's metrics Service) select.
const (
	pg      = `{namespace="apps",service="shop-postgres"}`
	backup  = `{database_namespace="apps",database="shop"}`
	other   = `{database_namespace="apps",database="blog"}`
	claim   = `{namespace="apps",persistentvolumeclaim="data-pg17-3f2a-shop-postgres-0"}`
	manager = `{job="canopy-controller-manager-metrics-service"}`
	// The manager's series as two processes report them: a restart replaces the pod, and with it
	// the instance label.
	errorsOld = `controller_runtime_reconcile_errors_total{job="canopy-controller-manager-metrics-service",controller="database",instance="a"}`
	errorsNew = `controller_runtime_reconcile_errors_total{job="canopy-controller-manager-metrics-service",controller="database",instance="b"}`
	driftOld  = `canopy_drift_corrections_total{job="canopy-controller-manager-metrics-service",kind="Deployment",action="overwritten",instance="a"}`
	driftNew  = `canopy_drift_corrections_total{job="canopy-controller-manager-metrics-service",kind="Deployment",action="overwritten",instance="b"}`
	drift     = `canopy_drift_corrections_total{job="canopy-controller-manager-metrics-service",kind="Deployment",action="overwritten"}`
	stalled   = `canopy_stack_stalled{job="canopy-controller-manager-metrics-service",stack_namespace="apps",stack="shop"}`
	stalledA  = `canopy_stack_stalled{job="canopy-controller-manager-metrics-service",stack_namespace="apps",stack="shop",instance="a"}`
	stalledB  = `canopy_stack_stalled{job="canopy-controller-manager-metrics-service",stack_namespace="apps",stack="shop",instance="b"}`
)

func hours(x float64) string { return fmt.Sprint(int64(x * 3600)) }

// scenarios holds, per alert, histories that must and must not make it fire.
func scenarios() map[string][]scenario {
	return map[string][]scenario{
		"CanopyBackupTooOld": {
			{name: "a backup a day keeps it silent", series: []string{
				series("canopy_backup_expected_since_timestamp_seconds"+backup, seg{v: "0", d: 72 * h}),
				series("canopy_backup_last_success_timestamp_seconds"+backup,
					seg{v: "_", d: 2 * h}, seg{v: hours(2), d: 24 * h}, seg{v: hours(26), d: 24 * h}, seg{v: hours(50), d: 22 * h}),
			}, at: map[time.Duration]bool{47 * h: false, 60 * h: false, 71 * h: false}},
			{name: "backups stop succeeding", series: []string{
				series("canopy_backup_expected_since_timestamp_seconds"+backup, seg{v: "0", d: 60 * h}),
				series("canopy_backup_last_success_timestamp_seconds"+backup, seg{v: "_", d: 2 * h}, seg{v: hours(2), d: 58 * h}),
			}, at: map[time.Duration]bool{49 * h: false, 50*h + 5*m: false, 50*h + 15*m: true}},
			// The manager restarts at 30h; the new process reports the backup it never saw
			// finish (the gauges come from status), so the alert fires on time.
			{name: "a manager restart does not hide a stale backup", series: []string{
				series("canopy_backup_expected_since_timestamp_seconds"+backup, seg{v: "0", d: 30 * h}, seg{v: "_", d: 10 * m}, seg{v: "0", d: 30 * h}),
				series("canopy_backup_last_success_timestamp_seconds"+backup,
					seg{v: "_", d: 2 * h}, seg{v: hours(2), d: 28 * h}, seg{v: "_", d: 10 * m}, seg{v: hours(2), d: 30 * h}),
			}, at: map[time.Duration]bool{30*h + 10*m: false, 49 * h: false, 50*h + 15*m: true}},
			{name: "backups that never succeeded", series: []string{
				series("canopy_backup_expected_since_timestamp_seconds"+backup, seg{v: "0", d: 50 * h}),
				series("canopy_backup_last_success_timestamp_seconds"+other, seg{v: hours(1), d: 50 * h}),
			}, at: map[time.Duration]bool{47 * h: false, 48*h + 5*m: false, 48*h + 15*m: true}},
			{name: "no series at all: the manager is down or not scraped", series: []string{
				series("canopy_backup_expected_since_timestamp_seconds"+other, seg{v: "0", d: 2 * h}),
			}, at: map[time.Duration]bool{5 * m: false, 15 * m: true, 2 * h: true}},
		},
		"CanopyPostgresDown": {
			{name: "up", series: []string{series("pg_up"+pg, seg{v: "1", d: h})}, at: map[time.Duration]bool{30 * m: false, 55 * m: false}},
			{name: "down", series: []string{series("pg_up"+pg, seg{v: "1", d: 20 * m}, seg{v: "0", d: 40 * m})},
				at: map[time.Duration]bool{20 * m: false, 21 * m: false, 23 * m: true}},
			{name: "the exporter is gone", series: []string{series("pg_up"+pg, seg{v: "1", d: 20 * m})},
				at: map[time.Duration]bool{20 * m: false, 24 * m: false, 27 * m: true}},
		},
		"CanopyPostgresConnectionsNearMax": {
			{name: "half used", series: []string{
				series("pg_stat_activity_count"+pg, seg{v: "50", d: h}),
				series("pg_settings_max_connections"+pg, seg{v: "100", d: h}),
			}, at: map[time.Duration]bool{50 * m: false}},
			{name: "nearly all used", series: []string{
				series("pg_stat_activity_count"+pg, seg{v: "50", d: 20 * m}, seg{v: "90", d: 40 * m}),
				series("pg_settings_max_connections"+pg, seg{v: "100", d: h}),
			}, at: map[time.Duration]bool{22 * m: false, 26 * m: true}},
			// The exporter's absence is CanopyPostgresDown's, not this alert's (docs/monitoring.md).
			{name: "no exporter series", series: []string{series("pg_up"+pg, seg{v: "0", d: h})}, at: map[time.Duration]bool{50 * m: false}},
			{name: "the exporter goes while connections are high", series: []string{
				series("pg_stat_activity_count"+pg, seg{v: "90", d: 20 * m}, seg{v: "stale", d: 40 * m}),
				series("pg_settings_max_connections"+pg, seg{v: "100", d: 20 * m}, seg{v: "stale", d: 40 * m}),
			}, at: map[time.Duration]bool{10 * m: true, 30 * m: false, 55 * m: false}},
		},
		"CanopyPostgresVolumeAlmostFull": {
			{name: "room left", series: []string{
				series("kubelet_volume_stats_available_bytes"+claim, seg{v: "500", d: h}),
				series("kubelet_volume_stats_capacity_bytes"+claim, seg{v: "1000", d: h}),
			}, at: map[time.Duration]bool{50 * m: false}},
			{name: "nearly full", series: []string{
				series("kubelet_volume_stats_available_bytes"+claim, seg{v: "500", d: 20 * m}, seg{v: "50", d: 40 * m}),
				series("kubelet_volume_stats_capacity_bytes"+claim, seg{v: "1000", d: h}),
			}, at: map[time.Duration]bool{22 * m: false, 26 * m: true}},
			// Without kubelet volume metrics (not every Prometheus scrapes kubelets) this alert
			// cannot know: documented, not guessed (docs/monitoring.md).
			{name: "no kubelet metrics", series: []string{series("pg_up"+pg, seg{v: "1", d: h})}, at: map[time.Duration]bool{50 * m: false}},
		},
		"CanopyManagerDown": {
			{name: "scraped", series: []string{series("up"+manager, seg{v: "1", d: h})}, at: map[time.Duration]bool{50 * m: false}},
			{name: "the scrape fails", series: []string{series("up"+manager, seg{v: "1", d: 20 * m}, seg{v: "0", d: 40 * m})},
				at: map[time.Duration]bool{23 * m: false, 27 * m: true}},
			{name: "not scraped at all", series: []string{series(`up{job="something-else"}`, seg{v: "1", d: h})},
				at: map[time.Duration]bool{3 * m: false, 6 * m: true}},
		},
		"CanopyReconcileErrors": {
			{name: "one conflict now and then", series: []string{
				series(`controller_runtime_reconcile_errors_total{job="canopy-controller-manager-metrics-service",controller="stack"}`,
					seg{v: "0", d: 20 * m}, seg{v: "1", d: 20 * m}, seg{v: "2", d: 20 * m}),
			}, at: map[time.Duration]bool{55 * m: false}},
			{name: "a controller keeps failing", series: []string{
				series(`controller_runtime_reconcile_errors_total{job="canopy-controller-manager-metrics-service",controller="database"}`,
					seg{v: "0", d: 10 * m}, seg{v: "0", d: 50 * m, inc: "3"}),
			}, at: map[time.Duration]bool{20 * m: false, 31 * m: true}},
			// rate() takes a counter's drop for a restart: the errors the new process counts from
			// zero carry on the same alert, which fires on time.
			{name: "the errors go on across a restart of the counter", series: []string{
				series(`controller_runtime_reconcile_errors_total{job="canopy-controller-manager-metrics-service",controller="database"}`,
					seg{v: "0", d: 10 * m}, seg{v: "0", d: 13 * m, inc: "3"}, seg{v: "_", d: 2 * m}, seg{v: "0", d: 35 * m, inc: "3"}),
			}, at: map[time.Duration]bool{24 * m: false, 27 * m: true, 50 * m: true}},
			{name: "the errors go on in a new pod", series: []string{
				series(errorsOld, seg{v: "0", d: 10 * m}, seg{v: "0", d: 13 * m, inc: "3"}, seg{v: "stale", d: 37 * m}),
				series(errorsNew, seg{v: "_", d: 25 * m}, seg{v: "0", d: 35 * m, inc: "3"}),
			}, at: map[time.Duration]bool{24 * m: false, 27 * m: true, 50 * m: true}},
			// A restart is no error: the counter falling to zero adds nothing, and errors that
			// ended with the old process leave the alert silent.
			{name: "a restart ends the errors", series: []string{
				series(errorsOld, seg{v: "0", d: 10 * m}, seg{v: "0", d: 10 * m, inc: "3"}, seg{v: "stale", d: 40 * m}),
				series(errorsNew, seg{v: "_", d: 22 * m}, seg{v: "0", d: 38 * m}),
			}, at: map[time.Duration]bool{25 * m: false, 40 * m: false, 59 * m: false}},
			{name: "a restart after old errors", series: []string{
				series(`controller_runtime_reconcile_errors_total{job="canopy-controller-manager-metrics-service",controller="database"}`,
					seg{v: "40", d: 30 * m}, seg{v: "_", d: 2 * m}, seg{v: "0", d: 28 * m}),
			}, at: map[time.Duration]bool{31 * m: false, 45 * m: false, 59 * m: false}},
		},
		"CanopyStackStalled": {
			{name: "ready", series: []string{series(`canopy_stack_stalled{job="canopy-controller-manager-metrics-service",stack_namespace="apps",stack="shop"}`,
				seg{v: "0", d: h})}, at: map[time.Duration]bool{50 * m: false}},
			{name: "stalled", series: []string{series(`canopy_stack_stalled{job="canopy-controller-manager-metrics-service",stack_namespace="apps",stack="shop"}`,
				seg{v: "0", d: 20 * m}, seg{v: "1", d: 40 * m})}, at: map[time.Duration]bool{22 * m: false, 27 * m: true}},
			{name: "no longer stalled", series: []string{series(stalled, seg{v: "0", d: 20 * m}, seg{v: "1", d: 10 * m}, seg{v: "0", d: 30 * m})},
				at: map[time.Duration]bool{27 * m: true, 31 * m: false, 50 * m: false}},
			// A failed scrape marks the series stale; the Stack is as Stalled as before it: the
			// alert neither starts its 5 minutes again nor resolves and fires again.
			{name: "stalled across a failed scrape", series: []string{series(stalled,
				seg{v: "0", d: 20 * m}, seg{v: "1", d: 3 * m}, seg{v: "stale", d: 2 * m}, seg{v: "1", d: 35 * m})},
				at: map[time.Duration]bool{24 * m: false, 26 * m: true, 50 * m: true}},
			{name: "stalled across a manager restart", series: []string{
				series(stalledA, seg{v: "0", d: 20 * m}, seg{v: "1", d: 10 * m}, seg{v: "stale", d: 30 * m}),
				series(stalledB, seg{v: "_", d: 32 * m}, seg{v: "1", d: 28 * m}),
			}, at: map[time.Duration]bool{27 * m: true, 31 * m: true, 33 * m: true, 50 * m: true}},
		},
		"CanopyDriftCorrections": {
			{name: "a correction or two", series: []string{series(`canopy_drift_corrections_total{job="canopy-controller-manager-metrics-service",kind="StatefulSet",action="recreated"}`,
				seg{v: "0", d: 30 * m}, seg{v: "2", d: 90 * m})}, at: map[time.Duration]bool{110 * m: false}},
			{name: "something fights Canopy", series: []string{series(`canopy_drift_corrections_total{job="canopy-controller-manager-metrics-service",kind="Deployment",action="overwritten"}`,
				seg{v: "0", d: 10 * m}, seg{v: "0", d: 110 * m, inc: "0.2"})}, at: map[time.Duration]bool{20 * m: false, 70 * m: true}},
			// increase() adds across a restart: the corrections of both processes count.
			{name: "the fight goes on across a restart of the counter", series: []string{series(drift,
				seg{v: "0", d: 10 * m}, seg{v: "0", d: 20 * m, inc: "0.2"}, seg{v: "_", d: 2 * m}, seg{v: "0", d: 88 * m, inc: "0.2"})},
				at: map[time.Duration]bool{25 * m: false, 50 * m: true, 110 * m: true}},
			{name: "the fight goes on in a new pod", series: []string{
				series(driftOld, seg{v: "0", d: 10 * m}, seg{v: "0", d: 20 * m, inc: "0.2"}, seg{v: "stale", d: 90 * m}),
				series(driftNew, seg{v: "_", d: 32 * m}, seg{v: "0", d: 88 * m, inc: "0.2"}),
			}, at: map[time.Duration]bool{25 * m: false, 50 * m: true, 110 * m: true}},
			// A counter that falls to zero at a restart is no correction.
			{name: "a restart after a few corrections", series: []string{series(drift,
				seg{v: "4", d: 30 * m}, seg{v: "_", d: 2 * m}, seg{v: "0", d: 88 * m})},
				at: map[time.Duration]bool{31 * m: false, 60 * m: false, 110 * m: false}},
		},
	}
}
