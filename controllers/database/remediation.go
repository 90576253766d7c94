package database

import (
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// everyPass are the children each pass applies whatever the capabilities and the moment (the
// StatefulSet with the exceptions in recreated): once a pass at the current generation completed,
// each of them existed. (The configuration ConfigMap is not one: its name follows its content,
// which changes when TLS arrives.)
var everyPass = map[string]bool{"Service": true, "NetworkPolicy": true, "PodDisruptionBudget": true, "StatefulSet": true}

// monitoringKinds are applied on every pass while the spec asks for monitoring and the Prometheus
// operator's API is served: MonitoringAvailable True in the last pass's status says both.
var monitoringKinds = map[string]bool{"ServiceMonitor": true, "PrometheusRule": true}

// recreated reports whether creating a child of this kind now restores one that someone deleted:
// a remediation, reported as an event and counted. db.Status is still the last pass's.
func recreated(db *componentsv1alpha1.Database, kind string) bool {
	if db.Status.ObservedGeneration != db.Generation {
		return false
	}
	if monitoringKinds[kind] {
		return conditions.IsTrue(db, componentsv1alpha1.ConditionMonitoringAvailable)
	}
	if !everyPass[kind] {
		return false
	}
	if kind != "StatefulSet" {
		return true
	}
	// The StatefulSet is not applied on every pass: a new TLS instance waits for its key pair, and a
	// major upgrade replaces it (and so does its rollback). It existed for sure once the Database was
	// Ready (a StatefulSet deleted before that is recreated without an event).
	running := db.Status.MajorUpgrade != nil && db.Status.MajorUpgrade.Phase == componentsv1alpha1.PhaseRunning
	return !running && db.Status.LastReadyConfigHash != ""
}
