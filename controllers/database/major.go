package database

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/destsecrets"
)

// instance is what the StatefulSet runs: an image and version on one data volume.
type instance struct {
	image, version, dataVolume string
	// keepVolume keeps the claim if the StatefulSet is deleted (during a major upgrade).
	keepVolume bool
}

// majorPlan is what the major-version upgrade decides for one reconcile.
type majorPlan struct {
	// target is the instance the StatefulSet must run.
	target instance
	// replace: the StatefulSet runs another data volume and must go first (its claim is kept);
	// claim templates are immutable.
	replace bool
	// status becomes status.majorUpgrade.
	status *componentsv1alpha1.MajorUpgradeStatus
	// blocked explains a major change that is held back ("" otherwise).
	blocked string
	// secrets: the upgrade's restore waits for a Secret of the backup's destination.
	secrets *destsecrets.Problem
	// hold: no StatefulSet is created (blocked says why).
	hold bool
}

func (p majorPlan) running() bool {
	return p.status != nil && p.status.Phase == componentsv1alpha1.PhaseRunning
}

// currentDataVolume is the claim template the Database's data lives on: the StatefulSet's, else
// what the last major upgrade left, else the claim labelled as current (a recreated Database),
// else the first volume's.
func currentDataVolume(db *componentsv1alpha1.Database, ss stsState) string {
	if ss.exists && ss.dataVolume != "" {
		return ss.dataVolume
	}
	if st := db.Status.MajorUpgrade; st != nil {
		claim := st.VolumeClaim
		if st.Phase == componentsv1alpha1.PhaseFailed || st.Step == componentsv1alpha1.MajorStepRollingBack {
			claim = st.PreviousVolumeClaim
		}
		if v := desired.DataVolumeOfClaim(db, claim); v != "" {
			return v
		}
	}
	if v := desired.DataVolumeOfClaim(db, ss.currentClaim); v != "" {
		return v
	}
	return desired.DefaultDataVolume
}

// planMajor is the major-version upgrade state machine: while the spec asks for another major
// than the StatefulSet runs, the old instance keeps running until spec.majorUpgrade names a backup;
// then the StatefulSet is replaced by one at the new major on a new volume (Replacing), the backup
// is loaded (Restoring), and the upgrade succeeds — or, when the restore fails, the old instance
// comes back on its untouched volume (RollingBack) and the upgrade has failed. A failed attempt is
// not repeated for the same backup. Pure.
func planMajor(db *componentsv1alpha1.Database, ss stsState, wantImage string) majorPlan {
	current := currentDataVolume(db, ss)
	p := majorPlan{status: db.Status.MajorUpgrade.DeepCopy(),
		target: instance{image: wantImage, version: db.Spec.Version, dataVolume: current}}
	toMajor := componentsv1alpha1.MajorVersion(db.Spec.Version)
	if !p.running() {
		if st := p.status; !ss.exists && st != nil && st.Phase == componentsv1alpha1.PhaseFailed && componentsv1alpha1.MajorVersion(st.ToVersion) == toMajor {
			// Recreated after a failed upgrade: the data on the volume is still the old major's.
			p.target = instance{image: st.FromImage, version: st.FromVersion, dataVolume: current}
			return p
		}
		if !ss.exists && ss.currentMajor != "" && ss.currentMajor != toMajor {
			// Recreated on a claim of another major's data (its Database deleted, even mid-upgrade):
			// that major runs it, and an upgrade starts from there as from any running old major.
			if ss.currentImage == "" {
				p.hold, p.blocked = true, fmt.Sprintf("the data volume %s holds PostgreSQL %s's data, which PostgreSQL %s cannot read, and "+
					"spec.image names a custom image: set spec.image to an image of PostgreSQL %s to start it, then upgrade",
					ss.currentClaim, ss.currentMajor, toMajor, ss.currentMajor)
				return p
			}
			p.target = instance{image: ss.currentImage, version: ss.currentMajor, dataVolume: current}
			return p
		}
		runningMajor := componentsv1alpha1.MajorVersion(ss.version)
		if !ss.exists || runningMajor == "" || runningMajor == toMajor {
			return p
		}
		hold := instance{image: ss.image, version: ss.version, dataVolume: current}
		req := db.Spec.MajorUpgrade
		switch {
		case req == nil:
			p.target, p.blocked = hold, fmt.Sprintf("PostgreSQL %s keeps running: the upgrade to %s waits for a backup of it to load "+
				"(spec.majorUpgrade.fromBackup, which the Stack sets once its pre-upgrade backup is taken)", ss.version, db.Spec.Version)
			return p
		case p.status != nil && p.status.Phase == componentsv1alpha1.PhaseFailed && p.status.ToVersion == db.Spec.Version &&
			p.status.BackupName == req.FromBackup.BackupName:
			p.target = hold // reported as failed; a new backup is a new attempt
			return p
		}
		p.status = &componentsv1alpha1.MajorUpgradeStatus{FromVersion: ss.version, FromImage: ss.image, ToVersion: db.Spec.Version,
			BackupName: req.FromBackup.BackupName, Phase: componentsv1alpha1.PhaseRunning, Step: componentsv1alpha1.MajorStepReplacing,
			PreviousVolumeClaim: desired.ClaimName(db, current),
			VolumeClaim:         desired.ClaimName(db, desired.MajorDataVolume(toMajor, req.FromBackup.BackupName))}
	}
	st := p.status
	if st.Step == componentsv1alpha1.MajorStepRollingBack {
		p.target = rollbackTarget(db, st)
	} else {
		p.target = instance{image: wantImage, version: db.Spec.Version, dataVolume: desired.DataVolumeOfClaim(db, st.VolumeClaim), keepVolume: true}
	}
	p.replace = ss.exists && ss.dataVolume != p.target.dataVolume
	return p
}

// rollbackTarget is the instance of the version that ran before the upgrade, on its kept volume.
func rollbackTarget(db *componentsv1alpha1.Database, st *componentsv1alpha1.MajorUpgradeStatus) instance {
	return instance{image: st.FromImage, version: st.FromVersion, dataVolume: desired.DataVolumeOfClaim(db, st.PreviousVolumeClaim), keepVolume: true}
}

// runsTarget reports whether the PostgreSQL pod is ready on the target's volume and image.
func runsTarget(db *componentsv1alpha1.Database, ss stsState, pod podState, target instance) bool {
	return ss.exists && ss.dataVolume == target.dataVolume && pod.ready && !pod.terminating &&
		pod.claim == desired.ClaimName(db, target.dataVolume) && pod.image == target.image
}

// replaceable reports whether the StatefulSet of the target may be created: the pod of the
// previous one is gone (it has the same name).
func replaceable(db *componentsv1alpha1.Database, ss stsState, pod podState, target instance) bool {
	return ss.exists || !pod.exists || (pod.claim == desired.ClaimName(db, target.dataVolume) && !pod.terminating)
}

// advanceMajor moves a running upgrade on: once the new instance runs, its restore Job starts and
// its outcome ends the upgrade or starts the rollback; once the old instance runs again, the
// upgrade has failed.
func (r *Reconciler) advanceMajor(ctx context.Context, db *componentsv1alpha1.Database, p *majorPlan, ss stsState, pod podState) error {
	st := p.status
	if !p.running() || !runsTarget(db, ss, pod, p.target) {
		return nil
	}
	switch st.Step {
	case componentsv1alpha1.MajorStepRollingBack:
		st.Phase, st.Step = componentsv1alpha1.PhaseFailed, ""
		st.CompletionTime = &metav1.Time{Time: r.Now()}
		r.Recorder.Eventf(db, corev1.EventTypeWarning, "MajorUpgradeFailed", "PostgreSQL %s runs again on %s; the upgrade to %s failed: %s",
			st.FromVersion, st.PreviousVolumeClaim, st.ToVersion, st.Message)
		return nil
	case componentsv1alpha1.MajorStepReplacing:
		st.Step = componentsv1alpha1.MajorStepRestoring
	}
	req := db.Spec.MajorUpgrade
	if req == nil || req.FromBackup.BackupName != st.BackupName {
		st.Step, st.Message = componentsv1alpha1.MajorStepRollingBack, "spec.majorUpgrade no longer names the backup "+st.BackupName
		p.target = rollbackTarget(db, st)
		p.replace = true
		return nil
	}
	use := restoreUse("backup destination", "the upgrade's restore of "+st.BackupName+" waits")
	res, secrets, err := r.restore(ctx, db, pod, p.target.image, "major-"+p.target.dataVolume, req.FromBackup, nil, use)
	if err != nil {
		return err
	}
	p.secrets = secrets
	switch res.Phase {
	case componentsv1alpha1.PhaseSucceeded:
		st.Phase, st.Step, st.Message, st.CompletionTime = componentsv1alpha1.PhaseSucceeded, "", "", res.CompletionTime
		p.target.keepVolume = false // volumeRetention applies to the new volume from now on
		r.Recorder.Eventf(db, corev1.EventTypeNormal, "MajorUpgradeSucceeded",
			"PostgreSQL %s runs on %s with the data of %s; the volume %s of %s is kept until you delete it",
			st.ToVersion, st.VolumeClaim, st.BackupName, st.PreviousVolumeClaim, st.FromVersion)
	case componentsv1alpha1.PhaseFailed:
		st.Step, st.Message = componentsv1alpha1.MajorStepRollingBack, "loading "+st.BackupName+" failed: "+res.Message
		p.target = rollbackTarget(db, st)
		p.replace = true
	}
	return nil
}

// removeStatefulSet deletes a StatefulSet whose data volume must change, without its claim: the
// retention policy is set to Retain first (so the StatefulSet controller neither deletes the
// claim nor owns it again) and the claim's owner reference to the StatefulSet is removed.
func (r *Reconciler) removeStatefulSet(ctx context.Context, db *componentsv1alpha1.Database, sts *appsv1.StatefulSet) error {
	if p := sts.Spec.PersistentVolumeClaimRetentionPolicy; p != nil && p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		base := sts.DeepCopy()
		p.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
		if err := r.Patch(ctx, sts, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}), client.FieldOwner(FieldOwner)); err != nil {
			return fmt.Errorf("keeping the data volume of the StatefulSet %s: %w", sts.Name, err)
		}
	}
	for _, t := range sts.Spec.VolumeClaimTemplates {
		pvc := &corev1.PersistentVolumeClaim{}
		switch err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: desired.ClaimName(db, t.Name)}, pvc); {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return fmt.Errorf("reading the data volume: %w", err)
		}
		keep := pvc.OwnerReferences[:0:0]
		for _, ref := range pvc.OwnerReferences {
			if ref.Kind != "StatefulSet" || ref.UID != sts.UID {
				keep = append(keep, ref)
			}
		}
		if len(keep) != len(pvc.OwnerReferences) {
			base := pvc.DeepCopy()
			pvc.OwnerReferences = keep
			if err := r.Patch(ctx, pvc, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
				return fmt.Errorf("keeping the data volume %s: %w", pvc.Name, err)
			}
		}
	}
	err := r.Delete(ctx, sts, client.Preconditions{UID: &sts.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("replacing the StatefulSet %s: %w", sts.Name, err)
	}
	return nil
}
