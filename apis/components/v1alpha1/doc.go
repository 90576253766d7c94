// Package v1alpha1 holds the internal component API of Canopy: Database, Frontend and BackupPolicy.
//
// The stack controller writes only the specs of these kinds and reads only their statuses; each
// component controller reads only its own spec. These types are therefore the whole contract between
// the controllers. Users are not expected to create these objects directly.
//
// +kubebuilder:object:generate=true
// +groupName=components.canopy.dev
package v1alpha1
