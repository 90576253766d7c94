package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Issue plays cert-manager for a Certificate: it writes the Secret secretName of the test's
// namespace with labels (the Certificate's secretTemplate), holding a key pair for dnsNames signed
// by a new CA (tls.crt, tls.key) and that CA (ca.crt), as cert-manager's CA and SelfSigned issuers
// do. Issued again, it renews: the Secret's data is replaced. It returns the CA.
func (h *Harness) Issue(secretName string, labels map[string]string, dnsNames []string) *x509.Certificate {
	h.T.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(h.T, err)
	caTemplate := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(90 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	require.NoError(h.T, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(h.T, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(h.T, err)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), DNSNames: dnsNames, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(60 * 24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, ca, &key.PublicKey, caKey)
	require.NoError(h.T, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(h.T, err)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: secretName, Labels: labels}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
			"ca.crt":                pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		}}
	err = h.C.Create(h.T.Context(), secret)
	if apierrors.IsAlreadyExists(err) { // a renewal: cert-manager rewrites the Secret's data
		have := &corev1.Secret{}
		require.NoError(h.T, h.C.Get(h.T.Context(), client.ObjectKeyFromObject(secret), have))
		have.Data = secret.Data
		err = h.C.Update(h.T.Context(), have)
	}
	require.NoError(h.T, err)
	return ca
}
