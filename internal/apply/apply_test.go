package apply

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestContains(t *testing.T) {
	for _, tc := range []struct {
		name       string
		have, want any
		ok         bool
	}{
		{"equal scalars", "a", "a", true},
		{"different scalars", "a", "b", false},
		{"int and float of one value", int64(3), float64(3), true},
		{"extra keys in have (defaults)", map[string]any{"a": "1", "b": "2"}, map[string]any{"a": "1"}, true},
		{"missing key", map[string]any{"b": "2"}, map[string]any{"a": "1"}, false},
		{"nested change", map[string]any{"s": map[string]any{"v": "16"}}, map[string]any{"s": map[string]any{"v": "17"}}, false},
		{"list equal", []any{"x", "y"}, []any{"x", "y"}, true},
		{"list with an element changed", []any{"x", "z"}, []any{"x", "y"}, false},
		{"list with an element removed", []any{"x"}, []any{"x", "y"}, false},
		{"list with another manager's extra element", []any{"x", "y", "z"}, []any{"x", "y"}, true},
		{"list of maps with defaults", []any{map[string]any{"name": "A", "value": "1", "d": "x"}}, []any{map[string]any{"name": "A", "value": "1"}}, true},
		{"owner references shared with another owner", map[string]any{"ownerReferences": []any{"other", "us"}}, map[string]any{"ownerReferences": []any{"us"}}, true},
		{"owner reference removed", map[string]any{"ownerReferences": []any{"other"}}, map[string]any{"ownerReferences": []any{"us"}}, false},
		{"type mismatch", map[string]any{"a": []any{"1"}}, map[string]any{"a": "1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.ok, Contains(tc.have, tc.want))
		})
	}
}

func TestHashIsStableAndSensitive(t *testing.T) {
	a := map[string]any{"spec": map[string]any{"version": "1", "image": "x"}}
	b := map[string]any{"spec": map[string]any{"image": "x", "version": "1"}}
	ha, err := Hash(a)
	require.NoError(t, err)
	hb, err := Hash(b)
	require.NoError(t, err)
	require.Equal(t, ha, hb, "key order must not matter")
	c := map[string]any{"spec": map[string]any{"image": "x", "version": "2"}}
	hc, err := Hash(c)
	require.NoError(t, err)
	require.NotEqual(t, ha, hc)
}
