package database

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

func service(db *componentsv1alpha1.Database, name string, headless bool, monitoring bool) *corev1.Service {
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: objectMeta(db, name),
		Spec: corev1.ServiceSpec{
			Selector: SelectorLabels(db),
			Ports:    []corev1.ServicePort{{Name: "postgresql", Port: Port, TargetPort: intstr.FromString("postgresql"), Protocol: corev1.ProtocolTCP}},
		},
	}
	if headless {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
		// The pod's DNS name must exist before it is ready, so it can start.
		svc.Spec.PublishNotReadyAddresses = true
	} else {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	if monitoring && !headless {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: ExporterPort, TargetPort: intstr.FromString("metrics"),
			Protocol: corev1.ProtocolTCP})
	}
	return svc
}

// ClientService is how clients reach PostgreSQL (and Prometheus the exporter).
func ClientService(db *componentsv1alpha1.Database, monitoring bool) *corev1.Service {
	return service(db, Name(db), false, monitoring)
}

// HeadlessService gives the StatefulSet's pod its stable DNS name.
func HeadlessService(db *componentsv1alpha1.Database) *corev1.Service {
	return service(db, HeadlessName(db), true, false)
}
