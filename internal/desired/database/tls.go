package database

import (
	"crypto/sha256"
	"encoding/hex"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// DNSNames are the names clients use for the server: both Services, short and qualified, and the
// pod's own name under the headless Service.
func DNSNames(db *componentsv1alpha1.Database) []string {
	ns := db.Namespace
	var names []string
	for _, svc := range []string{Name(db), HeadlessName(db)} {
		names = append(names, svc, svc+"."+ns, svc+"."+ns+".svc", svc+"."+ns+".svc.cluster.local")
	}
	return append(names, PodName(db)+"."+HeadlessName(db)+"."+ns+".svc")
}

// Certificate asks cert-manager for the server certificate; nil without an issuer.
func Certificate(db *componentsv1alpha1.Database) *certmanagerv1.Certificate {
	if db.Spec.TLS == nil {
		return nil
	}
	ref := db.Spec.TLS.IssuerRef
	return &certmanagerv1.Certificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: certmanagerv1.SchemeGroupVersion.String(), Kind: "Certificate"},
		ObjectMeta: objectMeta(db, TLSName(db)),
		Spec: certmanagerv1.CertificateSpec{
			SecretName: TLSName(db),
			// No common name: it is limited to 64 bytes, which long namespace names exceed; the DNS
			// names are what clients verify.
			DNSNames: DNSNames(db),
			// The Secret carries Canopy's labels, so the manager's label-scoped cache sees it.
			SecretTemplate: &certmanagerv1.CertificateSecretTemplate{Labels: Labels(db)},
			IssuerRef:      cmmeta.IssuerReference{Name: ref.Name, Kind: ref.Kind, Group: ref.Group},
			Usages:         []certmanagerv1.KeyUsage{certmanagerv1.UsageServerAuth, certmanagerv1.UsageDigitalSignature, certmanagerv1.UsageKeyEncipherment},
		},
	}
}

// AnnotationCertificate on the pod template names the server certificate the pod was started with
// (CertificateHash of its tls.crt). A renewed certificate does not change it: the database
// controller has the running PostgreSQL reload its key pair instead of restarting it.
const AnnotationCertificate = "canopy.dev/tls-certificate"

// CertificateHash identifies a certificate (the tls.crt of its Secret; public data).
func CertificateHash(tlsCrt []byte) string {
	sum := sha256.Sum256(tlsCrt)
	return hex.EncodeToString(sum[:8])
}
