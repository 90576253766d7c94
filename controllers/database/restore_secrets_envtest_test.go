package database

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
)

// userSecret writes a Secret of the user's, without Canopy's labels (so not in the manager's cache).
func (h *harness) userSecret(name string, data map[string]string) {
	h.T.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: name}}
	if err := h.Get(s, name); apierrors.IsNotFound(err) {
		s.StringData = data
		require.NoError(h.T, h.C.Create(context.Background(), s))
		return
	}
	s.StringData = data
	require.NoError(h.T, h.C.Update(context.Background(), s))
}

func s3Source(backup, credentials string) componentsv1alpha1.BackupSource {
	return componentsv1alpha1.BackupSource{BackupName: backup, Destination: componentsv1alpha1.BackupDestination{
		S3: &componentsv1alpha1.S3Destination{Endpoint: "https://s3.example.com", Bucket: "backups",
			CredentialsSecret: corev1.LocalObjectReference{Name: credentials}}}}
}

// TestRestoreWaitsForSecrets: a restore whose S3 credentials or encryption key Secret is missing or
// incomplete started a Job whose pod waited, not started, until the Job's six-hour deadline, while
// the Database said only "Restoring". Now no Job starts: the request stays Pending saying why, the
// Database is Stalled with SecretNotFound or SecretKeyMissing naming the Secret and key (never a
// value) and is not reconciled in a loop; once the Secrets are right the restore runs, without a
// change to the Database. Both a new database's bootstrap and an in-place request.
func TestRestoreWaitsForSecrets(t *testing.T) {
	h := start(t)
	const backup = "shop-20261101-020000"
	values := []string{"AKIAEXAMPLE", "very-s3cret-value"}

	boot := s3Source(backup, "boot-s3")
	boot.Destination.Encryption = &componentsv1alpha1.BackupEncryption{KeySecret: corev1.LocalObjectReference{Name: "boot-keys"}, KeyID: "k2"}
	h.create("boot", "17", func(db *componentsv1alpha1.Database) {
		db.Spec.Bootstrap = &componentsv1alpha1.DatabaseBootstrap{FromBackup: boot}
	})
	h.statefulSet("boot", func(*appsv1.StatefulSet) bool { return true }, "sts")
	h.runPod("boot", true, "")

	h.userSecret("inplace-s3", map[string]string{agent.SecretKeyAccessKeyID: values[0]})
	h.readyDatabase("inplace", "17")
	h.update("inplace", func(d *componentsv1alpha1.Database) {
		d.Spec.RestoreRequest = &componentsv1alpha1.RestoreRequest{ID: "r1", Source: s3Source(backup, "inplace-s3")}
	})

	stalled := h.waitCondition("boot", componentsv1alpha1.ConditionStalled, metav1.ConditionTrue, componentsv1alpha1.ReasonSecretNotFound)
	require.Contains(t, stalled.Message, "the S3 credentials Secret boot-s3 (restore destination s3.credentialsSecret) does not exist in namespace "+h.NS)
	require.Contains(t, stalled.Message, "create it with the keys accessKeyID and secretAccessKey; the restore of "+backup+
		" into the new database waits until then")
	db := h.database("boot")
	require.Equal(t, componentsv1alpha1.PhasePending, db.Status.Bootstrap.Phase)
	require.Equal(t, stalled.Message, db.Status.Bootstrap.Message, "the request says why it waits")
	require.Equal(t, metav1.ConditionFalse, conditions.Get(db, componentsv1alpha1.ConditionReady).Status, "not Ready before its data is restored")

	stalled = h.waitCondition("inplace", componentsv1alpha1.ConditionStalled, metav1.ConditionTrue, componentsv1alpha1.ReasonSecretKeyMissing)
	require.Contains(t, stalled.Message, "the S3 credentials Secret inplace-s3 has no key secretAccessKey")
	require.Contains(t, stalled.Message, "the restore request r1 of "+backup+" waits until then")
	db = h.database("inplace")
	require.Equal(t, componentsv1alpha1.PhasePending, db.Status.Restore.Phase)
	require.Equal(t, "r1", db.Status.Restore.ID)
	for _, name := range []string{"boot", "inplace"} {
		for _, c := range h.database(name).Status.Conditions {
			for _, v := range values {
				require.NotContains(t, c.Message, v, "no Secret value in a condition")
			}
		}
	}
	for _, job := range []string{desired.RestoreJobName(h.database("boot"), bootstrapID), desired.RestoreJobName(db, "request-r1")} {
		require.True(t, apierrors.IsNotFound(h.Get(&batchv1.Job{}, job)), "no restore Job waits for a Secret that is not there")
	}
	requireNoReconcile(t, "Databases waiting for a Secret are not reconciled in a loop")

	// The credentials come, but the encryption key Secret is still missing.
	h.userSecret("boot-s3", map[string]string{agent.SecretKeyAccessKeyID: values[0], agent.SecretKeySecretAccessKey: values[1]})
	h.Eventually(func() bool {
		c := conditions.Get(h.database("boot"), componentsv1alpha1.ConditionStalled)
		return c != nil && c.Reason == componentsv1alpha1.ReasonSecretNotFound &&
			c.Message == "the encryption key Secret boot-keys (restore destination encryption.keySecret) does not exist in namespace "+h.NS+
				": create it with the keys the backups were encrypted with; the restore of "+backup+" into the new database waits until then"
	}, "the key Secret is named next")

	// Once the Secrets are right, each restore runs.
	h.userSecret("boot-keys", map[string]string{"k1": "an old key is enough: the manifest names the key"})
	h.userSecret("inplace-s3", map[string]string{agent.SecretKeyAccessKeyID: values[0], agent.SecretKeySecretAccessKey: values[1]})
	job := h.restoreJob("boot", bootstrapID)
	h.finishRestore(job.Name, agent.Result{Operation: agent.OperationRestore, Succeeded: true, Name: backup})
	require.Equal(t, componentsv1alpha1.PhaseSucceeded, h.waitReady("boot").Status.Bootstrap.Phase)
	job = h.restoreJob("inplace", "request-r1")
	h.finishRestore(job.Name, agent.Result{Operation: agent.OperationRestore, Succeeded: true, Name: backup})
	h.Eventually(func() bool {
		r := h.database("inplace").Status.Restore
		return r != nil && r.Phase == componentsv1alpha1.PhaseSucceeded
	}, "the in-place restore succeeds")
	h.waitReady("inplace")
	require.Nil(t, conditions.Get(h.database("inplace"), componentsv1alpha1.ConditionStalled))
}
