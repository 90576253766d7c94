package destsecrets

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
)

// TestRecheckBacksOff: the wait before looking at a missing Secret again grows with how long the
// object has been Stalled, from RecheckMin to RecheckMax.
func TestRecheckBacksOff(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for since, want := range map[time.Duration]time.Duration{0: RecheckMin, 5 * time.Second: RecheckMin,
		40 * time.Second: 40 * time.Second, time.Hour: RecheckMax} {
		bp := &componentsv1alpha1.BackupPolicy{}
		if since > 0 {
			bp.Status.Conditions = []metav1.Condition{{Type: componentsv1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
				LastTransitionTime: metav1.NewTime(now.Add(-since))}}
		}
		require.Equal(t, want, Recheck(bp, now), "stalled for %s", since)
	}
}

// TestEvaluateByUse: the purge needs only the S3 credentials; a restore needs the key Secret to
// exist, whatever keys it holds (each backup's manifest names its key); a backup needs keyID in
// it, and a key. Messages name the Secret, the key and what waits, never a value.
func TestEvaluateByUse(t *testing.T) {
	d := componentsv1alpha1.BackupDestination{
		S3: &componentsv1alpha1.S3Destination{Endpoint: "https://s3.example.com", Bucket: "b",
			CredentialsSecret: corev1.LocalObjectReference{Name: "creds"}},
		Encryption: &componentsv1alpha1.BackupEncryption{KeySecret: corev1.LocalObjectReference{Name: "keys"}, KeyID: "k2"},
	}
	creds := &corev1.Secret{Data: map[string][]byte{agent.SecretKeyAccessKeyID: []byte("AKIA"), agent.SecretKeySecretAccessKey: []byte("s3cret")}}
	oldKeys := &corev1.Secret{Data: map[string][]byte{"k1": []byte("not-a-key-value")}}
	purge := Use{Field: "destination", Waits: "the purge waits", Keys: KeysNone}
	restore := Use{Field: "restore destination", Waits: "the restore waits", Keys: KeysRead}
	backup := Use{Field: "destination", Waits: "backups wait", Keys: KeysWrite}

	require.Equal(t, []string{"creds"}, Names(d, purge))
	require.Equal(t, []string{"creds", "keys"}, Names(d, restore))
	require.Nil(t, Evaluate("ns", d, purge, map[string]*corev1.Secret{"creds": creds}), "the purge reads no key")
	require.Nil(t, Evaluate("ns", d, restore, map[string]*corev1.Secret{"creds": creds, "keys": oldKeys}), "a restore uses the manifest's key")

	p := Evaluate("ns", d, restore, map[string]*corev1.Secret{"creds": creds})
	require.Equal(t, componentsv1alpha1.ReasonSecretNotFound, p.Reason)
	require.Equal(t, "the encryption key Secret keys (restore destination encryption.keySecret) does not exist in namespace ns: "+
		"create it with the keys the backups were encrypted with; the restore waits until then", p.Message)
	p = Evaluate("ns", d, purge, nil)
	require.Equal(t, componentsv1alpha1.ReasonSecretNotFound, p.Reason)
	require.Equal(t, "the S3 credentials Secret creds (destination s3.credentialsSecret) does not exist in namespace ns: "+
		"create it with the keys accessKeyID and secretAccessKey; the purge waits until then", p.Message)
	p = Evaluate("ns", d, backup, map[string]*corev1.Secret{"creds": creds, "keys": oldKeys})
	require.Equal(t, componentsv1alpha1.ReasonSecretKeyMissing, p.Reason)
	require.NotContains(t, p.Message, "not-a-key-value")
}
