package integrations

import (
	"context"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Available says which optional APIs the cluster serves.
type Available struct {
	Certificates bool // cert-manager.io Certificate
	Monitoring   bool // monitoring.coreos.com ServiceMonitor and PrometheusRule
}

// api is a kind Canopy writes, at the version it writes, with its CRD.
type api struct {
	gvk schema.GroupVersionKind
	crd string
	new func() client.Object // an empty object of the kind, for the cache
}

var (
	certificate = api{certmanagerv1.SchemeGroupVersion.WithKind(certmanagerv1.CertificateKind), "certificates.cert-manager.io",
		func() client.Object { return &certmanagerv1.Certificate{} }}
	serviceMonitor = api{monitoringv1.SchemeGroupVersion.WithKind(monitoringv1.ServiceMonitorsKind), "servicemonitors.monitoring.coreos.com",
		func() client.Object { return &monitoringv1.ServiceMonitor{} }}
	prometheusRule = api{monitoringv1.SchemeGroupVersion.WithKind(monitoringv1.PrometheusRuleKind), "prometheusrules.monitoring.coreos.com",
		func() client.Object { return &monitoringv1.PrometheusRule{} }}
	apis = []api{certificate, serviceMonitor, prometheusRule}
)

// Detect says which optional APIs are served. An API is there when its CRD exists and is not being
// deleted (read from crds, the manager's cache of CRD metadata) and the REST mapper maps the exact
// version Canopy writes.
//
// The CRD is asked because the mapper never forgets a kind it found: after an uninstall it would
// keep saying yes. The version is asked because a versioned lookup that misses asks the API server
// for that group version again, so CRDs installed later are found; an unversioned one is not
// enough, since controller-runtime's lazy mapper keeps a group's version list from when it first saw
// the group, and the Prometheus operator's group is first served with v1alpha1 only (its CRDs are
// installed one at a time), so monitoring.coreos.com/v1 was never asked for.
func Detect(ctx context.Context, crds client.Reader, mapper meta.RESTMapper) Available {
	has := func(a api) bool {
		crd := &metav1.PartialObjectMetadata{}
		crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
		if err := crds.Get(ctx, client.ObjectKey{Name: a.crd}, crd); err != nil || !crd.DeletionTimestamp.IsZero() {
			return false
		}
		_, err := mapper.RESTMapping(a.gvk.GroupKind(), a.gvk.Version)
		return err == nil
	}
	return Available{
		Certificates: has(certificate),
		Monitoring:   has(serviceMonitor) && has(prometheusRule),
	}
}
