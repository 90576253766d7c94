package backuppolicy

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/backup"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// testKey is the base64 of 32 bytes: a usable encryption key.
const testKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// secret creates a Secret of the user's, without Canopy's labels (so not in the manager's cache).
func (h *harness) secret(name string, data map[string]string) {
	h.T.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: name}, StringData: data}
	require.NoError(h.T, h.C.Create(context.Background(), s))
}

func s3To(secret string) func(*componentsv1alpha1.BackupPolicy) {
	return func(bp *componentsv1alpha1.BackupPolicy) {
		bp.Spec.Destination = componentsv1alpha1.BackupDestination{S3: &componentsv1alpha1.S3Destination{
			Endpoint: "https://s3.example.com", Bucket: "backups", CredentialsSecret: corev1.LocalObjectReference{Name: secret}}}
	}
}

func encryptedWith(secret, keyID string) func(*componentsv1alpha1.BackupPolicy) {
	return func(bp *componentsv1alpha1.BackupPolicy) {
		bp.Spec.Destination.Encryption = &componentsv1alpha1.BackupEncryption{KeySecret: corev1.LocalObjectReference{Name: secret}, KeyID: keyID}
	}
}

func request(token string) func(*componentsv1alpha1.BackupPolicy) {
	return func(bp *componentsv1alpha1.BackupPolicy) { bp.Spec.BackupRequest = token }
}

// waitStalled waits until the policy is Stalled (and not Ready) with reason, and returns the message.
func (h *harness) waitStalled(name, reason string) string {
	h.T.Helper()
	var msg string
	h.Eventually(func() bool {
		bp := h.get(name)
		s, r := conditions.Get(bp, componentsv1alpha1.ConditionStalled), conditions.Get(bp, componentsv1alpha1.ConditionReady)
		if s == nil || s.Status != metav1.ConditionTrue || s.Reason != reason || r == nil || r.Status != metav1.ConditionFalse || r.Reason != reason {
			return false
		}
		msg = s.Message
		return true
	}, "BackupPolicy %s: Stalled with %s", name, reason)
	return msg
}

// requireQuiet checks that, once settled, the backup controller runs at most max times in a few
// seconds: a policy waiting for a Secret looks again after a backoff (secretRecheckMin at first),
// never in a loop.
func requireQuiet(t *testing.T, maxRuns float64, why string) {
	t.Helper()
	var last float64 = -1
	require.Eventually(t, func() bool {
		now := testenv.Reconciles(t)["backuppolicy"]
		settled := now == last
		last = now
		return settled
	}, testenv.Wait, 1500*time.Millisecond, "the BackupPolicies settle")
	time.Sleep(5 * time.Second)
	require.LessOrEqual(t, testenv.Reconciles(t)["backuppolicy"]-last, maxRuns, why)
}

// TestMissingCredentialsSecret: an S3 destination whose credentials Secret does not exist starts no
// backup (before, its Job waited, not started, for an hour); the policy is Stalled with a reason
// and a message naming the Secret and its keys, the request says why it waits, nothing loops; once
// the Secret is created the waiting request runs, without a restart or a change to the policy.
func TestMissingCredentialsSecret(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	h.policy("shop", s3To("shop-s3"), request("r1"))
	msg := h.waitStalled("shop", componentsv1alpha1.ReasonSecretNotFound)
	require.Contains(t, msg, "the S3 credentials Secret shop-s3")
	require.Contains(t, msg, "create it with the keys accessKeyID and secretAccessKey")
	bp := h.get("shop")
	require.Equal(t, componentsv1alpha1.PhasePending, bp.Status.LastRequest.Phase)
	require.Contains(t, bp.Status.LastRequest.Message, "shop-s3")
	require.Empty(t, h.jobs(), "no backup starts without its credentials")
	require.Error(t, h.Get(&batchv1.CronJob{}, desired.Name(bp)), "nor does the schedule")
	requireQuiet(t, 1, "a policy waiting for its Secret is not reconciled in a loop")

	h.secret("shop-s3", map[string]string{agent.SecretKeyAccessKeyID: "AKIAEXAMPLE", agent.SecretKeySecretAccessKey: "very-s3cret-value"})
	name := desired.JobName(h.get("shop"), desired.TriggerRequest, "r1")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, name) == nil }, "the request runs once the Secret exists")
	h.Eventually(func() bool {
		bp := h.get("shop")
		return conditions.IsTrue(bp, componentsv1alpha1.ConditionReady) && conditions.Get(bp, componentsv1alpha1.ConditionStalled) == nil
	}, "the policy recovers")
	require.NoError(t, h.Get(&batchv1.CronJob{}, desired.Name(h.get("shop"))), "the schedule is in place")
}

// TestUnusableSecrets: a credentials Secret without one of its keys, an encryption key Secret that
// does not exist, one without the key keyID names and one whose key is not a key each stall their
// policy with its own reason, naming the Secret and the key, never a value.
func TestUnusableSecrets(t *testing.T) {
	h := start(t, nil)
	values := []string{"AKIAEXAMPLE", "a-password-not-a-key", testKey}
	h.secret("half-s3", map[string]string{agent.SecretKeyAccessKeyID: values[0]})
	h.secret("keys", map[string]string{"2026-01": testKey, "weak": values[1]})
	cases := []struct {
		name, reason string
		mutate       []func(*componentsv1alpha1.BackupPolicy)
		says         []string
	}{
		{"half", componentsv1alpha1.ReasonSecretKeyMissing, []func(*componentsv1alpha1.BackupPolicy){s3To("half-s3")},
			[]string{"the S3 credentials Secret half-s3 has no key secretAccessKey"}},
		{"nokeys", componentsv1alpha1.ReasonSecretNotFound, []func(*componentsv1alpha1.BackupPolicy){encryptedWith("nokeys-keys", "k1")},
			[]string{"the encryption key Secret nokeys-keys", "does not exist", "create it with the key k1"}},
		{"rotated", componentsv1alpha1.ReasonSecretKeyMissing, []func(*componentsv1alpha1.BackupPolicy){encryptedWith("keys", "2026-02")},
			[]string{"the encryption key Secret keys has no key 2026-02", "it holds the keys 2026-01, weak"}},
		{"weak", componentsv1alpha1.ReasonSecretKeyInvalid, []func(*componentsv1alpha1.BackupPolicy){encryptedWith("keys", "weak")},
			[]string{"the key weak of the encryption key Secret keys is text", "32 random bytes"}},
	}
	for _, c := range cases {
		h.database(c.name)
		h.policy(c.name, append(c.mutate, request("r1"))...)
	}
	for _, c := range cases {
		msg := h.waitStalled(c.name, c.reason)
		for _, s := range c.says {
			require.Contains(t, msg, s, c.name)
		}
		for _, v := range values {
			require.NotContains(t, msg, v, "%s: no Secret value in a message", c.name)
		}
	}
	require.Empty(t, h.jobs(), "no backup starts with an unusable Secret")
	requireQuiet(t, float64(len(cases)), "policies waiting for their Secrets are not reconciled in a loop")
}

// TestUnreachableBucket: a backup Job whose agent could not reach the S3 endpoint fails; the
// failure's reason (UploadFailed) and the agent's message, which names the destination and the
// network error, are BackupHealthy's, the policy stays Ready (the next run retries) and nothing
// loops.
func TestUnreachableBucket(t *testing.T) {
	h := start(t, nil)
	h.database("shop")
	h.secret("shop-s3", map[string]string{agent.SecretKeyAccessKeyID: "AKIAEXAMPLE", agent.SecretKeySecretAccessKey: "very-s3cret-value"})
	h.policy("shop", s3To("shop-s3"), request("r1"))
	name := desired.JobName(h.get("shop"), desired.TriggerRequest, "r1")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, name) == nil }, "the Job starts")
	// What the agent writes for an endpoint nothing listens on (internal/agent TestBackupUnreachableEndpoint).
	unreachable := "cannot read the destination s3://backups/default.shop/: S3 request for s3://backups/default.shop/b/manifest.json failed: " +
		`Get "https://s3.example.com/backups/default.shop/b/manifest.json": dial tcp 203.0.113.7:443: connect: connection refused`
	h.finish(name, agent.Result{Operation: agent.OperationBackup, Name: name, Reason: agent.ReasonUploadFailed, Message: unreachable})
	h.Eventually(func() bool {
		c := conditions.Get(h.get("shop"), componentsv1alpha1.ConditionBackupHealthy)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == agent.ReasonUploadFailed && strings.HasSuffix(c.Message, unreachable)
	}, "BackupHealthy says why")
	bp := h.get("shop")
	require.Equal(t, componentsv1alpha1.PhaseFailed, bp.Status.LastRequest.Phase)
	require.Contains(t, bp.Status.LastRequest.Message, "connection refused")
	require.True(t, conditions.IsTrue(bp, componentsv1alpha1.ConditionReady), "the schedule retries")
	requireQuiet(t, 0, "a failed backup is not retried by the controller")
}

// TestPurgeWaitsForCredentialsSecret: deleting a policy with backupRetention: Delete whose S3
// credentials Secret is missing started a purge Job that waited, not started, until its deadline,
// and the policy (and the Stack's deletion) said only that it was purging. Now no Job starts and
// nothing is deleted: the policy is Stalled with SecretNotFound, naming the Secret and the way out
// (the skip-backup-purge annotation), keeps its finalizer and is not reconciled in a loop; once the
// Secret exists the purge runs and the policy goes.
func TestPurgeWaitsForCredentialsSecret(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	h.database("gone")
	h.policy("gone", s3To("gone-s3"), func(bp *componentsv1alpha1.BackupPolicy) { bp.Spec.BackupRetention = componentsv1alpha1.Delete })
	h.Eventually(func() bool { return slices.Contains(h.get("gone").Finalizers, BackupsFinalizer) }, "the policy holds its backups' finalizer")
	h.waitStalled("gone", componentsv1alpha1.ReasonSecretNotFound)
	bp := h.get("gone")
	require.NoError(t, h.C.Delete(ctx, bp))

	var msg string
	h.Eventually(func() bool {
		c := conditions.Get(h.get("gone"), componentsv1alpha1.ConditionStalled)
		if c == nil || c.Reason != componentsv1alpha1.ReasonSecretNotFound || !strings.Contains(c.Message, "the purge of the backups waits") {
			return false
		}
		msg = c.Message
		return true
	}, "the policy says why its purge waits")
	require.Contains(t, msg, "the S3 credentials Secret gone-s3 (destination s3.credentialsSecret) does not exist")
	require.Contains(t, msg, "the purge of the backups waits until then (nothing is deleted meanwhile)")
	require.Contains(t, msg, canopyv1alpha1.AnnotationSkipBackupPurge+"=true")
	require.True(t, apierrors.IsNotFound(h.Get(&batchv1.Job{}, desired.PurgeJobName(bp))), "no purge Job waits for a Secret that is not there")
	requireQuiet(t, 1, "a purge waiting for its Secret is not reconciled in a loop")
	require.Contains(t, h.get("gone").Finalizers, BackupsFinalizer, "the backups are neither deleted nor forgotten")

	h.secret("gone-s3", map[string]string{agent.SecretKeyAccessKeyID: "AKIAEXAMPLE", agent.SecretKeySecretAccessKey: "very-s3cret-value"})
	job := &batchv1.Job{}
	h.Eventually(func() bool { return h.Get(job, desired.PurgeJobName(bp)) == nil }, "the purge starts once the Secret exists")
	h.finish(job.Name, agent.Result{Operation: agent.OperationPurge, Succeeded: true, Deleted: []string{"gone-1"}})
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&componentsv1alpha1.BackupPolicy{}, "gone")) }, "the policy goes")
}
