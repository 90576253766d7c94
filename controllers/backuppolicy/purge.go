package backuppolicy

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/apply"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/backup"
	"github.com/canopy-dev/canopy/internal/desired/common"
	"github.com/canopy-dev/canopy/internal/destsecrets"
	"github.com/canopy-dev/canopy/internal/images"
	"github.com/canopy-dev/canopy/internal/patch"
)

// BackupsFinalizer holds a BackupPolicy whose backupRetention is Delete until its backups are
// purged. Only such a policy carries it: one that keeps its backups never waits on Canopy.
const BackupsFinalizer = "canopy.dev/backups"

// reconcileDelete carries out backupRetention: Delete for a policy being deleted: no new backup
// starts (the CronJob goes, running backup Jobs are stopped), a purge Job deletes every backup of
// the stack at the destination, then the backup volume Canopy created goes and the finalizer is
// removed. A purge that fails is reported (Stalled, PurgeFailed) and waits: deleting its Job runs
// it again, and canopy.dev/skip-backup-purge=true lets the policy go with its backups kept. A purge
// that cannot start because its S3 credentials Secret is missing or incomplete starts no Job and
// deletes nothing: the policy is Stalled with the Secret's reason (SecretNotFound,
// SecretKeyMissing), looks again with a backoff, and purges once the Secret is there; the same
// annotation lets it go meanwhile. It never waits on anything that cannot end.
func (r *Reconciler) reconcileDelete(ctx context.Context, bp *componentsv1alpha1.BackupPolicy) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(bp, BackupsFinalizer) {
		return ctrl.Result{}, nil
	}
	if bp.Spec.BackupRetention != componentsv1alpha1.Delete {
		return ctrl.Result{}, r.release(ctx, bp)
	}
	if bp.Annotations[canopyv1alpha1.AnnotationSkipBackupPurge] == "true" {
		r.Recorder.Eventf(bp, corev1.EventTypeWarning, "PurgeSkipped", "the backups were not deleted (%s=true): they and their volume are kept",
			canopyv1alpha1.AnnotationSkipBackupPurge)
		return ctrl.Result{}, r.release(ctx, bp)
	}
	if err := apply.DeleteControlled(ctx, r.Client, bp, client.ObjectKey{Namespace: bp.Namespace, Name: desired.Name(bp)}, &batchv1.CronJob{}); err != nil {
		return ctrl.Result{}, fmt.Errorf("removing the schedule: %w", err)
	}
	stopping, err := r.stopBackups(ctx, bp)
	if err != nil || stopping {
		return ctrl.Result{}, err // the Jobs' deletion is watched
	}

	job := &batchv1.Job{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: bp.Namespace, Name: desired.PurgeJobName(bp)}, job); {
	case apierrors.IsNotFound(err):
		// A purge Job whose S3 credentials Secret is missing would wait, not started, until its
		// deadline: the policy says so at once instead, deletes nothing, and looks again later.
		problem, err := r.checkSecrets(ctx, bp, purgeUse)
		if err != nil {
			return ctrl.Result{}, err
		}
		if problem != nil {
			msg := fmt.Sprintf("%s (nothing is deleted meanwhile); or annotate the Stack %s=true to keep the backups and let it go",
				problem.Message, canopyv1alpha1.AnnotationSkipBackupPurge)
			if err := r.markPurge(ctx, bp, problem.Reason, msg); err != nil {
				return ctrl.Result{}, err
			}
			return ctrl.Result{RequeueAfter: destsecrets.Recheck(bp, r.Now())}, nil // the Secret is not watched
		}
		want := desired.PurgeJob(bp, desired.Input{AgentImage: images.Resolve(images.Canopy, r.Getenv)})
		if _, err := apply.Create(ctx, r.Client, r.APIReader, want); err != nil {
			return ctrl.Result{}, fmt.Errorf("starting the purge Job: %w", err)
		}
		return ctrl.Result{}, r.markPurge(ctx, bp, "", "deleting every backup of "+common.StackName(bp))
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("reading the purge Job: %w", err)
	}
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(bp.Namespace), client.MatchingLabels{"job-name": job.Name}); err != nil {
		return ctrl.Result{}, fmt.Errorf("listing the pods of %s: %w", job.Name, err)
	}
	f, done := jobOutcome(job, pods.Items)
	switch {
	case !done:
		return ctrl.Result{}, nil // the Job is watched
	case !f.succeeded || f.result == nil || f.result.Operation != agent.OperationPurge:
		msg := "the purge Job " + job.Name + " failed"
		if f.result != nil {
			msg += ": " + f.result.Message
		} else if f.message != "" {
			msg += ": " + f.message
		}
		msg += fmt.Sprintf(". Fix the cause and delete the Job to run it again, or annotate the Stack %s=true to keep the backups and let it go",
			canopyv1alpha1.AnnotationSkipBackupPurge)
		return ctrl.Result{}, r.markPurge(ctx, bp, componentsv1alpha1.ReasonPurgeFailed, msg)
	}
	r.Recorder.Eventf(bp, corev1.EventTypeNormal, "BackupsPurged", "deleted %d backups (backupRetention: Delete)", len(f.result.Deleted))
	if err := r.deleteVolume(ctx, bp); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.release(ctx, bp)
}

// stopBackups deletes the policy's backup Jobs that still run, so that none writes a backup after
// the purge; it reports whether any was running.
func (r *Reconciler) stopBackups(ctx context.Context, bp *componentsv1alpha1.BackupPolicy) (bool, error) {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(bp.Namespace), client.MatchingLabels{desired.LabelPolicy: bp.Name}); err != nil {
		return false, fmt.Errorf("listing backup Jobs: %w", err)
	}
	stopping := false
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Labels[desired.LabelTrigger] == desired.TriggerPurge || jobEnded(j) {
			continue
		}
		stopping = true
		if j.DeletionTimestamp.IsZero() {
			if err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationForeground)); client.IgnoreNotFound(err) != nil {
				return false, fmt.Errorf("stopping the backup Job %s: %w", j.Name, err)
			}
		}
	}
	return stopping, nil
}

// deleteVolume deletes the backup volume Canopy created for the policy (never a claim the user
// named in destination.volume.claimName, nor one that is not Canopy's).
func (r *Reconciler) deleteVolume(ctx context.Context, bp *componentsv1alpha1.BackupPolicy) error {
	want := desired.VolumeClaim(bp)
	if want == nil {
		return nil
	}
	have := &corev1.PersistentVolumeClaim{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(want), have); err != nil {
		return client.IgnoreNotFound(err)
	}
	if have.Labels[common.LabelManagedBy] != common.ManagedBy || have.Labels[desired.LabelPolicy] != bp.Name {
		return nil
	}
	if err := r.Delete(ctx, have, client.Preconditions{UID: &have.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting the backup volume %s: %w", have.Name, err)
	}
	r.Recorder.Eventf(bp, corev1.EventTypeNormal, "VolumeDeleted", "deleted the backup volume %s (backupRetention: Delete)", have.Name)
	return nil
}

// release removes the finalizer: the policy goes.
func (r *Reconciler) release(ctx context.Context, bp *componentsv1alpha1.BackupPolicy) error {
	return patch.Finalizer(ctx, r.Client, bp, BackupsFinalizer, false)
}

// markPurge reports the purge in status: in progress (reason "") or failed.
func (r *Reconciler) markPurge(ctx context.Context, bp *componentsv1alpha1.BackupPolicy, reason, msg string) error {
	before := bp.DeepCopy()
	if reason == "" {
		conditions.MarkReconciling(bp, componentsv1alpha1.ReasonPurging, msg)
	} else {
		conditions.MarkStalled(bp, reason, msg)
	}
	return client.IgnoreNotFound(patch.Status(ctx, r.Client, bp, before, func(x *componentsv1alpha1.BackupPolicy) any { return x.Status }))
}
