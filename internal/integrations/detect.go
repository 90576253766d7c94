package integrations

import (
	"context"
	"errors"
	"fmt"
	"sync"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Available says which optional APIs the cluster serves.
type Available struct {
	Certificates bool // cert-manager.io Certificate
	Monitoring   bool // monitoring.coreos.com ServiceMonitor and PrometheusRule
}

// serves says whether a's kind is served, by the capability it belongs to.
func (av Available) serves(a api) bool {
	if a.crd == certificate.crd {
		return av.Certificates
	}
	return av.Monitoring
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

// ErrNotServedYet says that a CRD Canopy uses exists, is Established and serves the version Canopy
// writes, but the API server's discovery (which the REST mapper reads) does not list it yet: it
// follows the CRD by up to seconds on a loaded server. The reconcile fails and is retried with the
// controller's backoff until discovery catches up; no timer looks again.
var ErrNotServedYet = errors.New("the API is installed but not served by discovery yet")

// Detect says which optional APIs are served. An API is there when its CRD exists and is not being
// deleted (read from crds, the manager's cache of CRD metadata) and the REST mapper maps the exact
// version Canopy writes. A CRD that exists but is not mapped is read from live, the API server:
// when it serves that version and is Established, discovery lags, and Detect returns
// ErrNotServedYet; otherwise (another version only, not Established) the API is not there.
//
// The CRD is asked because the mapper never forgets a kind it found: after an uninstall it would
// keep saying yes. The version is asked because a versioned lookup that misses asks the API server
// for that group version again, so CRDs installed later are found; an unversioned one is not
// enough, since controller-runtime's lazy mapper keeps a group's version list from when it first saw
// the group, and the Prometheus operator's group is first served with v1alpha1 only (its CRDs are
// installed one at a time), so monitoring.coreos.com/v1 was never asked for.
func Detect(ctx context.Context, crds, live client.Reader, mapper meta.RESTMapper) (Available, error) {
	has := func(a api) (bool, error) {
		crd := &metav1.PartialObjectMetadata{}
		crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
		if err := crds.Get(ctx, client.ObjectKey{Name: a.crd}, crd); err != nil || !crd.DeletionTimestamp.IsZero() {
			return false, nil
		}
		if _, err := mapper.RESTMapping(a.gvk.GroupKind(), a.gvk.Version); err == nil {
			return servedOnce(ctx, live, a, crd.UID)
		}
		full := &apiextensionsv1.CustomResourceDefinition{}
		if err := live.Get(ctx, client.ObjectKey{Name: a.crd}, full); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if full.DeletionTimestamp.IsZero() && established(full) && serves(full, a.gvk.Version) {
			return false, fmt.Errorf("%s %s: %w", a.gvk.GroupVersion(), a.gvk.Kind, ErrNotServedYet)
		}
		return false, nil
	}
	var out Available
	var errs []error
	for _, c := range []struct {
		into *bool
		apis []api
	}{{&out.Certificates, []api{certificate}}, {&out.Monitoring, []api{serviceMonitor, prometheusRule}}} {
		*c.into = true
		for _, a := range c.apis {
			ok, err := has(a)
			errs = append(errs, err)
			*c.into = *c.into && ok
		}
	}
	return out, errors.Join(errs...)
}

// served remembers, by CRD name, the UID of the CRD whose kind a live list found served.
var served sync.Map

// servedOnce says whether the API server serves a's kind, mapped by the REST mapper, once for each
// install of its CRD (each CRD UID): with one list of at most one object, read from live. The mapper
// keeps a kind it mapped once: when the CRD is deleted and installed again, it maps the kind before
// the API server serves the new CRD, and a read then would start an informer whose first list
// fails, which client-go logs as an error ("Failed to watch"). Not served yet is ErrNotServedYet,
// retried with backoff like the discovery lag.
func servedOnce(ctx context.Context, live client.Reader, a api, uid types.UID) (bool, error) {
	if v, ok := served.Load(a.crd); ok && v == uid {
		return true, nil
	}
	probe := &metav1.PartialObjectMetadataList{}
	probe.SetGroupVersionKind(a.gvk.GroupVersion().WithKind(a.gvk.Kind + "List"))
	if err := live.List(ctx, probe, client.Limit(1)); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return false, fmt.Errorf("%s %s: %w", a.gvk.GroupVersion(), a.gvk.Kind, ErrNotServedYet)
		}
		return false, fmt.Errorf("listing %s: %w", a.gvk.Kind, err)
	}
	served.Store(a.crd, uid)
	return true, nil
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

func serves(crd *apiextensionsv1.CustomResourceDefinition, version string) bool {
	for _, v := range crd.Spec.Versions {
		if v.Name == version {
			return v.Served
		}
	}
	return false
}
