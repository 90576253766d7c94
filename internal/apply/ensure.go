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

// Ensure is Apply for a caller that has not read the object: have, when nil, is read here (from
// the client's cache); an absent object is created.
func Ensure(ctx context.Context, c client.Client, owner string, want, have client.Object) (Result, error) {
	if have == nil {
		probe := want.DeepCopyObject().(client.Object)
		switch err := c.Get(ctx, client.ObjectKeyFromObject(want), probe); {
		case err == nil:
			have = probe
		case !apierrors.IsNotFound(err):
			return Unchanged, fmt.Errorf("reading %s %s: %w", want.GetObjectKind().GroupVersionKind().Kind, want.GetName(), err)
		}
	}
	return Apply(ctx, c, owner, want, have)
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
