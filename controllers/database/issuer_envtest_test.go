package database

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// installCertManagerCRDs installs cert-manager's Certificate, Issuer and ClusterIssuer CRDs for
// the test, and removes them after it.
func installCertManagerCRDs(t *testing.T, h *harness) {
	t.Helper()
	cm, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	require.NoError(t, err)
	var files []string
	for _, kind := range []string{"certificates", "issuers", "clusterissuers"} {
		files = append(files, filepath.Join(cm, "deploy", "crds", "cert-manager.io_"+kind+".yaml"))
	}
	crds, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: files, ErrorIfPathMissing: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, crd := range crds {
			require.NoError(t, client.IgnoreNotFound(h.C.Delete(context.Background(), crd)))
		}
		for _, crd := range crds {
			require.Eventually(t, func() bool {
				return apierrors.IsNotFound(h.C.Get(context.Background(), client.ObjectKeyFromObject(crd), &apiextensionsv1.CustomResourceDefinition{}))
			}, testenv.Wait, testenv.Tick)
		}
	})
}

// certificateIssuing plays cert-manager for a Certificate it cannot issue yet: Ready=False with
// the words it uses (the CertificateRequest, not the Certificate, says the issuer is missing).
func (h *harness) certificateIssuing(name string) {
	h.T.Helper()
	h.Eventually(func() bool { return h.Get(&certmanagerv1.Certificate{}, name) == nil }, "the Certificate %s exists", name)
	testenv.Mutate(h.T, h.C, h.Key(name), func() *certmanagerv1.Certificate { return &certmanagerv1.Certificate{} }, true,
		func(c *certmanagerv1.Certificate) {
			c.Status.Conditions = []certmanagerv1.CertificateCondition{{Type: certmanagerv1.CertificateConditionReady,
				Status: cmmeta.ConditionFalse, Reason: "DoesNotExist", Message: "Issuing certificate as Secret does not exist"}}
		})
}

// TestMissingIssuer: a Database whose spec.tls.issuerRef names an issuer that does not exist was
// left Reconciling with cert-manager's "Issuing certificate as Secret does not exist"; it is now
// Stalled with IssuerNotFound, naming the issuer and what to do, and costs no reconcile while it
// waits. An issuer that exists but is not ready adds its own message to CertificateNotReady.
// Creating the issuer is enough: cert-manager issues, and the Certificate's watch does the rest.
func TestMissingIssuer(t *testing.T) {
	h := start(t)
	installCertManagerCRDs(t, h)
	h.create("wrong", "17", withTLS) // ClusterIssuer "ca", which does not exist
	h.create("pending", "17", func(db *componentsv1alpha1.Database) {
		db.Spec.TLS = &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: "vault", Kind: "Issuer", Group: "cert-manager.io"}}
	})
	issuer := &certmanagerv1.Issuer{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "vault"},
		Spec: certmanagerv1.IssuerSpec{IssuerConfig: certmanagerv1.IssuerConfig{SelfSigned: &certmanagerv1.SelfSignedIssuer{}}}}
	require.NoError(t, h.C.Create(context.Background(), issuer))
	issuer.Status.Conditions = []certmanagerv1.IssuerCondition{{Type: certmanagerv1.IssuerConditionReady, Status: cmmeta.ConditionFalse,
		Reason: "ErrInitIssuer", Message: `Error initializing issuer: secret "vault-token" not found`}}
	require.NoError(t, h.C.Status().Update(context.Background(), issuer))
	h.certificateIssuing("wrong-postgres-tls")
	h.certificateIssuing("pending-postgres-tls")

	ready := h.waitCondition("wrong", componentsv1alpha1.ConditionReady, metav1.ConditionFalse, componentsv1alpha1.ReasonIssuerNotFound)
	require.Contains(t, ready.Message, "the ClusterIssuer ca that spec.tls.issuerRef names does not exist in the cluster")
	require.Contains(t, ready.Message, "cannot issue the Certificate wrong-postgres-tls: create the ClusterIssuer, or correct tls.issuerRef")
	stalled := conditions.Get(h.database("wrong"), componentsv1alpha1.ConditionStalled)
	require.NotNil(t, stalled, "only a person can create the issuer")
	require.Equal(t, componentsv1alpha1.ReasonIssuerNotFound, stalled.Reason)

	ready = h.waitCondition("pending", componentsv1alpha1.ConditionReady, metav1.ConditionFalse, componentsv1alpha1.ReasonCertificateNotReady)
	require.Contains(t, ready.Message, `the Issuer vault is not ready: Error initializing issuer: secret "vault-token" not found`)
	require.Nil(t, conditions.Get(h.database("pending"), componentsv1alpha1.ConditionStalled), "an issuer that exists may become ready")
	requireNoReconcile(t, "Databases waiting for an issuer are not reconciled again")
	testenv.RequireIdle(t, h.mgr, 5*time.Second, "Databases waiting for an issuer cost no API request")

	// The issuer is created, and cert-manager issues.
	require.NoError(t, h.C.Create(context.Background(), &certmanagerv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "ca"},
		Spec: certmanagerv1.IssuerSpec{IssuerConfig: certmanagerv1.IssuerConfig{SelfSigned: &certmanagerv1.SelfSignedIssuer{}}}}))
	t.Cleanup(func() {
		_ = h.C.Delete(context.Background(), &certmanagerv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "ca"}})
	})
	db := h.database("wrong")
	ca := h.Issue("wrong-postgres-tls", desired.Labels(db), desired.DNSNames(db))
	testenv.Mutate(t, h.C, h.Key("wrong-postgres-tls"), func() *certmanagerv1.Certificate { return &certmanagerv1.Certificate{} }, true,
		func(c *certmanagerv1.Certificate) {
			c.Status.Conditions = []certmanagerv1.CertificateCondition{{Type: certmanagerv1.CertificateConditionReady, Status: cmmeta.ConditionTrue,
				Reason: "Ready"}}
		})
	h.statefulSet("wrong", func(s *appsv1.StatefulSet) bool {
		return h.servesTLS(s) && s.Spec.Template.Annotations[desired.AnnotationCertificate] != ""
	}, "the pod starts with the issued certificate")
	h.runPod("wrong", true, "")
	h.waitReady("wrong")
	h.requireVerifyingCredentials("wrong", ca)
}
