package plugin

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"

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

// minSecretValue is the shortest Secret value removed from free text. Shorter ones (a port, the
// user name app) are no secret, and replacing them would garble every line they appear in.
const minSecretValue = 8

// secretValues are the values of the Stack's Secrets, in clear and in base64, to remove from the
// report's free text: the manager's log lines and the events, where a program may have printed
// one (a connection string in an error).
type secretValues map[string]bool

// add records a Secret's values; call it before redact replaces them.
func (v secretValues) add(obj *unstructured.Unstructured) {
	if obj.GetKind() != "Secret" {
		return
	}
	for _, field := range []string{"data", "stringData"} {
		values, _ := obj.Object[field].(map[string]any)
		for _, raw := range values {
			value, _ := raw.(string)
			if field == "data" {
				decoded, err := base64.StdEncoding.DecodeString(value)
				if err != nil {
					continue
				}
				value = string(decoded)
			}
			if len(value) >= minSecretValue {
				v[value] = true
				v[base64.StdEncoding.EncodeToString([]byte(value))] = true
			}
		}
	}
}

// redactText replaces each recorded value in text, longest first: a connection string goes whole,
// not around its password.
func (v secretValues) redactText(text string) string {
	values := slices.SortedFunc(maps.Keys(v), func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, value := range values {
		text = strings.ReplaceAll(text, value, "<redacted>")
	}
	return text
}
