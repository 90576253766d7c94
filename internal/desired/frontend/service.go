package frontend

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// ServicePort is the port of the web tier's Service.
const ServicePort = 80

// Service exposes the web tier inside the cluster on port 80.
func Service(fe *componentsv1alpha1.Frontend) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(fe, Name(fe)),
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(fe),
			Ports:    []corev1.ServicePort{{Name: "http", Port: ServicePort, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

// URL is where the application is served: the ingress host (https with TLS), or the Service.
func URL(fe *componentsv1alpha1.Frontend, tls bool) string {
	if in := fe.Spec.Ingress; in != nil {
		if tls {
			return "https://" + in.Host
		}
		return "http://" + in.Host
	}
	return fmt.Sprintf("http://%s.%s.svc", Name(fe), fe.Namespace)
}
