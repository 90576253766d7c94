package frontend

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// installCertManagerCRDs installs cert-manager's Certificate, Issuer and ClusterIssuer CRDs for
// the test, and removes them after it (the other tests expect a cluster without cert-manager).
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

// certificateReady plays cert-manager: the Certificate's Ready condition as it writes it.
func (h *harness) certificateReady(name string, ready bool) {
	h.T.Helper()
	h.Eventually(func() bool { return h.Get(&certmanagerv1.Certificate{}, name) == nil }, "the Certificate %s exists", name)
	cond := certmanagerv1.CertificateCondition{Type: certmanagerv1.CertificateConditionReady, Status: cmmeta.ConditionTrue, Reason: "Ready",
		Message: "Certificate is up to date and has not expired"}
	if !ready {
		// The CertificateRequest, not the Certificate, says that the issuer is missing.
		cond.Status, cond.Reason, cond.Message = cmmeta.ConditionFalse, "DoesNotExist", "Issuing certificate as Secret does not exist"
	}
	testenv.Mutate(h.T, h.C, h.Key(name), func() *certmanagerv1.Certificate { return &certmanagerv1.Certificate{} }, true,
		func(c *certmanagerv1.Certificate) { c.Status.Conditions = []certmanagerv1.CertificateCondition{cond} })
}

// requireNoReconcile checks that, once settled, the frontend controller is not reconciled again:
// a Frontend waiting for something it watches costs no requests.
func requireNoReconcile(t *testing.T, why string) {
	t.Helper()
	var last float64 = -1
	require.Eventually(t, func() bool {
		now := testenv.Reconciles(t)["frontend"]
		settled := now == last
		last = now
		return settled
	}, testenv.Wait, 1500*time.Millisecond, "the Frontend settles")
	require.Never(t, func() bool { return testenv.Reconciles(t)["frontend"] != last }, 3*time.Second, 100*time.Millisecond, why)
}

// TestMissingIssuer: a Frontend whose spec.tls.issuerRef names an issuer that does not exist was
// Ready with an https URL while cert-manager said only "Issuing certificate as Secret does not
// exist", and the ingress served no certificate of its own. It now reports Degraded with
// IssuerNotFound, naming the issuer and what to do, and says so in Ready's message; it stays Ready
// (the web tier serves, and an upgrade or a restore waiting for it must not be held) and costs no
// reconcile while it waits. Once the issuer exists and cert-manager issues, Degraded goes.
func TestMissingIssuer(t *testing.T) {
	h := start(t)
	installCertManagerCRDs(t, h)
	h.create("shop", "1.0", func(f *componentsv1alpha1.Frontend) {
		f.Spec.TLS = &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: "le-prod", Kind: "ClusterIssuer",
			Group: "cert-manager.io"}}
	})
	h.deploymentAt("shop", "1.0")
	h.rolledOut("shop")
	h.certificateReady("shop-web", false)

	var degraded *metav1.Condition
	h.Eventually(func() bool {
		degraded = conditions.Get(h.frontend("shop"), componentsv1alpha1.ConditionDegraded)
		return degraded != nil && degraded.Status == metav1.ConditionTrue && degraded.Reason == componentsv1alpha1.ReasonIssuerNotFound
	}, "the Frontend says its certificate's issuer is missing")
	require.Contains(t, degraded.Message, "the ClusterIssuer le-prod that spec.tls.issuerRef names does not exist in the cluster")
	require.Contains(t, degraded.Message, "cannot issue the Certificate shop-web: create the ClusterIssuer, or correct tls.issuerRef")
	h.waitReady("shop", "1.0")
	ready := conditions.Get(h.frontend("shop"), componentsv1alpha1.ConditionReady)
	require.Contains(t, ready.Message, "HTTPS waits for its certificate: the ClusterIssuer le-prod")
	require.Nil(t, conditions.Get(h.frontend("shop"), componentsv1alpha1.ConditionStalled), "the web tier serves: not Stalled")
	requireNoReconcile(t, "a Frontend waiting for an issuer is not reconciled again")
	testenv.RequireIdle(t, h.mgr, 5*time.Second, "a Frontend waiting for an issuer costs no API request")

	// The issuer is created, and cert-manager issues: the Certificate's watch brings the Frontend back.
	issuer := &certmanagerv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "le-prod"},
		Spec: certmanagerv1.IssuerSpec{IssuerConfig: certmanagerv1.IssuerConfig{SelfSigned: &certmanagerv1.SelfSignedIssuer{}}}}
	require.NoError(t, h.C.Create(context.Background(), issuer))
	t.Cleanup(func() { _ = h.C.Delete(context.Background(), issuer) })
	h.certificateReady("shop-web", true)
	h.Eventually(func() bool {
		fe := h.frontend("shop")
		return conditions.Get(fe, componentsv1alpha1.ConditionDegraded) == nil && conditions.IsTrue(fe, componentsv1alpha1.ConditionReady)
	}, "the Frontend recovers")
	require.NotContains(t, conditions.Get(h.frontend("shop"), componentsv1alpha1.ConditionReady).Message, "HTTPS waits")
}
