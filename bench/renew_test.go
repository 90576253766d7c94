package main

import (
	"context"
	"testing"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/canopy-dev/canopy/internal/scheme"
)

// TestRenewFailedCertificates: only the bench's Certificates whose issuance failed are triggered
// again; one being issued, one issued and one outside the bench are left alone.
func TestRenewFailedCertificates(t *testing.T) {
	cert := func(ns string, issuing ...certmanagerv1.CertificateCondition) *certmanagerv1.Certificate {
		return &certmanagerv1.Certificate{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop-postgres-tls", Generation: 1},
			Status: certmanagerv1.CertificateStatus{Conditions: issuing}}
	}
	failed := certmanagerv1.CertificateCondition{Type: certmanagerv1.CertificateConditionIssuing, Status: cmmeta.ConditionFalse,
		Reason: "Failed", Message: "CSR not signed by referenced private key"}
	issuing := certmanagerv1.CertificateCondition{Type: certmanagerv1.CertificateConditionIssuing, Status: cmmeta.ConditionTrue, Reason: "DoesNotExist"}
	objs := []client.Object{cert(stackPrefix+"1", failed), cert(stackPrefix+"2", issuing), cert(stackPrefix + "3"), cert("users", failed),
		cert(oneMoreNamespace, failed)}
	cl := fake.NewClientBuilder().WithScheme(scheme.New()).WithStatusSubresource(&certmanagerv1.Certificate{}).WithObjects(objs...).Build()
	before := renewed
	renewFailedCertificates(context.Background(), cl)
	require.Equal(t, 2, renewed-before)
	for ns, want := range map[string]string{stackPrefix + "1": "ManuallyTriggered", stackPrefix + "2": "DoesNotExist", stackPrefix + "3": "",
		"users": "Failed", oneMoreNamespace: "ManuallyTriggered"} {
		got := &certmanagerv1.Certificate{}
		require.NoError(t, cl.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "shop-postgres-tls"}, got))
		reason := ""
		for _, c := range got.Status.Conditions {
			if c.Type == certmanagerv1.CertificateConditionIssuing {
				reason = c.Reason
			}
		}
		require.Equal(t, want, reason, ns)
	}
}
