package backuppolicy

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/backup"
)

// TestDeleteWithBackupRetentionDeletePurges: a policy with backupRetention: Delete carries a
// finalizer; deleting it stops the schedule, runs `canopy agent purge` for its stack against its
// destination, then deletes the backup volume and goes. A purge that fails is reported and holds
// the policy until its Job is deleted (a new purge runs) or canopy.dev/skip-backup-purge=true lets
// it go with its backups and volume kept. With Retain there is no finalizer and nothing is deleted.
func TestDeleteWithBackupRetentionDeletePurges(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	gone := func(obj client.Object, name string) bool {
		err := h.Get(obj, name)
		// envtest runs no pvc-protection controller: a deleted claim may stay, marked for deletion.
		return apierrors.IsNotFound(err) || (err == nil && !obj.GetDeletionTimestamp().IsZero())
	}
	prepare := func(name string, retention componentsv1alpha1.RetainPolicy) *componentsv1alpha1.BackupPolicy {
		h.database(name)
		h.policy(name, func(bp *componentsv1alpha1.BackupPolicy) { bp.Spec.BackupRetention = retention })
		h.Eventually(func() bool {
			bp := &componentsv1alpha1.BackupPolicy{}
			return h.Get(bp, name) == nil && h.Get(&batchv1.CronJob{}, name+"-backup") == nil && h.Get(&corev1.PersistentVolumeClaim{},
				name+"-backups") == nil &&
				slices.Contains(bp.Finalizers, BackupsFinalizer) == (retention == componentsv1alpha1.Delete)
		}, "the policy runs, with the finalizer only when its backups are to be deleted")
		bp := h.get(name)
		require.NoError(t, h.C.Delete(ctx, bp))
		return bp
	}

	// Delete: the purge runs, then the volume goes.
	bp := prepare("purged", componentsv1alpha1.Delete)
	job := &batchv1.Job{}
	h.Eventually(func() bool { return h.Get(job, desired.PurgeJobName(bp)) == nil }, "the purge Job starts")
	args := strings.Join(job.Spec.Template.Spec.Containers[0].Args, " ")
	require.Contains(t, args, "agent "+agent.OperationPurge+" "+agent.FlagStack+"="+h.NS+".purged", "the backups of this stack, as the backup Jobs store them")
	require.Contains(t, args, agent.FlagVolumePath)
	require.True(t, gone(&batchv1.CronJob{}, "purged-backup"), "no scheduled backup starts during the purge")
	require.False(t, gone(&corev1.PersistentVolumeClaim{}, "purged-backups"), "the volume stays until the purge is done")
	h.finish(job.Name, agent.Result{Operation: agent.OperationPurge, Succeeded: true, Deleted: []string{"purged-1", "purged-2"}})
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&componentsv1alpha1.BackupPolicy{}, "purged")) }, "the policy goes")
	require.True(t, gone(&corev1.PersistentVolumeClaim{}, "purged-backups"), "the backup volume is deleted")

	// A failed purge is reported, runs again when its Job is deleted, and can be skipped.
	bp = prepare("stuck", componentsv1alpha1.Delete)
	h.Eventually(func() bool { return h.Get(job, desired.PurgeJobName(bp)) == nil }, "the purge Job starts")
	h.finish(job.Name, agent.Result{Operation: agent.OperationPurge, Reason: agent.ReasonUnauthorized, Message: "access denied by the bucket"})
	h.Eventually(func() bool {
		c := conditions.Get(h.get("stuck"), componentsv1alpha1.ConditionStalled)
		return c != nil && c.Reason == componentsv1alpha1.ReasonPurgeFailed && strings.Contains(c.Message, "access denied by the bucket") &&
			strings.Contains(c.Message, canopyv1alpha1.AnnotationSkipBackupPurge)
	}, "the failed purge is reported with what to do")
	require.NoError(t, h.C.Delete(ctx, job, client.PropagationPolicy("Background")))
	h.Eventually(func() bool {
		again := &batchv1.Job{}
		return h.Get(again, desired.PurgeJobName(bp)) == nil && again.UID != job.UID
	}, "deleting the failed Job runs the purge again")
	h.Eventually(func() bool {
		p := h.get("stuck")
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[canopyv1alpha1.AnnotationSkipBackupPurge] = "true"
		return h.C.Update(ctx, p) == nil
	}, "the purge is skipped")
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&componentsv1alpha1.BackupPolicy{}, "stuck")) }, "the policy goes")
	require.False(t, gone(&corev1.PersistentVolumeClaim{}, "stuck-backups"), "a skipped purge keeps the backup volume")

	// Retain: no finalizer, nothing deleted, no purge.
	prepare("kept", componentsv1alpha1.Retain)
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&componentsv1alpha1.BackupPolicy{}, "kept")) }, "the policy goes at once")
	require.True(t, apierrors.IsNotFound(h.Get(&batchv1.Job{}, "kept-purge")), "no purge")
	require.False(t, gone(&corev1.PersistentVolumeClaim{}, "kept-backups"), "the backups' volume is kept")
}
