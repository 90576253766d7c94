package backuppolicy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// The Secrets a BackupPolicy names (the S3 credentials, the encryption keys) are the user's:
// admission cannot see them, and the manager's cache, scoped to Canopy's labelled objects, does not
// hold them. Without a check, a backup Job whose pod refers to a missing Secret would wait, not
// started, until its deadline (an hour by default) and then fail as DeadlineExceeded. The
// controller reads them from the API server before it starts a backup, and while one is unusable
// nothing starts: the policy is Stalled with a reason naming the Secret and the key.

// secretProblem says why a Secret the spec names cannot be used.
type secretProblem struct {
	reason, message string
}

// checkSecrets reads the Secrets the policy's destination names and says what is wrong with them
// (nil when nothing is). Values are read only to check that they are present (and, for the
// encryption key, that it is a key); none reaches a message.
func (r *Reconciler) checkSecrets(ctx context.Context, bp *componentsv1alpha1.BackupPolicy) (*secretProblem, error) {
	found := map[string]*corev1.Secret{}
	for _, name := range referencedSecrets(bp) {
		s := &corev1.Secret{}
		switch err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: bp.Namespace, Name: name}, s); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading the Secret %s: %w", name, err)
		default:
			found[name] = s
		}
	}
	return secretsProblem(bp, found), nil
}

// referencedSecrets names the Secrets of the policy's destination.
func referencedSecrets(bp *componentsv1alpha1.BackupPolicy) []string {
	var names []string
	if s := bp.Spec.Destination.S3; s != nil {
		names = append(names, s.CredentialsSecret.Name)
	}
	if e := bp.Spec.Destination.Encryption; e != nil && !contains(names, e.KeySecret.Name) {
		names = append(names, e.KeySecret.Name)
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// secretsProblem checks the policy's Secrets, found by name (absent when they do not exist). Pure.
func secretsProblem(bp *componentsv1alpha1.BackupPolicy, found map[string]*corev1.Secret) *secretProblem {
	const waits = "; backups wait until then"
	if s := bp.Spec.Destination.S3; s != nil {
		name := s.CredentialsSecret.Name
		secret := found[name]
		if secret == nil {
			return &secretProblem{componentsv1alpha1.ReasonSecretNotFound, fmt.Sprintf(
				"the S3 credentials Secret %s (destination s3.credentialsSecret) does not exist in namespace %s: "+
					"create it with the keys %s and %s"+waits, name, bp.Namespace, agent.SecretKeyAccessKeyID, agent.SecretKeySecretAccessKey)}
		}
		for _, key := range []string{agent.SecretKeyAccessKeyID, agent.SecretKeySecretAccessKey} {
			if len(secret.Data[key]) == 0 {
				return &secretProblem{componentsv1alpha1.ReasonSecretKeyMissing, fmt.Sprintf(
					"the S3 credentials Secret %s has no key %s, or it is empty (it needs %s and %s)%s",
					name, key, agent.SecretKeyAccessKeyID, agent.SecretKeySecretAccessKey, waits)}
			}
		}
	}
	if e := bp.Spec.Destination.Encryption; e != nil {
		name := e.KeySecret.Name
		secret := found[name]
		if secret == nil {
			return &secretProblem{componentsv1alpha1.ReasonSecretNotFound, fmt.Sprintf(
				"the encryption key Secret %s (destination encryption.keySecret) does not exist in namespace %s: create it with the key %s, "+
					"for example kubectl create secret generic %s --from-literal=%s=\"$(openssl rand -base64 32)\""+waits,
				name, bp.Namespace, e.KeyID, name, e.KeyID)}
		}
		value, ok := secret.Data[e.KeyID]
		if !ok {
			return &secretProblem{componentsv1alpha1.ReasonSecretKeyMissing, fmt.Sprintf(
				"the encryption key Secret %s has no key %s (destination encryption.keyID); it holds %s: "+
					"add the key, or set keyID to one of those%s", name, e.KeyID, keyIDs(secret), waits)}
		}
		if problem := agent.KeyProblem(value); problem != "" {
			return &secretProblem{componentsv1alpha1.ReasonSecretKeyInvalid, fmt.Sprintf(
				"the key %s of the encryption key Secret %s %s: it must be 32 random bytes, or their base64 or hex%s",
				e.KeyID, name, problem, waits)}
		}
	}
	return nil
}

// keyIDs lists a Secret's data keys (names only, never a value).
func keyIDs(s *corev1.Secret) string {
	if len(s.Data) == 0 {
		return "no key"
	}
	ids := make([]string, 0, len(s.Data))
	for k := range s.Data {
		ids = append(ids, k)
	}
	sort.Strings(ids)
	return "the keys " + strings.Join(ids, ", ")
}

// Bounds of the wait between two checks of a missing or unusable Secret. The Secret is not in the
// manager's cache, so no event says when it is fixed: the controller looks again after as long as
// the policy has already been Stalled, within these bounds (10 s, 20 s, 40 s … every 5 minutes).
const (
	secretRecheckMin = 10 * time.Second
	secretRecheckMax = 5 * time.Minute
)

// secretRecheck is when to look at the policy's Secrets again, given how long it has been Stalled.
func secretRecheck(bp *componentsv1alpha1.BackupPolicy, now time.Time) time.Duration {
	wait := secretRecheckMin
	if c := conditions.Get(bp, componentsv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		wait = max(wait, now.Sub(c.LastTransitionTime.Time))
	}
	return min(wait, secretRecheckMax)
}
