package integrations

import (
	"context"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Watch makes a controller follow the optional APIs' CRDs: on any of their events every object that
// list returns is reconciled (enqueueAll), and once a CRD is being deleted the cache's informer for
// its kind is removed; it would otherwise retry listing a resource that is gone, and log an error
// each time, for as long as Canopy runs.
func Watch(b *builder.Builder, mgr manager.Manager, list client.ObjectList) *builder.Builder {
	h := onCRDEvent(mgr.GetCache(), enqueueAll(mgr.GetClient(), list))
	return b.Watches(&apiextensionsv1.CustomResourceDefinition{}, h, builder.WithPredicates(predicate.NewPredicateFuncs(isOptionalCRD)), builder.OnlyMetadata)
}

// onCRDEvent passes every event to enqueue, and forgets a CRD's informer once the CRD is being
// deleted. From that moment Detect says the API is gone, so nothing reads the kind again; removing
// the informer then, while its resource is still served, is before its watch can fail. The delete
// event forgets it again, in case a reconcile that began earlier brought it back.
func onCRDEvent(informers cache.Informers, enqueue handler.EventHandler) handler.EventHandler {
	return handler.Funcs{
		CreateFunc: enqueue.Create,
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if !e.ObjectNew.GetDeletionTimestamp().IsZero() {
				forget(ctx, informers, e.ObjectNew.GetName())
			}
			enqueue.Update(ctx, e, q)
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			forget(ctx, informers, e.Object.GetName())
			enqueue.Delete(ctx, e, q)
		},
	}
}

func isOptionalCRD(o client.Object) bool {
	for _, a := range apis {
		if a.crd == o.GetName() {
			return true
		}
	}
	return false
}

// forget removes the informer of the kind that the CRD named crd served; removing one that was
// never started, or twice (each controller watches), does nothing.
func forget(ctx context.Context, informers cache.Informers, crd string) {
	for _, a := range apis {
		if a.crd == crd {
			_ = informers.RemoveInformer(ctx, a.new())
			stopped(crd) // the dynamic watches' handlers went with the informer
		}
	}
}

// enqueueAll maps any event to a reconcile of every object that list returns. The event of a CRD
// becoming Established can come before discovery serves its kinds: Detect then fails those
// reconciles with ErrNotServedYet, and the controller retries them with backoff until it does.
// CRD events are rare; the reconciles are cheap.
func enqueueAll(c client.Client, list client.ObjectList) handler.EventHandler {
	enqueue := func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
		l := list.DeepCopyObject().(client.ObjectList)
		err := c.List(ctx, l)
		var items []runtime.Object
		if err == nil {
			items, err = meta.ExtractList(l)
		}
		if err != nil {
			// Nothing to enqueue: say so, or a new API not picked up until the next event would go unexplained.
			log.FromContext(ctx).Error(err, "listing the objects to look at again after a CRD change")
			return
		}
		var reqs []reconcile.Request
		for _, item := range items {
			if o, ok := item.(client.Object); ok {
				reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
			}
		}
		for _, r := range reqs {
			q.Add(r)
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
