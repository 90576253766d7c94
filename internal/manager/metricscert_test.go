package manager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestMetricsCertIsVerifiable: two replicas of the manager in one namespace serve the same
// certificate, which a scraper verifies with the ConfigMap's ca.crt for MetricsServerName — what
// the shipped ServiceMonitor does instead of skipping verification (and sending Prometheus' token
// to whatever answers). A start near the certificate's expiry makes a new one and publishes it.
func TestMetricsCertIsVerifiable(t *testing.T) {
	e := testenv.Require(t, env)
	ctx := context.Background()
	ns := e.Namespace(t)
	first, second := freeAddr(t), freeAddr(t)
	startManager(t, Options{MetricsAddr: first, SecureMetrics: true, ProbeAddr: "0", podNamespace: ns})
	startManager(t, Options{MetricsAddr: second, SecureMetrics: true, ProbeAddr: "0", podNamespace: ns})

	roots := func() *x509.CertPool {
		cm := &corev1.ConfigMap{}
		require.NoError(t, e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: MetricsCAConfigMap}, cm))
		pool := x509.NewCertPool()
		require.True(t, pool.AppendCertsFromPEM([]byte(cm.Data["ca.crt"])))
		return pool
	}
	served := func(addr string, pool *x509.CertPool) ([]byte, error) {
		var conn *tls.Conn
		var err error
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			conn, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
				&tls.Config{RootCAs: pool, ServerName: MetricsServerName, MinVersion: tls.VersionTLS12})
			if _, isNet := err.(*net.OpError); err == nil || !isNet {
				break // connected, or refused by verification: the endpoint answered
			}
		}
		if err != nil {
			return nil, err
		}
		defer func() { _ = conn.Close() }()
		return conn.ConnectionState().PeerCertificates[0].Raw, nil
	}
	pool := roots()
	a, err := served(first, pool)
	require.NoError(t, err, "the first replica's certificate verifies")
	b, err := served(second, pool)
	require.NoError(t, err, "the second replica's certificate verifies")
	require.Equal(t, a, b, "one certificate for every replica")
	_, err = served(first, x509.NewCertPool())
	require.Error(t, err, "and it is verified: an unknown CA is refused")

	// Near its expiry, a start renews it.
	secret := &corev1.Secret{}
	require.NoError(t, e.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: MetricsCertSecret}, secret))
	pair, err := EnsureMetricsCert(ctx, e.Client, ns, time.Now().Add(metricsCertValidity-metricsCertRenewBefore/2))
	require.NoError(t, err)
	require.NotEqual(t, a, pair.Certificate[0], "a new certificate")
	renewed, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	require.NoError(t, renewed.VerifyHostname(MetricsServerName))
	fresh := roots()
	_, err = renewed.Verify(x509.VerifyOptions{Roots: fresh, DNSName: MetricsServerName, CurrentTime: renewed.NotBefore.Add(2 * time.Hour)})
	require.NoError(t, err, "the ConfigMap publishes the renewed certificate")
}
