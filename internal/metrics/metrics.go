// Package metrics defines Canopy's Prometheus metrics, registered with controller-runtime's
// registry so that the manager's secured /metrics endpoint serves them.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// backupLabels name the database a backup metric is about. Not "namespace": Prometheus gives that
// label to the scraped target (the manager's namespace) and would rename this one.
var backupLabels = []string{"database_namespace", "database"}

var (
	// StackUpgrades counts finished upgrades by result (succeeded, failed).
	StackUpgrades = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "canopy_stack_upgrades_total",
		Help: "Finished Stack version upgrades, by result.",
	}, []string{"result"})

	// StackRollbacks counts upgrades that were rolled back to the previous version.
	StackRollbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "canopy_stack_rollbacks_total",
		Help: "Stack upgrades rolled back to the last good version.",
	})

	// FrontendRollbacks counts web tier versions that failed to roll out and were rolled back.
	FrontendRollbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "canopy_frontend_rollbacks_total",
		Help: "Web tier versions that did not become available and were rolled back to the last good version.",
	})

	// DatabaseRemediations counts configurations rolled back because PostgreSQL did not become
	// ready with them.
	DatabaseRemediations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "canopy_database_config_remediations_total",
		Help: "PostgreSQL configurations rolled back to the last one that was ready.",
	})

	// BackupFailures counts failed backups.
	BackupFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "canopy_backup_failures_total",
		Help: "Failed backups of a database.",
	}, backupLabels)

	// DriftCorrections counts manual changes to internal objects that Canopy overwrote, and deleted
	// internal objects it recreated, by kind and action.
	DriftCorrections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "canopy_drift_corrections_total",
		Help: "Internal objects whose manual changes were reverted (overwritten) or that were recreated after deletion.",
	}, []string{"kind", "action"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(StackUpgrades, StackRollbacks, FrontendRollbacks, DatabaseRemediations,
		BackupFailures, DriftCorrections, state)
}
