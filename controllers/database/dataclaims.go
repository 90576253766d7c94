package database

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
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

// markCurrentClaim labels current as the claim holding the data and takes the label off every other
// claim of the Database. Called once PostgreSQL runs ready on current with no major upgrade in
// flight; at rest it writes nothing.
func (r *Reconciler) markCurrentClaim(ctx context.Context, claims []corev1.PersistentVolumeClaim, current string) error {
	for i := range claims {
		c := &claims[i]
		want := c.Name == current
		if (c.Labels[desired.LabelCurrentData] == "true") == want {
			continue
		}
		patch := client.MergeFrom(c.DeepCopy())
		if want {
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			c.Labels[desired.LabelCurrentData] = "true"
		} else {
			delete(c.Labels, desired.LabelCurrentData)
		}
		if err := r.Patch(ctx, c, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("labelling the data volume %s: %w", c.Name, err)
		}
	}
	return nil
}
