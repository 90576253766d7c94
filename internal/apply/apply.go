// Package apply writes desired objects with server-side apply, and only when the object in the
// cache does not already hold every field the desired object sets. A steady-state reconcile
// therefore sends no request at all; a change made by someone else to a field Canopy sets is
// detected (drift) and overwritten.
//
// An existing object that the desired object's controller does not control is never written
// (NotControlledError), unless it is labelled canopy.dev/adopt=true: it belongs to someone else,
// or it was orphaned — its owner deleted with propagationPolicy Orphan, and the garbage collector
// removed its owner reference. Writing it would take it over; and re-adding the owner reference
// of an owner that is being (or has been) deleted makes the garbage collector delete the very
// workload the Orphan policy promised to keep.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// AnnotationDesiredHash records the hash of the desired object last applied, to tell a change of
// the desired state (an update) from a change of the object by someone else (drift).
const AnnotationDesiredHash = "canopy.dev/desired-hash"

// Result says what Apply did.
type Result int

const (
	// Unchanged: the object already held the desired state; nothing was sent.
	Unchanged Result = iota
	// Created: the object did not exist.
	Created
	// Updated: the desired state changed and was applied.
	Updated
	// DriftCorrected: the desired state had not changed, but the object had: it was overwritten.
	DriftCorrected
)

// NotControlledError reports an existing object, with the name of a desired object, that the
// desired object's controller does not control and that is not labelled for adoption.
type NotControlledError struct {
	Kind, Name string
	// Controller is the owner that would control the object (kind and name).
	Controller string
	// Current describes the object's controller now: another owner, or none.
	Current string
}

func (e *NotControlledError) Error() string {
	return fmt.Sprintf("a %s named %s already exists and is not controlled by the %s (%s); Canopy does not take it over: delete or rename it, or "+
		"label it %s=true to let Canopy adopt it",
		e.Kind, e.Name, e.Controller, e.Current, canopyv1alpha1.LabelAdopt)
}

// Adoptable reports whether obj is labelled canopy.dev/adopt=true: an existing object with the name
// of a desired one is taken over only then.
func Adoptable(obj client.Object) bool {
	return obj.GetLabels()[canopyv1alpha1.LabelAdopt] == "true"
}

// checkControl returns a NotControlledError when desired names a controller and existing is
// neither controlled by that controller (same UID) nor labelled for adoption.
func checkControl(desired, existing client.Object) error {
	want := metav1.GetControllerOfNoCopy(desired)
	if want == nil {
		return nil
	}
	have := metav1.GetControllerOfNoCopy(existing)
	if (have != nil && have.UID == want.UID) || Adoptable(existing) {
		return nil
	}
	current := "it has no controller: orphaned, or created by someone else"
	if have != nil {
		current = fmt.Sprintf("its controller is the %s %s", have.Kind, have.Name)
	}
	return &NotControlledError{Kind: kindOf(desired, existing), Name: existing.GetName(), Controller: want.Kind + " " + want.Name, Current: current}
}

// checkOwnership is checkControl for an object found by name outside the cache. An object desired
// without a controller (a Secret kept with its data volume) is Canopy's when it carries Canopy's
// label; anything else of that name is someone else's unless labelled for adoption.
func checkOwnership(desired, existing client.Object) error {
	if metav1.GetControllerOfNoCopy(desired) != nil {
		return checkControl(desired, existing)
	}
	if existing.GetLabels()[common.LabelManagedBy] == common.ManagedBy || Adoptable(existing) {
		return nil
	}
	return &NotControlledError{Kind: kindOf(desired, existing), Name: existing.GetName(), Controller: "Canopy",
		Current: fmt.Sprintf("it is not labelled %s=%s: created by someone else", common.LabelManagedBy, common.ManagedBy)}
}

func kindOf(desired, existing client.Object) string {
	if kind := existing.GetObjectKind().GroupVersionKind().Kind; kind != "" {
		return kind
	}
	if kind := desired.GetObjectKind().GroupVersionKind().Kind; kind != "" {
		return kind
	}
	return reflect.Indirect(reflect.ValueOf(desired)).Type().Name() // typed objects built without TypeMeta
}

// Apply makes the object on the server hold desired. existing is the object as observed (from the
// cache), or nil when it does not exist. desired must carry its apiVersion and kind. An existing
// object that desired's controller does not control is left alone (NotControlledError).
func Apply(ctx context.Context, c client.Client, owner string, desired, existing client.Object) (Result, error) {
	return apply(ctx, c, owner, desired, existing, "")
}

// absentVersion is a resourceVersion that no object has: etcd starts at revision 1 and every write
// makes a new one, so the first object ever stored has 2. An apply that carries it creates an
// absent object — the API server wipes a resourceVersion on create-via-apply, as on create — and
// fails with a Conflict, writing nothing, when an object of that name exists.
const absentVersion = "1"

// applyAbsent applies desired as a new object: Created, or a Conflict when its name is taken.
func applyAbsent(ctx context.Context, c client.Client, owner string, desired client.Object) (Result, error) {
	return apply(ctx, c, owner, desired, nil, absentVersion)
}

func apply(ctx context.Context, c client.Client, owner string, desired, existing client.Object, resourceVersion string) (Result, error) {
	if existing != nil {
		if err := checkControl(desired, existing); err != nil {
			return Unchanged, err
		}
	}
	want, err := toMap(desired)
	if err != nil {
		return Unchanged, err
	}
	hash, err := Hash(want)
	if err != nil {
		return Unchanged, err
	}
	result := Created
	if existing != nil {
		have, err := toMap(existing)
		if err != nil {
			return Unchanged, err
		}
		if existing.GetAnnotations()[AnnotationDesiredHash] == hash && Contains(have, want) {
			return Unchanged, nil
		}
		result = Updated
		if existing.GetAnnotations()[AnnotationDesiredHash] == hash {
			result = DriftCorrected
		}
	}
	u := &unstructured.Unstructured{Object: want}
	annotations := u.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AnnotationDesiredHash] = hash
	u.SetAnnotations(annotations)
	u.SetResourceVersion(resourceVersion) // after the hash: not part of the desired state
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(owner), client.ForceOwnership); err != nil {
		return Unchanged, fmt.Errorf("applying %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return result, nil
}

// Applied is desired as Apply writes it, with its hash annotation: what a simulated API server
// stores (the stack controller's sequence tests), so that NeedsApply then finds nothing to do.
func Applied(desired client.Object) (client.Object, error) {
	want, err := toMap(desired)
	if err != nil {
		return nil, err
	}
	hash, err := Hash(want)
	if err != nil {
		return nil, err
	}
	out := desired.DeepCopyObject().(client.Object)
	annotations := map[string]string{}
	for k, v := range out.GetAnnotations() {
		annotations[k] = v
	}
	annotations[AnnotationDesiredHash] = hash
	out.SetAnnotations(annotations)
	return out, nil
}

// Hash identifies a desired object's content.
func Hash(desired map[string]any) (string, error) {
	data, err := json.Marshal(desired) // encoding/json sorts map keys: the hash is stable.
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8]), nil
}

func toMap(obj client.Object) (map[string]any, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %T: %w", obj, err)
	}
	// Server-owned fields never belong to a desired state.
	if meta, ok := m["metadata"].(map[string]any); ok {
		for _, k := range []string{"resourceVersion", "uid", "generation", "creationTimestamp", "managedFields"} {
			delete(meta, k)
		}
	}
	delete(m, "status")
	return m, nil
}

// Contains reports whether have holds every field of want with the same value. Maps may hold more
// keys than want (defaults, fields of other owners); each wanted list element must be contained in
// an element of the observed list.
func Contains(have, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			hv, ok := h[k]
			if !ok {
				return false
			}
			if !Contains(hv, wv) {
				return false
			}
		}
		return true
	case []any:
		// Every wanted element must be present. Other elements may be there too: another field
		// manager's entries in a map-list (an env var added by a mutating webhook) survive
		// server-side apply, and demanding equal length would re-apply forever.
		return containsEach(have, want)
	default:
		return reflect.DeepEqual(normalizeNumber(have), normalizeNumber(want))
	}
}

func containsEach(have, want any) bool {
	h, ok := have.([]any)
	w, ok2 := want.([]any)
	if !ok || !ok2 {
		return false
	}
	for _, wv := range w {
		found := false
		for _, hv := range h {
			if Contains(hv, wv) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// normalizeNumber lets 3 (int64) and 3.0 (float64) compare equal, as JSON does not tell them apart.
func normalizeNumber(v any) any {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int32:
		return float64(n)
	case int:
		return float64(n)
	}
	return v
}

// NeedsApply reports whether applying desired would change the observed object: what Apply
// decides, without sending anything.
func NeedsApply(desired, existing client.Object) (bool, error) {
	if existing == nil {
		return true, nil
	}
	want, err := toMap(desired)
	if err != nil {
		return false, err
	}
	have, err := toMap(existing)
	if err != nil {
		return false, err
	}
	hash, err := Hash(want)
	if err != nil {
		return false, err
	}
	return existing.GetAnnotations()[AnnotationDesiredHash] != hash || !Contains(have, want), nil
}
