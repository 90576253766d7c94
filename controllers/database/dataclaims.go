package database

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/patch"
)

// dataClaims lists the Database's data claims (every claim template's, every major's), from the
// cache: claims made from Canopy's templates carry its labels.
func (r *Reconciler) dataClaims(ctx context.Context, db *componentsv1alpha1.Database) ([]corev1.PersistentVolumeClaim, error) {
	var list corev1.PersistentVolumeClaimList
	if err := r.List(ctx, &list, client.InNamespace(db.Namespace), client.MatchingLabels(desired.SelectorLabels(db))); err != nil {
		return nil, fmt.Errorf("listing the data volumes: %w", err)
	}
	var out []corev1.PersistentVolumeClaim
	for _, c := range list.Items {
		if desired.DataVolumeOfClaim(db, c.Name) != "" {
			out = append(out, c)
		}
	}
	// The cache lists in no set order; status.keptVolumes follows this one, and would otherwise
	// change (a write) at every reconcile.
	slices.SortFunc(out, func(a, b corev1.PersistentVolumeClaim) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// currentClaim is the claim labelled as holding the data ("" when none is).
func currentClaim(claims []corev1.PersistentVolumeClaim) string {
	for _, c := range claims {
		if c.Labels[desired.LabelCurrentData] == "true" {
			return c.Name
		}
	}
	return ""
}

// claimMajor is the PostgreSQL major whose data the claim name holds (LabelDataMajor; "" when
// unknown).
func claimMajor(claims []corev1.PersistentVolumeClaim, name string) string {
	for _, c := range claims {
		if c.Name == name {
			return c.Labels[desired.LabelDataMajor]
		}
	}
	return ""
}

// markCurrentClaim labels current as the claim holding the data of PostgreSQL major and takes the
// current label off every other claim of the Database (their major label still says what they
// hold). Called once PostgreSQL runs ready on current with no major upgrade in flight; at rest it
// writes nothing.
func (r *Reconciler) markCurrentClaim(ctx context.Context, claims []corev1.PersistentVolumeClaim, current, major string) error {
	for i := range claims {
		c := &claims[i]
		want := c.Name == current
		if (c.Labels[desired.LabelCurrentData] == "true") == want && (!want || c.Labels[desired.LabelDataMajor] == major) {
			continue
		}
		patch := client.MergeFrom(c.DeepCopy())
		if want {
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			c.Labels[desired.LabelCurrentData] = "true"
			c.Labels[desired.LabelDataMajor] = major
		} else {
			delete(c.Labels, desired.LabelCurrentData)
		}
		if err := r.Patch(ctx, c, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("labelling the data volume %s: %w", c.Name, err)
		}
	}
	return nil
}

// keptVolumes reports every data claim but the one in use, with its size and why it exists. Pure.
func keptVolumes(db *componentsv1alpha1.Database, claims []corev1.PersistentVolumeClaim, inUse string) []componentsv1alpha1.KeptVolume {
	var out []componentsv1alpha1.KeptVolume
	for _, c := range claims {
		if c.Name == inUse || !c.DeletionTimestamp.IsZero() {
			continue
		}
		kv := componentsv1alpha1.KeptVolume{ClaimName: c.Name, Reason: componentsv1alpha1.KeptNotInUse}
		if size, ok := c.Status.Capacity[corev1.ResourceStorage]; ok {
			kv.Size = &size
		} else if size, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			kv.Size = &size
		}
		if m := db.Status.MajorUpgrade; m != nil {
			switch {
			case m.Phase == componentsv1alpha1.PhaseSucceeded && c.Name == m.PreviousVolumeClaim:
				kv.Reason = componentsv1alpha1.KeptPreviousMajor
			case m.Phase == componentsv1alpha1.PhaseFailed && c.Name == m.VolumeClaim:
				kv.Reason = componentsv1alpha1.KeptFailedUpgrade
			}
		}
		out = append(out, kv)
	}
	return out
}

// releaseVolumes deletes the kept data claims spec.releaseVolumes names. Never the claim in use, and
// nothing while a major upgrade runs (its previous volume is the rollback's).
func (r *Reconciler) releaseVolumes(ctx context.Context, db *componentsv1alpha1.Database, kept []componentsv1alpha1.KeptVolume,
	claims []corev1.PersistentVolumeClaim) error {
	for _, name := range db.Spec.ReleaseVolumes {
		if !slices.ContainsFunc(kept, func(k componentsv1alpha1.KeptVolume) bool { return k.ClaimName == name }) {
			continue // in use, unknown, or not this Database's
		}
		i := slices.IndexFunc(claims, func(c corev1.PersistentVolumeClaim) bool { return c.Name == name })
		if err := r.Delete(ctx, &claims[i], client.Preconditions{UID: &claims[i].UID}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting the kept data volume %s: %w", name, err)
		}
		r.Recorder.Eventf(db, corev1.EventTypeNormal, "VolumeReleased", "deleted the kept data volume %s, as spec.releaseVolumes asks", name)
	}
	return nil
}

// VolumesFinalizer holds a Database whose volumeRetention is Delete until all its data volumes —
// the one in use and those of earlier majors and failed attempts — are deleted. Only such a Database
// carries it, so a Database that keeps its data never waits on Canopy to be deleted.
const VolumesFinalizer = "canopy.dev/data-volumes"

// reconcileDelete carries out volumeRetention: Delete for a Database being deleted: every data
// claim of the Database is deleted (each is released by Kubernetes once PostgreSQL's pod is gone),
// then the finalizer goes. Deleting a claim is one request that does not wait, so it never wedges.
func (r *Reconciler) reconcileDelete(ctx context.Context, db *componentsv1alpha1.Database) error {
	if !controllerutil.ContainsFinalizer(db, VolumesFinalizer) {
		return nil
	}
	if db.Spec.VolumeRetention == componentsv1alpha1.Delete {
		claims, err := r.dataClaims(ctx, db)
		if err != nil {
			return err
		}
		for i := range claims {
			if err := r.Delete(ctx, &claims[i], client.Preconditions{UID: &claims[i].UID}); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("deleting the data volume %s: %w", claims[i].Name, err)
			}
			r.Recorder.Eventf(db, corev1.EventTypeNormal, "VolumeDeleted", "deleted the data volume %s (volumeRetention: Delete)", claims[i].Name)
		}
	}
	return patch.Finalizer(ctx, r.Client, db, VolumesFinalizer, false)
}
