package manager

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The metrics endpoint's certificate. controller-runtime's default is a self-signed certificate
// made anew at each start, which no scraper can verify: the ServiceMonitor had to skip
// verification, and Prometheus sent its service account token to whatever answered at the pod's
// address. The manager instead keeps one key pair in a Secret of its namespace, shared by every
// replica, and publishes the certificate in a ConfigMap there, which the ServiceMonitor names as
// its CA (with MetricsServerName as the name to verify).
const (
	// MetricsCertSecret holds the metrics endpoint's key pair (tls.crt, tls.key).
	MetricsCertSecret = "canopy-metrics-cert" //nolint:gosec // G101: a Secret's name, not a credential
	// MetricsCAConfigMap publishes its certificate as ca.crt.
	MetricsCAConfigMap = "canopy-metrics-ca"
	// MetricsServerName is the name the certificate is for: the metrics Service's name, which the
	// ServiceMonitor's tlsConfig.serverName gives (the namespace is the installer's choice).
	MetricsServerName = "canopy-controller-manager-metrics-service"
	// metricsCertValidity, and metricsCertRenewBefore: a start within that time of the expiry makes a
	// new key pair (the manager restarts at least at each upgrade).
	metricsCertValidity    = 2 * 365 * 24 * time.Hour
	metricsCertRenewBefore = 90 * 24 * time.Hour
)

// +kubebuilder:rbac:groups=core,resources=secrets;configmaps,verbs=get;create;patch

// EnsureMetricsCert returns the key pair the metrics endpoint serves, from the Secret
// MetricsCertSecret of namespace, made (and published in MetricsCAConfigMap) when it is missing,
// unreadable or near its expiry. Replicas starting together agree on one: the first to create
// the Secret wins, the others read it.
func EnsureMetricsCert(ctx context.Context, c client.Client, namespace string, now time.Time) (tls.Certificate, error) {
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: namespace, Name: MetricsCertSecret}
	err := c.Get(ctx, key, secret)
	switch {
	case apierrors.IsNotFound(err):
		crt, k, err := newMetricsKeyPair(now)
		if err != nil {
			return tls.Certificate{}, err
		}
		secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: MetricsCertSecret,
			Labels: map[string]string{"app.kubernetes.io/name": "canopy", "app.kubernetes.io/component": "metrics"}},
			Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: k}}
		if err := c.Create(ctx, secret); apierrors.IsAlreadyExists(err) {
			if err := c.Get(ctx, key, secret); err != nil {
				return tls.Certificate{}, fmt.Errorf("reading the Secret %s another replica created: %w", MetricsCertSecret, err)
			}
		} else if err != nil {
			return tls.Certificate{}, fmt.Errorf("creating the Secret %s: %w", MetricsCertSecret, err)
		}
	case err != nil:
		return tls.Certificate{}, fmt.Errorf("reading the Secret %s: %w", MetricsCertSecret, err)
	case !usable(secret.Data, now):
		crt, k, err := newMetricsKeyPair(now)
		if err != nil {
			return tls.Certificate{}, err
		}
		patch := client.MergeFrom(secret.DeepCopy())
		secret.Data = map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: k}
		if err := c.Patch(ctx, secret, patch); err != nil {
			return tls.Certificate{}, fmt.Errorf("renewing the Secret %s: %w", MetricsCertSecret, err)
		}
	}
	pair, err := tls.X509KeyPair(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("the Secret %s: %w", MetricsCertSecret, err)
	}
	return pair, publishMetricsCA(ctx, c, namespace, secret.Data[corev1.TLSCertKey])
}

// publishMetricsCA brings the ConfigMap's ca.crt in line with crt.
func publishMetricsCA(ctx context.Context, c client.Client, namespace string, crt []byte) error {
	cm := &corev1.ConfigMap{}
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: MetricsCAConfigMap}, cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: MetricsCAConfigMap,
			Labels: map[string]string{"app.kubernetes.io/name": "canopy", "app.kubernetes.io/component": "metrics"}},
			Data: map[string]string{"ca.crt": string(crt)}}
		if err := c.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating the ConfigMap %s: %w", MetricsCAConfigMap, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading the ConfigMap %s: %w", MetricsCAConfigMap, err)
	case cm.Data["ca.crt"] == string(crt):
		return nil
	}
	patch := client.MergeFrom(cm.DeepCopy())
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data["ca.crt"] = string(crt)
	if err := c.Patch(ctx, cm, patch); err != nil {
		return fmt.Errorf("updating the ConfigMap %s: %w", MetricsCAConfigMap, err)
	}
	return nil
}

// usable says whether data holds a key pair for MetricsServerName valid for longer than
// metricsCertRenewBefore.
func usable(data map[string][]byte, now time.Time) bool {
	pair, err := tls.X509KeyPair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey])
	if err != nil || len(pair.Certificate) == 0 {
		return false
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	return err == nil && cert.VerifyHostname(MetricsServerName) == nil && now.Add(metricsCertRenewBefore).Before(cert.NotAfter)
}

// newMetricsKeyPair makes a self-signed certificate for MetricsServerName (its own CA) and its key.
func newMetricsKeyPair(now time.Time) (crt, key []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: MetricsServerName},
		DNSNames: []string{MetricsServerName}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(metricsCertValidity),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}
