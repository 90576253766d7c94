package pgadmin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/canopy-dev/canopy/internal/pgtest"
)

// keyPair is a self-signed server certificate for 127.0.0.1, as PEM files and the certificate's DER.
type keyPair struct {
	crt, key, der []byte
}

func newKeyPair(t *testing.T, cn string) keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	k, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	return keyPair{crt: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: k}), der: der}
}

// TestRenewedCertificateIsReloaded: a server's renewed key pair, once in its files, is read back by
// ReadServerFile and served to new connections after ReloadConfiguration, without a restart;
// PresentedCertificate says which certificate a session was given.
func TestRenewedCertificateIsReloaded(t *testing.T) {
	requireServer(t) // the server binaries and their checks; this test runs its own server with TLS
	first, renewed := newKeyPair(t, "first"), newKeyPair(t, "renewed")
	dir, err := os.MkdirTemp("", "pgadmin-tls-")
	require.NoError(t, err)
	s, err := pgtest.Start(dir, pgtest.Options{SuperUser: "postgres", SuperPassword: pgtest.RandomHex(12),
		Files: map[string][]byte{"tls.crt": first.crt, "tls.key": first.key},
		Conf: []string{"ssl = on", "ssl_cert_file = '" + filepath.Join(dir, "tls.crt") + "'",
			"ssl_key_file = '" + filepath.Join(dir, "tls.key") + "'", "shared_buffers = '16MB'"}})
	require.NoError(t, err)
	defer s.Stop()
	ctx := context.Background()
	info := ConnInfo{Host: "127.0.0.1", Port: s.Port, User: s.SuperUser, Password: s.SuperPassword, SSLMode: "require"}
	presented := func() []byte {
		a, err := Connect(ctx, info)
		require.NoError(t, err)
		defer func() { _ = a.Close(ctx) }()
		return a.PresentedCertificate()
	}
	require.Equal(t, first.der, presented())
	plain := info
	plain.SSLMode = "disable"
	a, err := Connect(ctx, plain)
	require.NoError(t, err)
	require.Nil(t, a.PresentedCertificate(), "no TLS, no certificate")
	_ = a.Close(ctx)

	require.NoError(t, s.WriteFile("tls.crt", renewed.crt))
	require.NoError(t, s.WriteFile("tls.key", renewed.key))
	a, err = Connect(ctx, info)
	require.NoError(t, err)
	defer func() { _ = a.Close(ctx) }()
	crt, err := a.ReadServerFile(ctx, filepath.Join(dir, "tls.crt"))
	require.NoError(t, err)
	require.Equal(t, renewed.crt, crt, "the server's file holds the renewed certificate")
	require.Equal(t, first.der, presented(), "still the first one until the configuration is reloaded")
	require.NoError(t, a.ReloadConfiguration(ctx))
	require.Eventually(t, func() bool { return string(presented()) == string(renewed.der) }, 10*time.Second, 100*time.Millisecond,
		"new connections get the renewed certificate")
	_, err = a.ReadServerFile(ctx, filepath.Join(dir, "absent"))
	require.Error(t, err)
}
