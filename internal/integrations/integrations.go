// Package integrations detects the optional APIs Canopy uses when they are installed — cert-manager
// and the Prometheus operator — and lets controllers react when their CRDs appear, without a
// restart. Canopy never installs them.
package integrations

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// Available says which optional APIs the cluster serves.
type Available struct {
	Certificates bool // cert-manager.io Certificate
	Monitoring   bool // monitoring.coreos.com ServiceMonitor and PrometheusRule
}

// crdNames are the CRDs whose appearance (or removal) changes Available.
var crdNames = map[string]bool{
	"certificates.cert-manager.io":          true,
	"servicemonitors.monitoring.coreos.com": true,
	"prometheusrules.monitoring.coreos.com": true,
}

// Detect asks the REST mapper for the exact versions Canopy writes. A versioned lookup that misses
// asks the API server for that group version again, so CRDs installed later are found. An
// unversioned one is not enough: controller-runtime's lazy mapper keeps a group's version list from
// when it first saw the group, and the Prometheus operator's group is first served with v1alpha1
// only (its CRDs are installed one at a time), so monitoring.coreos.com/v1 was never asked for.
func Detect(mapper meta.RESTMapper) Available {
	has := func(gvk schema.GroupVersionKind) bool {
		_, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		return err == nil
	}
	return Available{
		Certificates: has(certmanagerv1.SchemeGroupVersion.WithKind(certmanagerv1.CertificateKind)),
		Monitoring: has(monitoringv1.SchemeGroupVersion.WithKind(monitoringv1.ServiceMonitorsKind)) &&
			has(monitoringv1.SchemeGroupVersion.WithKind(monitoringv1.PrometheusRuleKind)),
	}
}

// CRDPredicate passes only the optional APIs' CRDs.
func CRDPredicate() builder.Predicates {
	return builder.WithPredicates(predicate.NewPredicateFuncs(func(o client.Object) bool { return crdNames[o.GetName()] }))
}

// discoveryLags cover the time between a CRD's Established condition and its resources appearing
// in the API server's discovery, which the REST mapper reads: usually well under a second, longer
// on a loaded server (more than 3 s was seen on 2 busy cores).
var discoveryLags = []time.Duration{time.Second, 3 * time.Second, 10 * time.Second, 30 * time.Second}

// later runs f once d has passed; tests replace it to run the looks again at once.
var later = func(d time.Duration, f func()) { time.AfterFunc(d, f) }

// EnqueueAll maps any event to a reconcile of every object that list returns, now and again after
// each of discoveryLags: the event of a CRD becoming Established can arrive before discovery serves
// its kinds, and no later event would come. CRD events are rare; the extra reconciles are cheap.
//
// The later looks are timers that add to the queue when they fire, not AddAfter: controller-runtime's
// priority queue keeps one entry per object with the earliest due time, so delayed adds made
// while the immediate one is still queued would all be folded into it.
func EnqueueAll(c client.Client, list client.ObjectList) handler.EventHandler {
	enqueue := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, l); err != nil {
			return
		}
		items, err := meta.ExtractList(l)
		if err != nil {
			return
		}
		var reqs []reconcile.Request
		for _, item := range items {
			if o, ok := item.(client.Object); ok {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
			}
		}
		add := func() {
			for _, r := range reqs {
				q.Add(r) // a no-op once the queue is shut down
			}
		}
		add()
		for _, lag := range discoveryLags {
			later(lag, add)
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, _ event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q)
		},
		UpdateFunc: func(ctx context.Context, _ event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q)
		},
		DeleteFunc: func(ctx context.Context, _ event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			enqueue(ctx, q)
		},
	}
}

// Reason of an available integration.
const ReasonAvailable = "Available"

// SetCondition reports an optional integration on obj: absent when not requested, True when its API
// is installed, False with CRDNotInstalled when it is not.
func SetCondition(obj conditions.Object, condType string, requested, available bool, what string) {
	switch {
	case !requested:
		conditions.Remove(obj, condType)
	case available:
		conditions.Set(obj, condType, metav1.ConditionTrue, ReasonAvailable, "the "+what+" API is installed")
	default:
		conditions.Set(obj, condType, metav1.ConditionFalse, componentsv1alpha1.ReasonCRDNotInstalled,
			"the "+what+" CRDs are not installed; the objects are skipped and created once they are")
	}
}
