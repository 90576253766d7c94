package integrations

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// SyncWait bounds how long a cached read of an optional kind waits for the kind's informer to sync.
// A variable so that tests can shorten it.
var SyncWait = 15 * time.Second

// ErrStoppedServing says that a cached read of an optional kind found no synced informer within
// SyncWait: its CRD went between Detect and the read.
var ErrStoppedServing = errors.New("the API stopped being served")

// Guard returns c with its reads of the optional kinds bounded in time.
//
// The cache creates an informer on the first read of a kind and blocks until it syncs, with no
// limit but the reconcile's context, which has none. When the kind's CRD is deleted between Detect
// and the read, the read creates an informer whose list can never succeed: the reconcile would wait
// forever, and with it the controller's only worker (removing the informer does not wake the
// waiting read). Guarded, the read gives up after SyncWait, the informer is forgotten, and the
// reconcile fails and is retried, when Detect says the API is gone.
func Guard(c client.Client, informers cache.Informers) client.Client {
	return &guarded{Client: c, informers: informers}
}

type guarded struct {
	client.Client
	informers cache.Informers
}

func (g *guarded) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	crd := g.optionalCRD(obj)
	if crd == "" {
		return g.Client.Get(ctx, key, obj, opts...)
	}
	return g.bounded(ctx, crd, func(ctx context.Context) error { return g.Client.Get(ctx, key, obj, opts...) })
}

func (g *guarded) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	crd := g.optionalCRD(list)
	if crd == "" {
		return g.Client.List(ctx, list, opts...)
	}
	return g.bounded(ctx, crd, func(ctx context.Context) error { return g.Client.List(ctx, list, opts...) })
}

func (g *guarded) bounded(ctx context.Context, crd string, read func(context.Context) error) error {
	short, cancel := context.WithTimeout(ctx, SyncWait)
	defer cancel()
	err := read(short)
	if err == nil || ctx.Err() != nil || !errors.Is(short.Err(), context.DeadlineExceeded) {
		return err
	}
	// Our deadline passed, not the caller's: the informer never synced.
	forget(ctx, g.informers, crd)
	return fmt.Errorf("reading a %s: its cache did not sync within %s: %w", crd, SyncWait, ErrStoppedServing)
}

// optionalCRD is the CRD of obj's kind (a list's item kind) when it is one of the optional APIs.
func (g *guarded) optionalCRD(obj runtime.Object) string {
	gvk, err := apiutil.GVKForObject(obj, g.Scheme())
	if err != nil {
		return ""
	}
	gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	for _, a := range apis {
		if a.gvk == gvk {
			return a.crd
		}
	}
	return ""
}
