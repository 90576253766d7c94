package database

import (
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// everyPass are the children each pass applies whatever the capabilities and the moment: once a
// pass at the current generation completed, each of them existed. (The configuration ConfigMap is
// not one: its name follows its content, which changes when TLS arrives.)
var everyPass = map[string]bool{"Service": true, "NetworkPolicy": true, "PodDisruptionBudget": true, "StatefulSet": true}

// recreated reports whether creating a child of this kind now restores one that someone deleted:
// a remediation, reported as an event and counted. db.Status is still the last pass's.
func recreated(db *componentsv1alpha1.Database, kind string) bool {
	if !everyPass[kind] || db.Status.ObservedGeneration != db.Generation {
		return false
	}
	// A major upgrade replaces the StatefulSet itself, and so does its rollback.
	if kind == "StatefulSet" && db.Status.MajorUpgrade != nil && db.Status.MajorUpgrade.Phase == componentsv1alpha1.PhaseRunning {
		return false
	}
	return true
}
