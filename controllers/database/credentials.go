package database

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/apply"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/pgadmin"
)

// A generated Secret deleted by hand while the Database's data exists cannot simply be made again:
// PostgreSQL keeps the passwords it was initialised (or last rotated) with, and a new Secret's
// would not match. The application's password can be set anew through the superuser: the
// credentials Secret is recreated marked annotationPasswordUnapplied, and once PostgreSQL runs the
// new password is set inside it and the web tier restarts. The superuser's own password cannot:
// nothing else can log in to change it, so the Database says so (SuperuserSecretLost) and makes no
// Secret that would not work.

// annotationPasswordUnapplied marks a recreated credentials Secret whose password PostgreSQL does
// not know yet.
const annotationPasswordUnapplied = "canopy.dev/password-unapplied" //nolint:gosec // G101: an annotation's name, not a credential

// secretsState is what ensureSecrets found.
type secretsState struct {
	// superuserLost says why the superuser Secret is not made again ("" when it exists).
	superuserLost string
}

// ensureSecrets makes the superuser and credentials Secrets a Database needs, each with a generated
// password, unless they exist. dataExists says that a data volume of the Database holds data
// PostgreSQL ran on (the claim labelled current), which knows the passwords of the Secrets it was
// started with.
func (r *Reconciler) ensureSecrets(ctx context.Context, db *componentsv1alpha1.Database, dataExists bool) (secretsState, error) {
	var st secretsState
	for _, s := range []struct {
		name      string
		superuser bool
		build     func(*componentsv1alpha1.Database, string) *corev1.Secret
	}{
		{desired.SuperuserName(db), true, desired.SuperuserSecret},
		{desired.CredentialsName(db), false, func(db *componentsv1alpha1.Database, password string) *corev1.Secret {
			return desired.CredentialsSecret(db, password, nil)
		}},
	} {
		want := s.build(db, "")
		found, err := apply.Cached(ctx, r.Client, want)
		if err == nil && found == nil && s.superuser && dataExists {
			// Whether the Secret exists decides between making none and claiming it.
			found, err = apply.Lookup(ctx, r.Client, r.APIReader, want)
		}
		if err != nil {
			return st, err // a Secret of someone else's with this name is not taken as the credentials
		}
		if found == nil && s.superuser && dataExists {
			st.superuserLost = fmt.Sprintf("the Secret %s, which held PostgreSQL's superuser password, was deleted while the data volume exists: "+
				"PostgreSQL keeps that password, which a new Secret would not match, so Canopy makes none; recreate the Secret with the "+
				"password (keys username %q and password), for example from your backup of it, or restore the Stack from a backup", s.name, desired.SuperUser)
			continue
		}
		if found == nil {
			// Create refuses a foreign Secret of this name and returns Canopy's own outside the cache.
			var foreign *apply.NotControlledError
			if found, err = r.createSecret(ctx, s.build, db, !s.superuser && dataExists); errors.As(err, &foreign) {
				return st, err // names the Secret and what to do
			} else if err != nil {
				return st, fmt.Errorf("creating the Secret %s: %w", s.name, err)
			}
		}
		if found != nil {
			if err := r.claimSecret(ctx, db, found.(*corev1.Secret), want); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// createSecret makes a Secret with a new password; unapplied marks a credentials Secret whose
// password PostgreSQL does not know yet (its data exists). It returns the Secret of that name when
// one that is Canopy's already existed outside the cache, nil when it made it.
func (r *Reconciler) createSecret(ctx context.Context, build func(*componentsv1alpha1.Database, string) *corev1.Secret,
	db *componentsv1alpha1.Database, unapplied bool) (client.Object, error) {
	password, err := newPassword()
	if err != nil {
		return nil, err
	}
	secret := build(db, password)
	if unapplied {
		if secret.Annotations == nil {
			secret.Annotations = map[string]string{}
		}
		secret.Annotations[annotationPasswordUnapplied] = "true"
	}
	return apply.Create(ctx, r.Client, r.APIReader, secret)
}

// applyRecreatedPassword sets the password of a recreated credentials Secret inside PostgreSQL, as
// the superuser, once the pod is ready; it then takes the mark off the Secret and records the time
// in status, which restarts the web tier with the new password. It reports whether it did.
func (r *Reconciler) applyRecreatedPassword(ctx context.Context, db *componentsv1alpha1.Database, pod podState, verifies bool, now time.Time) (bool, error) {
	creds := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: desired.CredentialsName(db)}, creds); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	if creds.Annotations[annotationPasswordUnapplied] != "true" || !pod.ready || pod.terminating {
		return false, nil
	}
	super := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: desired.SuperuserName(db)}, super); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	admin, err := r.Connect(ctx, pgadmin.ConnInfo{Host: desired.Host(db), Port: desired.Port, User: desired.SuperUser,
		Password: string(super.Data[corev1.BasicAuthPasswordKey]), SSLMode: sslMode(verifies)})
	if err != nil {
		return false, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer func() { _ = admin.Close(ctx) }()
	if err := admin.SetPassword(ctx, desired.AppUser, string(creds.Data[corev1.BasicAuthPasswordKey])); err != nil {
		return false, fmt.Errorf("setting the recreated credentials' password: %w", err)
	}
	base := creds.DeepCopy()
	delete(creds.Annotations, annotationPasswordUnapplied)
	if err := r.Patch(ctx, creds, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("marking the Secret %s applied: %w", creds.Name, err)
	}
	db.Status.CredentialsRecreated = now.UTC().Format(time.RFC3339)
	metrics.DriftCorrections.WithLabelValues("Secret", "recreated").Inc()
	r.Recorder.Eventf(db, corev1.EventTypeWarning, "CredentialsRecreated",
		"the Secret %s was deleted by hand: it was made again with a new password, now set inside PostgreSQL; the web tier restarts with it", creds.Name)
	return true, nil
}
