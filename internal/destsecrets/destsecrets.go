// Package destsecrets checks the Secrets a backup destination names (the S3 credentials, the
// encryption keys) before a Job that mounts them is created.
//
// They are the user's: admission cannot see them, and the manager's cache, scoped to Canopy's
// labelled objects, does not hold them. A Job whose pod refers to a missing Secret waits, not
// started, until its deadline and then fails as DeadlineExceeded, without the cause. The
// controllers (backups, restores, the purge) read them from the API server first and, while one is
// unusable, start nothing: the object is Stalled with a reason naming the Secret and the key, never
// a value, and looked at again after a backoff (Recheck), since no event says when it is fixed.
package destsecrets

import (
	"context"
	"fmt"
	"slices"
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

// Problem says why a Secret the spec names cannot be used: a condition reason
// (SecretNotFound, SecretKeyMissing, SecretKeyInvalid) and a message naming the Secret and key.
type Problem struct {
	Reason, Message string
}

// Keys says what the operation needs of the encryption key Secret.
type Keys int

const (
	// KeysNone: the operation does not read the encryption keys (the purge).
	KeysNone Keys = iota
	// KeysRead: the Secret is mounted whole and the key to use is named by each backup's manifest
	// (a restore): the Secret must exist; which keys it holds is the agent's to check.
	KeysRead
	// KeysWrite: new backups are encrypted with keyID: the Secret must hold it, and it must be a key.
	KeysWrite
)

// Use says what a destination's Secrets are used for, for the check and its messages.
type Use struct {
	// Field is the spec path of the destination as the messages name it, e.g. "destination".
	Field string
	// Waits is what waits for the Secret, e.g. "backups": messages end "; backups wait until then".
	Waits string
	// Keys is what is needed of the encryption key Secret.
	Keys Keys
}

// Names lists the Secrets of the destination that use reads.
func Names(d componentsv1alpha1.BackupDestination, use Use) []string {
	var names []string
	if s := d.S3; s != nil {
		names = append(names, s.CredentialsSecret.Name)
	}
	if e := d.Encryption; e != nil && use.Keys != KeysNone && !slices.Contains(names, e.KeySecret.Name) {
		names = append(names, e.KeySecret.Name)
	}
	return names
}

// Check reads the destination's Secrets from reader (the API server: they are not cached) and
// says what is wrong with them, nil when nothing is. Values are read only to check that they are
// present (and, for a key to encrypt with, that it is a key); none reaches a message.
func Check(ctx context.Context, reader client.Reader, namespace string, d componentsv1alpha1.BackupDestination, use Use) (*Problem, error) {
	found := map[string]*corev1.Secret{}
	for _, name := range Names(d, use) {
		s := &corev1.Secret{}
		switch err := reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading the Secret %s: %w", name, err)
		default:
			found[name] = s
		}
	}
	return Evaluate(namespace, d, use, found), nil
}

// Evaluate checks the destination's Secrets, found by name (absent when they do not exist). Pure.
func Evaluate(namespace string, d componentsv1alpha1.BackupDestination, use Use, found map[string]*corev1.Secret) *Problem {
	waits := "; " + use.Waits + " until then"
	if s := d.S3; s != nil {
		name := s.CredentialsSecret.Name
		secret := found[name]
		if secret == nil {
			return &Problem{componentsv1alpha1.ReasonSecretNotFound, fmt.Sprintf(
				"the S3 credentials Secret %s (%s s3.credentialsSecret) does not exist in namespace %s: "+
					"create it with the keys %s and %s"+waits, name, use.Field, namespace, agent.SecretKeyAccessKeyID, agent.SecretKeySecretAccessKey)}
		}
		for _, key := range []string{agent.SecretKeyAccessKeyID, agent.SecretKeySecretAccessKey} {
			if len(secret.Data[key]) == 0 {
				return &Problem{componentsv1alpha1.ReasonSecretKeyMissing, fmt.Sprintf(
					"the S3 credentials Secret %s has no key %s, or it is empty (it needs %s and %s)%s",
					name, key, agent.SecretKeyAccessKeyID, agent.SecretKeySecretAccessKey, waits)}
			}
		}
	}
	e := d.Encryption
	if e == nil || use.Keys == KeysNone {
		return nil
	}
	name := e.KeySecret.Name
	secret := found[name]
	if secret == nil {
		if use.Keys == KeysRead {
			return &Problem{componentsv1alpha1.ReasonSecretNotFound, fmt.Sprintf(
				"the encryption key Secret %s (%s encryption.keySecret) does not exist in namespace %s: create it with the keys "+
					"the backups were encrypted with%s", name, use.Field, namespace, waits)}
		}
		return &Problem{componentsv1alpha1.ReasonSecretNotFound, fmt.Sprintf(
			"the encryption key Secret %s (%s encryption.keySecret) does not exist in namespace %s: create it with the key %s, "+
				"for example kubectl create secret generic %s --from-literal=%s=\"$(openssl rand -base64 32)\""+waits,
			name, use.Field, namespace, e.KeyID, name, e.KeyID)}
	}
	if use.Keys == KeysRead {
		return nil
	}
	value, ok := secret.Data[e.KeyID]
	if !ok {
		return &Problem{componentsv1alpha1.ReasonSecretKeyMissing, fmt.Sprintf(
			"the encryption key Secret %s has no key %s (%s encryption.keyID); it holds %s: "+
				"add the key, or set keyID to one of those%s", name, e.KeyID, use.Field, keyIDs(secret), waits)}
	}
	if problem := agent.KeyProblem(value); problem != "" {
		return &Problem{componentsv1alpha1.ReasonSecretKeyInvalid, fmt.Sprintf(
			"the key %s of the encryption key Secret %s %s: it must be 32 random bytes, or their base64 or hex%s",
			e.KeyID, name, problem, waits)}
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
// the object has already been Stalled, within these bounds (10 s, 20 s, 40 s … every 5 minutes).
const (
	RecheckMin = 10 * time.Second
	RecheckMax = 5 * time.Minute
)

// Recheck is when to look at the Secrets again, given how long obj has been Stalled.
func Recheck(obj conditions.Object, now time.Time) time.Duration {
	wait := RecheckMin
	if c := conditions.Get(obj, componentsv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		wait = max(wait, now.Sub(c.LastTransitionTime.Time))
	}
	return min(wait, RecheckMax)
}
