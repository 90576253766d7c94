package database

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// TestPlanTLS: TLS asked for is TLS required. PostgreSQL never runs without it (a new instance waits
// for its key pair, a running TLS one keeps it whatever goes), the Database is not Ready with a
// reason naming what is missing, and the credentials say verify-full once the pod serves the
// current certificate.
func TestPlanTLS(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	expiry := now.Add(30 * 24 * time.Hour)
	withTLS := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "apps"},
		Spec: componentsv1alpha1.DatabaseSpec{TLS: &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: "ca"}}}}
	issued := tlsObserved{certManager: true, keyPair: true, certificate: "c2", notAfter: expiry, ca: []byte("CA")}
	serving := podState{exists: true, ready: true, certificate: "c2"}
	tlsSts := stsState{exists: true, tls: true, certificate: "c1"}
	change := func(o tlsObserved, f func(*tlsObserved)) tlsObserved { f(&o); return o }
	for _, tc := range []struct {
		name string
		db   *componentsv1alpha1.Database
		obs  tlsObserved
		sts  stsState
		pod  podState
		want tlsPlan
		// message, when set, must be part of the plan's message; certificates likewise.
		message, certificates string
	}{
		{name: "no TLS asked: plain, and the Secret says so", db: &componentsv1alpha1.Database{}, obs: tlsObserved{certManager: true},
			want: tlsPlan{publish: true}},
		{name: "new Database without cert-manager: TLS configured, no StatefulSet before the key pair, Stalled", db: withTLS, obs: tlsObserved{},
			want:    tlsPlan{on: true, hold: true, stalled: true, reason: componentsv1alpha1.ReasonCertManagerMissing},
			message: "PostgreSQL does not start before the Secret shop-postgres-tls holds a key pair", certificates: "created once they are"},
		{name: "TLS newly asked of a running plain Database without cert-manager: it keeps serving, Stalled", db: withTLS, obs: tlsObserved{},
			sts:     stsState{exists: true},
			want:    tlsPlan{stalled: true, reason: componentsv1alpha1.ReasonCertManagerMissing},
			message: "keeps serving without TLS"},
		{name: "a TLS Database whose Secret went with cert-manager stays TLS, same certificate", db: withTLS, obs: tlsObserved{}, sts: tlsSts,
			want: tlsPlan{on: true, certificate: "c1", stalled: true, reason: componentsv1alpha1.ReasonCertManagerMissing}},
		{name: "Certificate not issued yet: TLS configured, no StatefulSet before the key pair", db: withTLS,
			obs:     tlsObserved{certManager: true, waiting: "waiting for cert-manager to issue the Certificate shop-postgres-tls: issuer not found"},
			want:    tlsPlan{on: true, hold: true, reason: componentsv1alpha1.ReasonCertificateNotReady},
			message: "issuer not found"},
		{name: "Certificate Ready but its Secret not seen", db: withTLS, obs: tlsObserved{certManager: true},
			want:    tlsPlan{on: true, hold: true, reason: componentsv1alpha1.ReasonCertificateNotReady},
			message: "holds no key pair"},
		{name: "issued before the StatefulSet exists: it is created with its certificate, once", db: withTLS, obs: issued,
			want: tlsPlan{on: true, certificate: "c2"}},
		{name: "renewed: PostgreSQL reloads it, nothing restarts, the Secret waits for it", db: withTLS, obs: issued, sts: tlsSts,
			pod:  podState{exists: true, ready: true, certificate: "c1"},
			want: tlsPlan{on: true, certificate: "c1", reload: true}},
		{name: "renewed while the pod is not ready: the reload waits for it", db: withTLS, obs: issued, sts: tlsSts,
			pod:  podState{exists: true, certificate: "c1"},
			want: tlsPlan{on: true, certificate: "c1"}},
		{name: "TLS newly asked of a running plain Database, the key pair there: it restarts with it", db: withTLS, obs: issued,
			sts: stsState{exists: true}, pod: podState{exists: true, ready: true},
			want: tlsPlan{on: true, certificate: "c2"}},
		{name: "the pod serves the current certificate: clients verify it", db: withTLS, obs: issued, sts: tlsSts, pod: serving,
			want: tlsPlan{on: true, certificate: "c1", publish: true, ca: []byte("CA")}},
		{name: "an issuer without ca.crt: clients cannot verify, not Ready", db: withTLS, sts: tlsSts, pod: serving,
			obs:     change(issued, func(o *tlsObserved) { o.ca = nil }),
			want:    tlsPlan{on: true, certificate: "c1", reason: componentsv1alpha1.ReasonCertificateNotReady},
			message: "holds no CA certificate (ca.crt)"},
		{name: "an unreadable certificate", db: withTLS, sts: tlsSts, pod: serving,
			obs:     change(issued, func(o *tlsObserved) { o.invalid = "its tls.crt is not a PEM certificate" }),
			want:    tlsPlan{on: true, certificate: "c1", reason: componentsv1alpha1.ReasonCertificateNotReady},
			message: "not a PEM certificate"},
		{name: "cert-manager uninstalled after issuing: TLS stays, Ready says nothing renews it, expiry looked at", db: withTLS, sts: tlsSts, pod: serving,
			obs:          change(issued, func(o *tlsObserved) { o.certManager = false }),
			want:         tlsPlan{on: true, certificate: "c1", publish: true, ca: []byte("CA"), requeue: expiry.Sub(now) + time.Second},
			certificates: "keeps serving TLS with the key pair in the Secret shop-postgres-tls (valid until 2026-12-26T12:00:00Z), which nothing renews"},
		{name: "and once it expired: not Ready", db: withTLS, sts: tlsSts, pod: serving,
			obs:     change(issued, func(o *tlsObserved) { o.certManager, o.notAfter = false, now.Add(-time.Minute) }),
			want:    tlsPlan{on: true, certificate: "c1", publish: true, ca: []byte("CA"), reason: componentsv1alpha1.ReasonCertificateNotReady},
			message: "expired at 2026-11-26T11:59:00Z, and cert-manager, which renews it, is not installed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := planTLS(tc.db, tc.obs, tc.sts, tc.pod, now)
			require.Contains(t, got.message, tc.message)
			require.Contains(t, got.certificates, tc.certificates)
			if tc.want.reason != "" {
				require.Contains(t, got.message, "shop-postgres-tls", "the message names the Certificate or its Secret")
			}
			if got.requeue > 0 {
				require.Contains(t, got.note, "cert-manager is not installed to renew its certificate")
			}
			got.message, got.certificates, got.note = "", "", ""
			require.Equal(t, tc.want, got)
		})
	}
}

// TestCertificateExpiry reads the server certificate's expiry from a PEM chain.
func TestCertificateExpiry(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	notAfter := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: notAfter.Add(-time.Hour), NotAfter: notAfter},
		&x509.Certificate{SerialNumber: big.NewInt(1)}, &key.PublicKey, key)
	require.NoError(t, err)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("issuer")})...)
	got, invalid := certificateExpiry(chain)
	require.Empty(t, invalid)
	require.True(t, notAfter.Equal(got))
	_, invalid = certificateExpiry([]byte("not PEM"))
	require.NotEmpty(t, invalid)
	_, invalid = certificateExpiry(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("garbage")}))
	require.NotEmpty(t, invalid)
}
