package integrations

import (
	"context"
	"fmt"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
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
	a, ok := optionalAPI(obj)
	if !ok {
		return nil, fmt.Errorf("%T is not one of the optional APIs", obj)
	}
	w := &DynamicWatch{crd: a.crd, start: start, informers: informers}
	dynamicMu.Lock()
	dynamic[a.crd] = append(dynamic[a.crd], w)
	dynamicMu.Unlock()
	return w, nil
}

// optionalAPI is the optional API of obj's kind.
func optionalAPI(obj client.Object) (api, bool) {
	for _, a := range apis {
		if fmt.Sprintf("%T", a.new()) == fmt.Sprintf("%T", obj) {
			return a, true
		}
	}
	return api{}, false
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

// watchSyncTimeout bounds the wait for a new watch's handler; past it the pass fails and is retried.
const watchSyncTimeout = 30 * time.Second

// OwnedWatches are a controller's watches of the optional kinds it creates, each started once its
// CRD is served: a deleted or edited child of such a kind is restored by its own event, not by
// whatever event comes next, and an object waiting for its certificate learns of its issue from the
// Certificate's events, with no polling while it waits.
type OwnedWatches struct {
	watches []ownedWatch
}

type ownedWatch struct {
	api   api
	watch *DynamicWatch
}

// WatchOwned registers c's watches of the objects of kinds (optional APIs) that owner's kind
// controls. Certificates are followed entirely (their status says when the key pair is issued);
// of the others only what Canopy writes: the Prometheus operator may write their status, which
// would otherwise wake the owner for nothing.
func WatchOwned(mgr manager.Manager, c controller.Controller, owner client.Object, kinds ...client.Object) (*OwnedWatches, error) {
	ws := &OwnedWatches{}
	for _, kind := range kinds {
		a, ok := optionalAPI(kind)
		if !ok {
			return nil, fmt.Errorf("%T is not one of the optional APIs", kind)
		}
		var preds []predicate.Predicate
		if a.crd != certificate.crd {
			preds = append(preds, predicate.Or[client.Object](predicate.GenerationChangedPredicate{},
				predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))
		}
		w, err := NewDynamicWatch(kind, mgr.GetCache(), func() error {
			src := source.Kind(mgr.GetCache(), a.new(),
				handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), owner, handler.OnlyControllerOwner()), preds...)
			if err := c.Watch(src); err != nil {
				return err
			}
			// A source started on a running controller registers its handler in the background:
			// a child applied and deleted before that is never seen (make test, once:
			// TestDeletedChildrenAreRecreated's ServiceMonitor was not recreated). The pass goes
			// on, and applies children of the kind, only once the handler has seen the kind's
			// objects.
			ctx, cancel := context.WithTimeout(context.Background(), watchSyncTimeout)
			defer cancel()
			return src.WaitForSync(ctx)
		})
		if err != nil {
			return nil, err
		}
		ws.watches = append(ws.watches, ownedWatch{api: a, watch: w})
	}
	return ws, nil
}

// Sync starts the watch of each kind that avail says is served and releases the others. A nil
// OwnedWatches (a controller not set up with WatchOwned, in unit tests) does nothing.
func (ws *OwnedWatches) Sync(ctx context.Context, avail Available) error {
	if ws == nil {
		return nil
	}
	for _, w := range ws.watches {
		if !avail.serves(w.api) {
			w.watch.Release(ctx)
			continue
		}
		if err := w.watch.Ensure(); err != nil {
			return err
		}
	}
	return nil
}
