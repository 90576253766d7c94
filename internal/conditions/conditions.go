// Package conditions sets kstatus-style conditions on Canopy objects: Ready is always present,
// Reconciling and Stalled are present only while true. The functions are pure so that status
// computation can be table-tested.
package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// Object is a Kubernetes object with status conditions.
type Object interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// Set adds or updates a condition, stamping the object's generation. The transition time changes
// only when the status changes, so repeated reconciles do not make status flap.
func Set(obj Object, condType string, status metav1.ConditionStatus, reason, message string) {
	conds := obj.GetConditions()
	meta.SetStatusCondition(&conds, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.GetGeneration(),
	})
	obj.SetConditions(conds)
}

// Remove deletes a condition.
func Remove(obj Object, condType string) {
	conds := obj.GetConditions()
	meta.RemoveStatusCondition(&conds, condType)
	obj.SetConditions(conds)
}

// Get returns the condition of a type, or nil.
func Get(obj Object, condType string) *metav1.Condition {
	return meta.FindStatusCondition(obj.GetConditions(), condType)
}

// IsTrue reports whether the condition of a type is present and True.
func IsTrue(obj Object, condType string) bool {
	return meta.IsStatusConditionTrue(obj.GetConditions(), condType)
}

// MarkReady records that the object does what its spec asks: Ready=True, no Reconciling, no Stalled.
func MarkReady(obj Object, reason, message string) {
	Set(obj, componentsv1alpha1.ConditionReady, metav1.ConditionTrue, reason, message)
	Remove(obj, componentsv1alpha1.ConditionReconciling)
	Remove(obj, componentsv1alpha1.ConditionStalled)
}

// MarkReconciling records progress towards the spec: Ready=False and Reconciling=True, no Stalled.
func MarkReconciling(obj Object, reason, message string) {
	Set(obj, componentsv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	Set(obj, componentsv1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	Remove(obj, componentsv1alpha1.ConditionStalled)
}

// MarkStalled records that no progress is possible without a change from a user: Ready=False and
// Stalled=True, no Reconciling.
func MarkStalled(obj Object, reason, message string) {
	Set(obj, componentsv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	Set(obj, componentsv1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message)
	Remove(obj, componentsv1alpha1.ConditionReconciling)
}
