package database

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/testenv"
)

func withTLS(db *componentsv1alpha1.Database) {
	db.Spec.TLS = &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: "ca", Kind: "ClusterIssuer", Group: "cert-manager.io"}}
}

// servesTLS: the StatefulSet mounts the certificate's Secret and its configuration turns SSL on.
func (h *harness) servesTLS(sts *appsv1.StatefulSet) bool {
	h.T.Helper()
	cm := &corev1.ConfigMap{}
	if h.Get(cm, desired.ConfigName(&componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Name: strings.TrimSuffix(sts.Name, "-postgres")}},
		configHash(sts))) != nil {
		return false
	}
	return slices.ContainsFunc(sts.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == desired.TLSVolume }) &&
		desired.ServesTLS(cm.Data["postgresql.conf"])
}

// waitCondition waits until the Database's condition has status and reason, and returns it.
func (h *harness) waitCondition(name, condType string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	h.T.Helper()
	var c *metav1.Condition
	h.Eventually(func() bool {
		c = conditions.Get(h.database(name), condType)
		return c != nil && c.Status == status && c.Reason == reason
	}, "Database %s: %s=%s/%s", name, condType, status, reason)
	return c
}

// requireNoStatefulSet: a new TLS Database creates no StatefulSet before its key pair exists.
func (h *harness) requireNoStatefulSet(name, why string) {
	h.T.Helper()
	require.True(h.T, apierrors.IsNotFound(h.Get(&appsv1.StatefulSet{}, name+"-postgres")), why)
}

// startedOnceWithCertificate waits for the StatefulSet of a new TLS Database and checks that it
// was created serving TLS with the issued certificate: at its first generation, so its pod starts
// once (the certificate stamped later used to roll a pod that had just started).
func (h *harness) startedOnceWithCertificate(name string) {
	h.T.Helper()
	sts := h.statefulSet(name, func(s *appsv1.StatefulSet) bool {
		return h.servesTLS(s) && s.Spec.Template.Annotations[desired.AnnotationCertificate] != ""
	}, "the StatefulSet is created with the certificate")
	require.Equal(h.T, int64(1), sts.Generation, "created with the certificate, not changed for it")
}

// requireNoRecreated: the Database's first StatefulSet, created late, is not reported as a
// deleted one recreated. Checked once it is Ready, long after the creation's events.
func (h *harness) requireNoRecreated(name string) {
	h.T.Helper()
	require.NotContains(h.T, testenv.EventReasons(h.T, h.C, h.database(name)), "Recreated", "its first creation is no remediation")
}

// requireNoReconcile checks that, once settled, the database controller is not reconciled again:
// a Database waiting for something it watches costs no requests.
func requireNoReconcile(t *testing.T, why string) {
	t.Helper()
	var last float64 = -1
	require.Eventually(t, func() bool {
		now := testenv.Reconciles(t)["database"]
		settled := now == last
		last = now
		return settled
	}, testenv.Wait, 1500*time.Millisecond, "the Database settles")
	require.Never(t, func() bool { return testenv.Reconciles(t)["database"] != last }, 3*time.Second, 100*time.Millisecond, why)
}

// requireVerifyingCredentials: the credentials Secret's uri verifies the server (verify-full with
// the CA file the client pods mount from its ca.crt), and the server's certificate verifies against
// that CA for the uri's host.
func (h *harness) requireVerifyingCredentials(name string, ca *x509.Certificate) {
	h.T.Helper()
	creds := &corev1.Secret{}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})
	h.Eventually(func() bool {
		return h.Get(creds, name+"-db-credentials") == nil && string(creds.Data["sslmode"]) == "verify-full" && bytes.Equal(creds.Data["ca.crt"], caPEM)
	}, "the credentials Secret verifies the server with the CA")
	u, err := url.Parse(string(creds.Data["uri"]))
	require.NoError(h.T, err)
	require.Equal(h.T, "verify-full", u.Query().Get("sslmode"))
	require.Equal(h.T, "/etc/canopy/database/ca.crt", u.Query().Get("sslrootcert"))
	require.Equal(h.T, u.Query().Get("sslrootcert"), string(creds.Data["sslrootcert"]))
	require.Equal(h.T, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), creds.Data["ca.crt"])

	tlsSecret := &corev1.Secret{}
	require.NoError(h.T, h.Get(tlsSecret, name+"-postgres-tls"))
	block, _ := pem.Decode(tlsSecret.Data[corev1.TLSCertKey])
	server, err := x509.ParseCertificate(block.Bytes)
	require.NoError(h.T, err)
	roots := x509.NewCertPool()
	require.True(h.T, roots.AppendCertsFromPEM(creds.Data["ca.crt"]))
	_, err = server.Verify(x509.VerifyOptions{DNSName: u.Hostname(), Roots: roots})
	require.NoError(h.T, err, "the uri's host is one of the certificate's names, and the Secret's CA signed it")
	require.True(h.T, h.database(name).Status.TLSEnabled)
}

// TestTLSRequiredWithoutCertManager: without cert-manager, a Database that asks for TLS does not
// start PostgreSQL without it and is not Ready, with a reason naming what is missing; a running
// plain Database that asks for TLS is not rolled; nothing polls while they wait. The key pair
// arriving (a Secret of the certificate's name, with Canopy's labels) is enough to serve TLS.
func TestTLSRequiredWithoutCertManager(t *testing.T) {
	h := start(t)
	h.create("tls", "17", withTLS)
	ready := h.waitCondition("tls", componentsv1alpha1.ConditionReady, metav1.ConditionFalse, componentsv1alpha1.ReasonCertManagerMissing)
	h.requireNoStatefulSet("tls", "a new instance waits for its key pair before anything could start")
	require.Contains(t, ready.Message, "Certificate tls-postgres-tls")
	require.Contains(t, ready.Message, "PostgreSQL does not start before the Secret tls-postgres-tls holds a key pair")
	require.True(t, conditions.IsTrue(h.database("tls"), componentsv1alpha1.ConditionStalled), "installing cert-manager needs a person")
	require.Equal(t, componentsv1alpha1.ReasonCRDNotInstalled, conditions.Get(h.database("tls"), componentsv1alpha1.ConditionCertificatesAvailable).Reason)
	require.False(t, h.database("tls").Status.TLSEnabled)

	// A Database serving without TLS is asked for it: it keeps serving as it was, not Ready.
	h.readyDatabase("plain", "17")
	before := h.statefulSet("plain", func(*appsv1.StatefulSet) bool { return true }, "sts")
	h.update("plain", withTLS)
	ready = h.waitCondition("plain", componentsv1alpha1.ConditionReady, metav1.ConditionFalse, componentsv1alpha1.ReasonCertManagerMissing)
	require.Contains(t, ready.Message, "keeps serving without TLS")
	creds := &corev1.Secret{}
	require.NoError(t, h.Get(creds, "plain-db-credentials"))
	require.True(t, strings.HasSuffix(string(creds.Data["uri"]), "?sslmode=prefer"), "its clients connect as before")
	requireNoReconcile(t, "a Database waiting for cert-manager is not reconciled again")
	after := h.statefulSet("plain", func(*appsv1.StatefulSet) bool { return true }, "sts")
	require.Equal(t, before.Generation, after.Generation, "the running PostgreSQL is not restarted meanwhile")
	require.Equal(t, before.Spec.Template.Annotations, after.Spec.Template.Annotations)

	// The key pair arrives: PostgreSQL starts with it, and clients verify it.
	db := h.database("tls")
	ca := h.Issue("tls-postgres-tls", desired.Labels(db), desired.DNSNames(db))
	h.startedOnceWithCertificate("tls")
	h.runPod("tls", true, "")
	db = h.waitReady("tls")
	h.requireNoRecreated("tls")
	require.Contains(t, conditions.Get(db, componentsv1alpha1.ConditionReady).Message, "cert-manager is not installed to renew its certificate")
	h.requireVerifyingCredentials("tls", ca)
}

// TestRenewedCertificateIsReloaded: cert-manager renews the server certificate (new key pair, new
// CA); PostgreSQL is not restarted: once the kubelet has written the renewed Secret into the pod,
// the controller has it reload its configuration, records what it serves, and then the
// credentials verify the server with the new CA. A reload that does not take is reported on the
// Ready condition and not asked for again.
func TestRenewedCertificateIsReloaded(t *testing.T) {
	h := start(t)
	h.create("renew", "17", withTLS)
	db := h.database("renew")
	h.Issue("renew-postgres-tls", desired.Labels(db), desired.DNSNames(db))
	h.startedOnceWithCertificate("renew")
	secret := &corev1.Secret{}
	require.NoError(t, h.Get(secret, "renew-postgres-tls"))
	h.admin.serve(secret.Data[corev1.TLSCertKey], true) // PostgreSQL started with it
	h.runPod("renew", true, "")
	h.waitReady("renew")
	sts := h.statefulSet("renew", func(*appsv1.StatefulSet) bool { return true }, "sts")
	pod := &corev1.Pod{}
	require.NoError(t, h.Get(pod, "renew-postgres-0"))

	// Renewed: the Secret changes, the files in the pod not yet. Nothing restarts; no reload yet.
	ca := h.Issue("renew-postgres-tls", desired.Labels(db), desired.DNSNames(db))
	require.NoError(t, h.Get(secret, "renew-postgres-tls"))
	renewed := secret.Data[corev1.TLSCertKey]
	h.Eventually(func() bool { return h.database("renew").Status.TLSCertificate != nil }, "the controller looks at the served certificate")
	require.Zero(t, h.admin.reloadCount(), "no reload before the kubelet wrote the renewed files")

	// The kubelet writes them: PostgreSQL reloads, and serves the renewed certificate.
	h.admin.serve(renewed, false)
	h.WaitEvent(h.database("renew"), "CertificateReloaded")
	h.Eventually(func() bool {
		st := h.database("renew").Status.TLSCertificate
		return st != nil && st.Served == desired.CertificateHash(renewed) && st.Pod == string(pod.UID)
	}, "status records the served certificate, for this pod")
	require.Equal(t, 1, h.admin.reloadCount(), "asked once")
	h.requireVerifyingCredentials("renew", ca)
	after := h.statefulSet("renew", func(*appsv1.StatefulSet) bool { return true }, "sts")
	require.Equal(t, sts.Generation, after.Generation, "PostgreSQL was not restarted")
	require.Equal(t, sts.Spec.Template.Annotations, after.Spec.Template.Annotations)
	require.True(t, conditions.IsTrue(h.database("renew"), componentsv1alpha1.ConditionReady))
}

func (f *fakeAdmin) reloadCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloads
}
