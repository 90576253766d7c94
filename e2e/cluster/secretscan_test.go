package cluster

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const testPEM = `-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5YV7mUpr6cD2ToAoGCCqGSM49
AwEHoUQDQgAEwF3V3Xm3r8b2vSg0y1m6b7vKxTrv7Vq1ot1cjs4nI5w9rCl4WbVl
-----END EC PRIVATE KEY-----
`

// TestSecretScanFindsLeaks: a secret is found in every channel and every form a leak would take
// (clear, JSON-escaped, base64; a private key's lines), reported by origin and place, never by
// value; values that are not secret (host, user, a short test value) are not looked for.
func TestSecretScanFindsLeaks(t *testing.T) {
	s := &SecretScan{secrets: map[string]string{}, texts: map[string]string{}, stop: func() {}}
	password := "Zq8x-4Vt\"9LmPw2r" // a quote, so its JSON form differs
	s.addSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "e2e-1", Name: "shop-db-credentials"},
		Data: map[string][]byte{"password": []byte(password), "host": []byte("shop-postgres.e2e-1.svc"), "user": []byte("shop")}})
	s.addSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "e2e-1", Name: "shop-tls"},
		Data: map[string][]byte{"tls.key": []byte(testPEM), "tls.crt": []byte("-----BEGIN CERTIFICATE-----\nnot secret\n")}})
	s.addSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "e2e-1", Name: "shop-backup-keys"},
		Data: map[string][]byte{"2026-01": []byte("q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c=")}})
	s.addSecret(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "e2e-1", Name: "short"}, Data: map[string][]byte{"password": []byte("pw")}})
	secrets, _ := s.SecretsSeen()
	require.Equal(t, 1+2+1, secrets, "the password, the key's two body lines, the encryption key")

	s.addText("Event e2e-1/a", "Created the credentials Secret shop-db-credentials for user shop at shop-postgres.e2e-1.svc")
	s.addText("stacks e2e-1/shop status", `{"conditions":[{"message":"ready"}]}`)
	log := filepath.Join(t.TempDir(), "manager.log")
	require.NoError(t, os.WriteFile(log, []byte(`{"msg":"connected","user":"shop"}`+"\n"), 0o644))
	leaks, err := s.Scan(log, "")
	require.NoError(t, err)
	require.Empty(t, leaks, "names, hosts and users are not secrets")

	s.addText("stacks e2e-1/shop status", `{"conditions":[{"message":"login failed with `+strings.ReplaceAll(password, `"`, `\"`)+`"}]}`)
	s.addText("stacks e2e-1/shop status", `{"conditions":[{"message":"ready"}]}`) // gone again: still found
	s.addText("Event e2e-1/b", "key "+strings.Split(testPEM, "\n")[2])
	s.addText("databases e2e-1/shop status", base64.StdEncoding.EncodeToString([]byte("q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c=")))
	require.NoError(t, os.WriteFile(log, []byte(`{"msg":"applying","password":"`+strings.ReplaceAll(password, `"`, `\"`)+`"}`+"\n"), 0o644))
	leaks, err = s.Scan(log, "")
	require.NoError(t, err)
	require.Equal(t, []string{
		"the secret e2e-1/shop-backup-keys[2026-01] appears in databases e2e-1/shop status",
		"the secret e2e-1/shop-db-credentials[password] appears in stacks e2e-1/shop status (update 1)",
		"the secret e2e-1/shop-db-credentials[password] appears in the manager's log manager.log",
		"the secret e2e-1/shop-tls[tls.key] appears in Event e2e-1/b",
	}, leaks)
	for _, l := range leaks {
		require.NotContains(t, l, password)
	}
}
