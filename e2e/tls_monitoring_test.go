//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/e2e/cluster"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// TestTLSAndMonitoringArrivingLater: a Stack with TLS and monitoring becomes Ready with
// certificates issued by the real cert-manager, while the Prometheus operator is not installed
// (MonitoringAvailable=False); once its CRDs and the operator arrive, Canopy creates the
// ServiceMonitors without a restart, and the operator's generated scrape configuration has a job
// for each.
func TestTLSAndMonitoringArrivingLater(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "tls", func(s *canopyv1alpha1.Stack) {
		s.Spec.TLS = &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: cluster.SelfSignedIssuer, Kind: "ClusterIssuer"}}
		s.Spec.Monitoring = &componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true)}
		s.Spec.Frontend.Ingress = &componentsv1alpha1.IngressSpec{Host: "tls.example.com"}
	})
	t.Logf("Stack with TLS to Ready: %s", waitReady(t, ns, "tls", "1.0.0"))

	db := &componentsv1alpha1.Database{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tls"}, db))
	require.True(t, db.Status.TLSEnabled, "PostgreSQL serves with the issued certificate")
	c1 := conditions.Get(db, componentsv1alpha1.ConditionMonitoringAvailable)
	require.NotNil(t, c1)
	require.Equal(t, metav1.ConditionFalse, c1.Status)
	require.Equal(t, componentsv1alpha1.ReasonCRDNotInstalled, c1.Reason)

	requireCertificate(t, ns, "tls-postgres-tls", "tls-postgres."+ns+".svc")
	requireCertificate(t, ns, "tls-web-tls", "tls.example.com")

	// The Prometheus operator arrives: its CRDs first, then the operator.
	require.NoError(t, c.StartMonitoring(ctx))
	start := time.Now()
	for _, name := range []string{"tls-postgres", "tls-web"} {
		require.Eventually(t, func() bool {
			return c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &monitoringv1.ServiceMonitor{}) == nil
		}, wait, 200*time.Millisecond, "the ServiceMonitor %s appears without restarting Canopy", name)
	}
	t.Logf("ServiceMonitors created %s after the CRDs", time.Since(start).Round(100*time.Millisecond))
	require.Eventually(t, func() bool {
		d := &componentsv1alpha1.Database{}
		return c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tls"}, d) == nil &&
			conditions.IsTrue(d, componentsv1alpha1.ConditionMonitoringAvailable)
	}, wait, 200*time.Millisecond, "MonitoringAvailable turns True")
	require.NotContains(t, c.Exited(), "manager", "Canopy was not restarted")

	prom := &monitoringv1.Prometheus{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "main"}, Spec: monitoringv1.PrometheusSpec{
		CommonPrometheusFields: monitoringv1.CommonPrometheusFields{ServiceMonitorSelector: &metav1.LabelSelector{},
			ServiceMonitorNamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}}}}
	require.NoError(t, c.Client.Create(ctx, prom))
	var config string
	require.Eventually(t, func() bool {
		var err error
		config, err = c.ScrapeConfig(ctx, ns, "main")
		return err == nil && strings.Contains(config, "serviceMonitor/"+ns+"/tls-postgres/0") && strings.Contains(config, "serviceMonitor/"+ns+"/tls-web/0")
	}, wait, 200*time.Millisecond, "the generated scrape configuration has a job per ServiceMonitor")
	waitReady(t, ns, "tls", "1.0.0")

	// The Prometheus operator is uninstalled: Canopy reports it and carries on, and stops watching
	// the kinds that are gone (the suite's log check fails on a watch of a missing kind).
	require.NoError(t, c.StopMonitoring(ctx))
	start = time.Now()
	require.Eventually(t, func() bool {
		d, f := &componentsv1alpha1.Database{}, &componentsv1alpha1.Frontend{}
		gone := func(o conditions.Object) bool {
			c := conditions.Get(o, componentsv1alpha1.ConditionMonitoringAvailable)
			return c != nil && c.Status == metav1.ConditionFalse && c.Reason == componentsv1alpha1.ReasonCRDNotInstalled
		}
		return c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tls"}, d) == nil && gone(d) &&
			c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tls"}, f) == nil && gone(f)
	}, wait, 200*time.Millisecond, "MonitoringAvailable turns False on the Database and the Frontend")
	t.Logf("monitoring uninstall seen %s after the CRDs were deleted", time.Since(start).Round(100*time.Millisecond))
	scaleTo := int32(3)
	update(t, ns, "tls", func(s *canopyv1alpha1.Stack) { s.Spec.Frontend.Replicas = &scaleTo })
	require.Eventually(t, func() bool {
		f := &componentsv1alpha1.Frontend{}
		return c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tls"}, f) == nil && f.Status.ReadyReplicas == 3
	}, wait, 200*time.Millisecond, "later changes still reach the web tier")
	waitReady(t, ns, "tls", "1.0.0")
}

// requireCertificate checks that cert-manager issued the Certificate's Secret for dnsName.
func requireCertificate(t *testing.T, ns, secret, dnsName string) {
	t.Helper()
	s := &corev1.Secret{}
	require.NoError(t, c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: secret}, s))
	block, _ := pem.Decode(s.Data[corev1.TLSCertKey])
	require.NotNil(t, block, "the Secret %s holds a certificate", secret)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	require.Contains(t, cert.DNSNames, dnsName)
	require.NotEmpty(t, s.Data[corev1.TLSPrivateKeyKey])
	require.NotEmpty(t, s.Annotations[certmanagerv1.CertificateNameKey], "issued by cert-manager")
}
