package frontend

import (
	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// Ingress serves the web tier on its host, with the certificate's Secret when tls is true. Nil
// without an ingress host.
func Ingress(fe *componentsv1alpha1.Frontend, tls bool) *networkingv1.Ingress {
	in := fe.Spec.Ingress
	if in == nil {
		return nil
	}
	ing := &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: objectMeta(fe, Name(fe)),
		Spec: networkingv1.IngressSpec{
			IngressClassName: className(in.ClassName),
			Rules: []networkingv1.IngressRule{{
				Host: in.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path:     "/",
					PathType: ptr.To(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
						Name: Name(fe), Port: networkingv1.ServiceBackendPort{Name: "http"}}},
				}}}},
			}},
		},
	}
	if len(in.Annotations) > 0 {
		ing.Annotations = map[string]string{}
		for k, v := range in.Annotations {
			ing.Annotations[k] = v
		}
	}
	if tls {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{in.Host}, SecretName: TLSSecretName(fe)}}
	}
	return ing
}

// Certificate asks cert-manager for the ingress host's certificate. Nil without an ingress host or
// an issuer.
func Certificate(fe *componentsv1alpha1.Frontend) *certmanagerv1.Certificate {
	if fe.Spec.Ingress == nil || fe.Spec.TLS == nil {
		return nil
	}
	ref := fe.Spec.TLS.IssuerRef
	return &certmanagerv1.Certificate{
		TypeMeta:   metav1.TypeMeta{APIVersion: certmanagerv1.SchemeGroupVersion.String(), Kind: "Certificate"},
		ObjectMeta: objectMeta(fe, Name(fe)),
		Spec: certmanagerv1.CertificateSpec{
			SecretName: TLSSecretName(fe),
			DNSNames:   []string{fe.Spec.Ingress.Host},
			IssuerRef:  cmmeta.IssuerReference{Name: ref.Name, Kind: ref.Kind, Group: ref.Group},
		},
	}
}

// className drops an empty IngressClass name: the API server refuses "" on an Ingress, and the
// field's doc says that empty uses the cluster's default class, as an unset one does.
func className(name *string) *string {
	if name == nil || *name == "" {
		return nil
	}
	return name
}
