package database

import (
	"fmt"
	"regexp"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// RunbookBase is where the alerts' runbooks live (docs/runbooks/ of the repository).
const RunbookBase = "https://github.com/canopy-dev/canopy/blob/main/docs/runbooks/"

func monitoringOn(db *componentsv1alpha1.Database) bool {
	return db.Spec.Monitoring != nil && db.Spec.Monitoring.IsEnabled()
}

// ServiceMonitor has the Prometheus operator scrape the exporter; nil when monitoring is off.
func ServiceMonitor(db *componentsv1alpha1.Database) *monitoringv1.ServiceMonitor {
	if !monitoringOn(db) {
		return nil
	}
	m := db.Spec.Monitoring
	sm := &monitoringv1.ServiceMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: "ServiceMonitor"},
		ObjectMeta: objectMeta(db, Name(db)),
		Spec: monitoringv1.ServiceMonitorSpec{
			Selector:  metav1.LabelSelector{MatchLabels: Labels(db)},
			Endpoints: []monitoringv1.Endpoint{{Port: "metrics", Interval: monitoringv1.Duration(m.Interval)}},
		},
	}
	for k, v := range m.Labels {
		sm.Labels[k] = v
	}
	return sm
}

// PrometheusRule holds the alerts that matter for one database; nil when monitoring is off. Each
// alert links its runbook.
func PrometheusRule(db *componentsv1alpha1.Database) *monitoringv1.PrometheusRule {
	if !monitoringOn(db) {
		return nil
	}
	sel := fmt.Sprintf(`namespace=%q,service=%q`, db.Namespace, Name(db))
	// Any of the data volumes: a major-version upgrade moves the data to data-pg<major>-….
	claim := fmt.Sprintf(`namespace=%q,persistentvolumeclaim=~%q`, db.Namespace, DefaultDataVolume+"(-pg[0-9]+-[0-9a-f]+)?-"+regexp.QuoteMeta(PodName(db)))
	alert := func(name, expr, for_, severity, summary string) monitoringv1.Rule {
		return monitoringv1.Rule{
			Alert:  name,
			Expr:   intstr.FromString(expr),
			For:    ptr.To(monitoringv1.Duration(for_)),
			Labels: map[string]string{"severity": severity, "database": db.Name},
			Annotations: map[string]string{
				"summary":     summary,
				"runbook_url": RunbookBase + name + ".md",
			},
		}
	}
	rules := []monitoringv1.Rule{
		alert("CanopyPostgresDown", fmt.Sprintf(`pg_up{%s} == 0 or absent(pg_up{%s})`, sel, sel), "2m", "critical",
			fmt.Sprintf("PostgreSQL of %s/%s is down", db.Namespace, db.Name)),
		alert("CanopyPostgresConnectionsNearMax",
			fmt.Sprintf(`sum(pg_stat_activity_count{%s}) / max(pg_settings_max_connections{%s}) > 0.85`, sel, sel), "5m", "warning",
			fmt.Sprintf("PostgreSQL of %s/%s uses more than 85%% of max_connections", db.Namespace, db.Name)),
		alert("CanopyPostgresVolumeAlmostFull",
			fmt.Sprintf(`kubelet_volume_stats_available_bytes{%s} / kubelet_volume_stats_capacity_bytes{%s} < 0.10`, claim, claim), "5m", "warning",
			fmt.Sprintf("the data volume of %s/%s is more than 90%% full", db.Namespace, db.Name)),
	}
	if age, err := time.ParseDuration(db.Spec.Monitoring.BackupMaxAge); err == nil && age > 0 {
		// A database whose backups never succeeded counts from when they were first expected; no
		// series at all (the manager down or not scraped) fires as well: silence is not safety.
		bsel := fmt.Sprintf(`database_namespace=%q,database=%q`, db.Namespace, db.Name)
		rules = append(rules, alert("CanopyBackupTooOld",
			fmt.Sprintf(`time() - max(canopy_backup_last_success_timestamp_seconds{%s} or canopy_backup_expected_since_timestamp_seconds{%s}) > %d`+
				` or absent(canopy_backup_expected_since_timestamp_seconds{%s})`,
				bsel, bsel, int64(age.Seconds()), bsel),
			"10m", "warning", fmt.Sprintf("no successful backup of %s/%s in %s", db.Namespace, db.Name, db.Spec.Monitoring.BackupMaxAge)))
	}
	pr := &monitoringv1.PrometheusRule{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: "PrometheusRule"},
		ObjectMeta: objectMeta(db, Name(db)),
		Spec:       monitoringv1.PrometheusRuleSpec{Groups: []monitoringv1.RuleGroup{{Name: "canopy-postgres-" + db.Name, Rules: rules}}},
	}
	for k, v := range db.Spec.Monitoring.Labels {
		pr.Labels[k] = v
	}
	return pr
}
