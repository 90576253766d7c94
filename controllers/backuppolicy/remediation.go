package backuppolicy

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/apply"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/metrics"
)

// scheduleWritten reports whether the last pass, at the current generation, wrote the CronJob and
// the backup volume, so that creating one now restores what someone deleted. bp.Status is still
// the last pass's. Every pass writes them but one that waits for the Database or stalls on the
// spec or a destination Secret; those leave Ready False, and the only other Ready False is a
// failed backup that needs a person, which comes after the schedule was written.
func scheduleWritten(bp *componentsv1alpha1.BackupPolicy) bool {
	if bp.Status.ObservedGeneration != bp.Generation {
		return false
	}
	if conditions.IsTrue(bp, componentsv1alpha1.ConditionReady) {
		return true
	}
	stalled := conditions.Get(bp, componentsv1alpha1.ConditionStalled)
	failed := bp.Status.LastFailedBackup
	return stalled != nil && failed != nil && stalled.Reason == failed.Reason
}

// reportRemediation reports a write of kind that undid someone's change: an event and the drift
// counter, as the other controllers do.
func (r *Reconciler) reportRemediation(ctx context.Context, bp *componentsv1alpha1.BackupPolicy, kind string, obj client.Object, res apply.Result) {
	switch {
	case res == apply.DriftCorrected:
		metrics.DriftCorrections.WithLabelValues(kind, "overwritten").Inc()
		r.Recorder.Eventf(bp, corev1.EventTypeWarning, "Overwritten", "the %s %s was changed by hand; the change has been reverted", kind, obj.GetName())
	case res == apply.Created && scheduleWritten(bp):
		metrics.DriftCorrections.WithLabelValues(kind, "recreated").Inc()
		r.Recorder.Eventf(bp, corev1.EventTypeWarning, "Recreated", "the %s %s was deleted and has been recreated", kind, obj.GetName())
		log.FromContext(ctx).Info("recreated a deleted child", "kind", kind, "name", obj.GetName())
	}
}
