package testenv

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Harness is one test's view of the control plane: its own namespace and the helpers every
// controller test uses.
type Harness struct {
	T  *testing.T
	C  client.Client // direct client: reads are never stale
	NS string
}

// Harness gives the test a namespace of its own.
func (e *Env) Harness(t *testing.T) *Harness {
	t.Helper()
	return &Harness{T: t, C: e.Client, NS: e.Namespace(t)}
}

// Key names an object in the test's namespace.
func (h *Harness) Key(name string) client.ObjectKey {
	return client.ObjectKey{Namespace: h.NS, Name: name}
}

// Get reads an object of the test's namespace.
func (h *Harness) Get(obj client.Object, name string) error {
	return h.C.Get(context.Background(), h.Key(name), obj)
}

// Eventually polls until cond holds, within Wait.
func (h *Harness) Eventually(cond func() bool, msg string, args ...any) {
	h.T.Helper()
	require.Eventually(h.T, cond, Wait, Tick, append([]any{msg}, args...)...)
}

// WaitEvent waits for an event with reason on obj.
func (h *Harness) WaitEvent(obj client.Object, reason string) {
	h.T.Helper()
	h.Eventually(func() bool { return slices.Contains(EventReasons(h.T, h.C, obj), reason) }, "event %s on %s", reason, obj.GetName())
}
