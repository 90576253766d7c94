package integrations

import (
	"context"
	"fmt"
	"sync"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// DynamicWatch is a controller's watch of an optional kind, started only once the kind is served
// (a watch started before would never sync and hold the controller's start). Forgetting the kind's
// informer, when its CRD is deleted, drops the watch's handler with it: the watch is then marked
// stopped, so that Ensure starts it again once the CRD is back.
type DynamicWatch struct {
	crd       string
	start     func() error
	informers cache.Informers

	mu      sync.Mutex
	started bool
}

var (
	dynamicMu sync.Mutex
	dynamic   = map[string][]*DynamicWatch{} // by CRD name
)

// NewDynamicWatch registers a watch of obj's kind (one of the optional APIs) that start begins,
// typically a controller.Watch of a source.Kind of informers.
func NewDynamicWatch(obj client.Object, informers cache.Informers, start func() error) (*DynamicWatch, error) {
	for _, a := range apis {
		if fmt.Sprintf("%T", a.new()) == fmt.Sprintf("%T", obj) {
			w := &DynamicWatch{crd: a.crd, start: start, informers: informers}
			dynamicMu.Lock()
			dynamic[a.crd] = append(dynamic[a.crd], w)
			dynamicMu.Unlock()
			return w, nil
		}
	}
	return nil, fmt.Errorf("%T is not one of the optional APIs", obj)
}

// Ensure starts the watch unless it runs. Call it only when Detect says the kind is served.
func (w *DynamicWatch) Ensure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return nil
	}
	if err := w.start(); err != nil {
		return fmt.Errorf("watching %s: %w", w.crd, err)
	}
	w.started = true
	return nil
}

// Release forgets the kind's informer when the watch runs. Call it when Detect says the kind is not
// served: a watch started just as its CRD went, after the CRD's delete event had forgotten the kind,
// would otherwise keep an informer that lists a missing resource, and logs so, as long as Canopy runs.
func (w *DynamicWatch) Release(ctx context.Context) {
	w.mu.Lock()
	started := w.started
	w.mu.Unlock()
	if started {
		forget(ctx, w.informers, w.crd)
	}
}

// stopped marks the watches of crd's kind as gone with the kind's informer.
func stopped(crd string) {
	dynamicMu.Lock()
	watches := dynamic[crd]
	dynamicMu.Unlock()
	for _, w := range watches {
		w.mu.Lock()
		w.started = false
		w.mu.Unlock()
	}
}

// WatchOwnedCertificates registers c's watch of the cert-manager Certificates that owner's kind
// controls, started by Ensure once cert-manager's CRD is served: an object waiting for its
// certificate learns of its issue from the Certificate's events, with no polling while it waits.
func WatchOwnedCertificates(mgr manager.Manager, c controller.Controller, owner client.Object) (*DynamicWatch, error) {
	return NewDynamicWatch(&certmanagerv1.Certificate{}, mgr.GetCache(), func() error {
		return c.Watch(source.Kind(mgr.GetCache(), &certmanagerv1.Certificate{},
			handler.TypedEnqueueRequestForOwner[*certmanagerv1.Certificate](mgr.GetScheme(), mgr.GetRESTMapper(), owner, handler.OnlyControllerOwner())))
	})
}
