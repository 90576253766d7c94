package apply

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// OrNil turns a typed nil pointer (an object that was not found) into a nil client.Object.
func OrNil[T client.Object](obj T) client.Object {
	if any(obj) == any(*new(T)) {
		return nil
	}
	return obj
}

// Ensure is Apply for a caller that has not read the object: have, when nil, is looked up here
// (Lookup: the cache, then the API server); an absent object is created, a foreign one refused.
func Ensure(ctx context.Context, c client.Client, live client.Reader, owner string, want, have client.Object) (Result, error) {
	if have == nil {
		var err error
		if have, err = Lookup(ctx, c, live, want); err != nil {
			return Unchanged, err
		}
	}
	return Apply(ctx, c, owner, want, have)
}

// Lookup returns the object with want's name and kind, or nil when the name is free. It reads the
// cache first and, when the cache has no such object, the API server (live): the manager caches
// the built-in kinds only with Canopy's label, so a user's unlabelled object of the same name is
// invisible to the cache, and a cache miss proves nothing. An object found only by the live read
// is foreign unless it is Canopy's (controlled as want would be, or labelled as Canopy's when want
// names no controller) or labelled for adoption: it is then refused with a NotControlledError.
func Lookup(ctx context.Context, cached client.Reader, live client.Reader, want client.Object) (client.Object, error) {
	probe := want.DeepCopyObject().(client.Object)
	err := cached.Get(ctx, client.ObjectKeyFromObject(want), probe)
	if apierrors.IsNotFound(err) && live != nil {
		probe = want.DeepCopyObject().(client.Object)
		if err = live.Get(ctx, client.ObjectKeyFromObject(want), probe); err == nil {
			if err := checkOwnership(want, probe); err != nil {
				return nil, err
			}
		}
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s %s: %w", kindOf(want, probe), want.GetName(), err)
	}
	return probe, nil
}

// Create creates obj once; an object that already has its name is accepted only when it is
// Canopy's (see Lookup), read from the API server since the cache may not show it. Objects that
// are written once and never re-applied (Jobs, generated Secrets, the backup volume) use it.
func Create(ctx context.Context, c client.Client, live client.Reader, obj client.Object) error {
	err := c.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing := obj.DeepCopyObject().(client.Object)
	if err := live.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
		return client.IgnoreNotFound(err) // deleted meanwhile: the next reconcile creates it
	}
	return checkOwnership(obj, existing)
}

// DeleteControlled deletes the object at key when controller controls it: an object the spec no
// longer asks for. Anything else — absent, another owner's, or a kind whose CRD is gone — is left.
func DeleteControlled(ctx context.Context, c client.Client, controller metav1.Object, key client.ObjectKey, obj client.Object) error {
	err := c.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(obj, controller) {
		return nil
	}
	return client.IgnoreNotFound(c.Delete(ctx, obj))
}

// MergeLabels sets labels on obj, keeping its others, and reports whether anything changed: how an
// adopted object gets Canopy's labels, so that the label-scoped cache holds it from then on.
func MergeLabels(obj metav1.Object, labels map[string]string) bool {
	have := obj.GetLabels()
	changed := false
	for k, v := range labels {
		if have[k] != v {
			if have == nil {
				have = map[string]string{}
			}
			have[k], changed = v, true
		}
	}
	obj.SetLabels(have)
	return changed
}
