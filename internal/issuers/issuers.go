// Package issuers tells why cert-manager does not issue a Certificate that Canopy asked for: the
// Issuer or ClusterIssuer spec.tls.issuerRef names does not exist, or is not ready.
//
// cert-manager then says only that it is issuing (the CertificateRequest, not the Certificate,
// holds "Referenced ... not found"), and a missing issuer is a mistake that only a person can
// correct. The issuer is read from the API server, only while the Certificate waits (it is not
// Canopy's and not cached); an issuer of another group (an external issuer) is not checked.
package issuers

import (
	"context"
	"fmt"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// Observed is what the cluster says about the issuer of a Certificate that is not Ready.
type Observed struct {
	// Missing: the issuer does not exist, so cert-manager cannot issue (IssuerNotFound).
	Missing string
	// NotReady: the issuer exists and is not Ready: its own condition says why.
	NotReady string
}

// Observe reads the issuer ref names, for the Certificate certificate of namespace. A reader
// without the right, or a cluster without the kind, leaves both empty: the Certificate's own
// message stands.
func Observe(ctx context.Context, reader client.Reader, ref componentsv1alpha1.IssuerReference, namespace, certificate string) (Observed, error) {
	if ref.Group != "" && ref.Group != certmanagerv1.SchemeGroupVersion.Group {
		return Observed{}, nil
	}
	var obj client.Object
	var status *certmanagerv1.IssuerStatus
	key := client.ObjectKey{Name: ref.Name}
	switch ref.Kind {
	case certmanagerv1.ClusterIssuerKind:
		ci := &certmanagerv1.ClusterIssuer{}
		obj, status = ci, &ci.Status
	case "", certmanagerv1.IssuerKind:
		is := &certmanagerv1.Issuer{}
		obj, status, key.Namespace = is, &is.Status, namespace
	default:
		return Observed{}, nil
	}
	kind := orKind(ref.Kind)
	switch err := reader.Get(ctx, key, obj); {
	case apierrors.IsNotFound(err):
		where := "in the cluster"
		if key.Namespace != "" {
			where = "in namespace " + key.Namespace
		}
		return Observed{Missing: fmt.Sprintf("the %s %s that spec.tls.issuerRef names does not exist %s, so cert-manager cannot issue "+
			"the Certificate %s: create the %s, or correct tls.issuerRef (an Issuer must be in the Stack's namespace)",
			kind, ref.Name, where, certificate, kind)}, nil
	case apierrors.IsForbidden(err) || meta.IsNoMatchError(err):
		return Observed{}, nil // cannot tell: the Certificate's own message stands
	case err != nil:
		return Observed{}, fmt.Errorf("reading the %s %s: %w", kind, ref.Name, err)
	}
	for _, c := range status.Conditions {
		if c.Type == certmanagerv1.IssuerConditionReady && c.Status != cmmeta.ConditionTrue {
			return Observed{NotReady: fmt.Sprintf("the %s %s is not ready: %s", kind, ref.Name, c.Message)}, nil
		}
	}
	return Observed{}, nil
}

func orKind(kind string) string {
	if kind == "" {
		return certmanagerv1.IssuerKind
	}
	return kind
}

// CertificateWaiting says what a Certificate waits for ("" once it is Ready).
func CertificateWaiting(cert *certmanagerv1.Certificate) string {
	for _, c := range cert.Status.Conditions {
		if c.Type != certmanagerv1.CertificateConditionReady {
			continue
		}
		if c.Status == cmmeta.ConditionTrue {
			return ""
		}
		return "waiting for cert-manager to issue the Certificate " + cert.Name + ": " + c.Message
	}
	return "waiting for cert-manager to issue the Certificate " + cert.Name
}
