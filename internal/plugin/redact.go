package plugin

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// lastApplied is where kubectl apply keeps a copy of the object it applied: for a Secret, its
// values in clear.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// redact makes an object safe to attach to a bug report: a Secret keeps its keys and the size of
// each value, never a value; every object loses its managedFields (noise) and kubectl's
// last-applied copy (which may hold what was redacted).
func redact(obj *unstructured.Unstructured) {
	obj.SetManagedFields(nil)
	if a := obj.GetAnnotations(); a != nil {
		delete(a, lastApplied)
		obj.SetAnnotations(a)
	}
	if obj.GetKind() != "Secret" {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		values, ok := obj.Object[field].(map[string]any)
		if !ok {
			continue
		}
		for k, v := range values {
			n := 0
			if s, ok := v.(string); ok {
				n = len(s)
				if field == "data" {
					n = n * 3 / 4 // base64
				}
			}
			values[k] = fmt.Sprintf("<redacted, about %d bytes>", n)
		}
	}
}
