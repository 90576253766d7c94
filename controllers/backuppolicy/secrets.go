package backuppolicy

import (
	"context"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/destsecrets"
)

// The Secrets a BackupPolicy names (the S3 credentials, the encryption keys) are checked before a
// backup or the purge starts (see package destsecrets): while one is unusable nothing starts and the
// policy is Stalled with a reason naming the Secret and the key.

// backupUse is what a backup needs of the destination's Secrets: the key it encrypts with.
var backupUse = destsecrets.Use{Field: "destination", Waits: "backups wait", Keys: destsecrets.KeysWrite}

// purgeUse is what the purge needs: the S3 credentials only (it deletes, it reads no backup).
var purgeUse = destsecrets.Use{Field: "destination", Waits: "the purge of the backups waits", Keys: destsecrets.KeysNone}

// checkSecrets says what is wrong with the Secrets the policy's destination names for use (nil
// when nothing is).
func (r *Reconciler) checkSecrets(ctx context.Context, bp *componentsv1alpha1.BackupPolicy, use destsecrets.Use) (*destsecrets.Problem, error) {
	return destsecrets.Check(ctx, r.APIReader, bp.Namespace, bp.Spec.Destination, use)
}
