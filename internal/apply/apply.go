// Package apply writes desired objects with server-side apply, and only when the object in the
// cache does not already hold every field the desired object sets. A steady-state reconcile
// therefore sends no request at all; a change made by someone else to a field Canopy sets is
// detected (drift) and overwritten.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
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

// Apply makes the object on the server hold desired. existing is the object as observed (from the
// cache), or nil when it does not exist. desired must carry its apiVersion and kind.
func Apply(ctx context.Context, c client.Client, owner string, desired, existing client.Object) (Result, error) {
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
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(owner), client.ForceOwnership); err != nil {
		return Unchanged, fmt.Errorf("applying %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return result, nil
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
