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

// Ensure is Apply for a caller that may not have read the object: have, when nil, is read from the
// cache. On a cache miss the name may still be taken — the manager caches the built-in kinds only
// with Canopy's label, so a user's unlabelled object is invisible to it — and the object is applied
// as new (applyAbsent): created in one request when the name is free, refused untouched when it is
// not; only then is the object read from the API server (live) and, unless it is foreign
// (Lookup), applied over. When live is nil an absent object is applied without that guard.
func Ensure(ctx context.Context, c client.Client, live client.Reader, owner string, want, have client.Object) (Result, error) {
	if have != nil {
		return Apply(ctx, c, owner, want, have)
	}
	switch cached, err := Cached(ctx, c, want); {
	case err != nil:
		return Unchanged, err
	case cached != nil || live == nil:
		return Apply(ctx, c, owner, want, cached)
	}
	res, err := applyAbsent(ctx, c, owner, want)
	if !apierrors.IsConflict(err) {
		return res, err
	}
	found, lookupErr := Lookup(ctx, c, live, want)
	switch {
	case lookupErr != nil:
		return Unchanged, lookupErr
	case found == nil:
		return Unchanged, err // there a moment ago, gone now: the next reconcile applies it
	}
	return Apply(ctx, c, owner, want, found)
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
// Canopy's (see Lookup), read from the API server since the cache may not show it, and returned
// (nil when obj was created). Objects that are written once and never re-applied (Jobs, generated
// Secrets, the backup volume) use it.
func Create(ctx context.Context, c client.Client, live client.Reader, obj client.Object) (client.Object, error) {
	err := c.Create(ctx, obj)
	if !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	existing := obj.DeepCopyObject().(client.Object)
	if err := live.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
		return nil, client.IgnoreNotFound(err) // deleted meanwhile: the next reconcile creates it
	}
	if err := checkOwnership(obj, existing); err != nil {
		return nil, err
	}
	return existing, nil
}

// Cached returns the object with want's name and kind from the cache, or nil when the cache has
// none: enough for a caller whose next step, Create, refuses a foreign object itself.
func Cached(ctx context.Context, cached client.Reader, want client.Object) (client.Object, error) {
	probe := want.DeepCopyObject().(client.Object)
	switch err := cached.Get(ctx, client.ObjectKeyFromObject(want), probe); {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading %s %s: %w", kindOf(want, probe), want.GetName(), err)
	}
	return probe, nil
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
