package main

import (
	"context"
	"strings"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// renewed counts the Certificates whose failed issuance the bench triggered again, in this process.
var renewed int

// renewFailedCertificates triggers the issuance again of the bench's Certificates whose last
// attempt failed, as `cmctl renew` does (Issuing=True, reason ManuallyTriggered). Under load the
// simulated cluster's cert-manager sometimes fails an issuance ("CSR not signed by referenced
// private key": its SelfSigned issuer read a key Secret its cache had not caught up with) and
// backs off for an hour, holding the whole run to its timeout for a fault that is cert-manager's.
// Canopy's part is unchanged: the Stack waits, says why, and goes Ready once the Certificate is.
func renewFailedCertificates(ctx context.Context, cl client.Client) {
	var list certmanagerv1.CertificateList
	if err := cl.List(ctx, &list); err != nil {
		return
	}
	for i := range list.Items {
		cert := &list.Items[i]
		if !strings.HasPrefix(cert.Namespace, stackPrefix) && cert.Namespace != oneMoreNamespace {
			continue
		}
		failed := -1
		for j, c := range cert.Status.Conditions {
			if c.Type == certmanagerv1.CertificateConditionIssuing && c.Status == cmmeta.ConditionFalse && c.Reason == "Failed" {
				failed = j
			}
		}
		if failed < 0 {
			continue
		}
		base := cert.DeepCopy()
		now := metav1.NewTime(time.Now())
		cert.Status.Conditions[failed] = certmanagerv1.CertificateCondition{Type: certmanagerv1.CertificateConditionIssuing,
			Status: cmmeta.ConditionTrue, Reason: "ManuallyTriggered", Message: "issuance triggered again by make bench after: " +
				base.Status.Conditions[failed].Message, LastTransitionTime: &now, ObservedGeneration: cert.Generation}
		if err := cl.Status().Patch(ctx, cert, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err == nil {
			renewed++
			logf("cert-manager failed to issue %s/%s (%s): issuance triggered again", cert.Namespace, cert.Name, base.Status.Conditions[failed].Message)
		}
	}
}
