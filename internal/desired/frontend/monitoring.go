package frontend

import (
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// ServiceMonitor has the Prometheus operator scrape the application's metrics path; nil when
// monitoring is off.
func ServiceMonitor(fe *componentsv1alpha1.Frontend) *monitoringv1.ServiceMonitor {
	m := fe.Spec.Monitoring
	if !m.IsEnabledFrontend() {
		return nil
	}
	sm := &monitoringv1.ServiceMonitor{
		TypeMeta:   metav1.TypeMeta{APIVersion: monitoringv1.SchemeGroupVersion.String(), Kind: "ServiceMonitor"},
		ObjectMeta: objectMeta(fe, Name(fe)),
		Spec: monitoringv1.ServiceMonitorSpec{
			Selector: metav1.LabelSelector{MatchLabels: Labels(fe)},
			Endpoints: []monitoringv1.Endpoint{{
				Port:     "http",
				Path:     m.Path,
				Interval: monitoringv1.Duration(m.Interval),
			}},
		},
	}
	for k, v := range m.Labels {
		sm.Labels[k] = v
	}
	return sm
}
