// Package v1alpha1 holds Canopy's public API: the Stack, one per application.
//
// +kubebuilder:object:generate=true
// +groupName=canopy.dev
package v1alpha1
