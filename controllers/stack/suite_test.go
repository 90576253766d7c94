package stack

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env, testenv.Options{}))
}

// fakeGate records what the controller tells OLM.
type fakeGate struct {
	mu    sync.Mutex
	calls []gateCall
}

// gateCall is one change of OLM's Upgradeable condition.
type gateCall struct {
	upgradeable bool
	message     string
}

func (g *fakeGate) SetUpgradeable(_ context.Context, upgradeable bool, _, message string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := gateCall{upgradeable, message}
	if n := len(g.calls); n == 0 || g.calls[n-1] != c {
		g.calls = append(g.calls, c)
	}
	return nil
}

// history lists the values Upgradeable took, in order.
func (g *fakeGate) history() []bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	var h []bool
	for _, c := range g.calls {
		if n := len(h); n == 0 || h[n-1] != c.upgradeable {
			h = append(h, c.upgradeable)
		}
	}
	return h
}

// heldBackBy reports whether Upgradeable was ever false with a message containing s.
func (g *fakeGate) heldBackBy(s string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.calls {
		if !c.upgradeable && strings.Contains(c.message, s) {
			return true
		}
	}
	return false
}

// releasedBy reports whether the latest Upgradeable no longer names s (other tests' Stacks may
// still hold OLM back: envtest deletes no namespace content).
func (g *fakeGate) releasedBy(s string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := len(g.calls)
	return n > 0 && !strings.Contains(g.calls[n-1].message, s)
}

// harness is one running stack controller, watching one namespace.
type harness struct {
	*testenv.Harness
	r      *Reconciler
	mgr    ctrl.Manager
	gate   *fakeGate
	offset atomic.Int64 // added to the controller's clock
}

func start(t *testing.T) *harness {
	t.Helper()
	e := testenv.Require(t, env)
	h := &harness{Harness: e.Harness(t), gate: &fakeGate{}}
	h.mgr = e.StartManager(t, func(mgr ctrl.Manager) error {
		h.r = &Reconciler{Client: mgr.GetClient(), UpgradeGate: h.gate,
			Now: func() time.Time { return time.Now().Add(time.Duration(h.offset.Load())) }}
		return h.r.SetupWithManager(mgr)
	})
	return h
}

// newStack creates a Stack modelled on the full sample: backups to a volume, an ingress, monitoring.
func (h *harness) newStack(name, version string, mutate ...func(*canopyv1alpha1.Stack)) *canopyv1alpha1.Stack {
	h.T.Helper()
	s := &canopyv1alpha1.Stack{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: name},
		Spec: canopyv1alpha1.StackSpec{
			Version: version,
			Frontend: canopyv1alpha1.StackFrontend{
				Image:   "ghcr.io/acme/shop",
				Ingress: &componentsv1alpha1.IngressSpec{Host: name + ".example.com"},
			},
			Backup: &canopyv1alpha1.StackBackup{
				Schedule:    "0 2 * * *",
				Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}},
			},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	require.NoError(h.T, h.C.Create(context.Background(), s))
	return s
}

func (h *harness) stack(name string) *canopyv1alpha1.Stack {
	h.T.Helper()
	s := &canopyv1alpha1.Stack{}
	require.NoError(h.T, h.Get(s, name))
	return s
}

// updateStack changes a Stack's spec, retrying on conflicts with the controller's own writes.
func (h *harness) updateStack(name string, mutate func(*canopyv1alpha1.Stack)) {
	h.T.Helper()
	testenv.Mutate(h.T, h.C, h.Key(name), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false, mutate)
}

// setStatus writes a child's status the way its controller would: a condition set before the
// generation the status observed is set again for it.
func setStatus[T conditions.Object](h *harness, name string, newObj func() T, mutate func(T)) {
	h.T.Helper()
	testenv.Mutate(h.T, h.C, h.Key(name), newObj, true, func(o T) {
		mutate(o)
		observed := any(o).(interface{ GetObservedGeneration() int64 }).GetObservedGeneration()
		conds := o.GetConditions()
		for i := range conds {
			conds[i].ObservedGeneration = max(conds[i].ObservedGeneration, observed)
		}
	})
}

func readyCondition(gen int64) metav1.Condition {
	return metav1.Condition{Type: componentsv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Ready", Message: "ok",
		ObservedGeneration: gen, LastTransitionTime: metav1.Now()}
}

// databaseReady writes what the database controller reports for a running PostgreSQL.
func (h *harness) databaseReady(name string) {
	setStatus(h, name, func() *componentsv1alpha1.Database { return &componentsv1alpha1.Database{} }, func(d *componentsv1alpha1.Database) {
		d.Status.ObservedGeneration = d.Generation
		d.Status.Version = d.Spec.Version + ".2"
		d.Status.Endpoint = name + "-postgres." + h.NS + ".svc:5432"
		d.Status.CredentialsSecretName = name + "-db-credentials"
		d.Status.Conditions = []metav1.Condition{readyCondition(d.Generation)}
	})
}

// frontendServing writes what the frontend controller reports once version serves.
func (h *harness) frontendServing(name, version string) {
	setStatus(h, name, func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, func(f *componentsv1alpha1.Frontend) {
		f.Status.ObservedGeneration = f.Generation
		f.Status.DesiredVersion, f.Status.Version, f.Status.LastGoodVersion = f.Spec.Version, version, version
		f.Status.URL = "https://" + name + ".example.com"
		f.Status.Conditions = []metav1.Condition{readyCondition(f.Generation)}
	})
}

// backupReady writes what the backup controller reports, including a finished request.
func (h *harness) backupReady(name string, request *componentsv1alpha1.BackupRequestStatus) {
	setStatus(h, name, func() *componentsv1alpha1.BackupPolicy { return &componentsv1alpha1.BackupPolicy{} }, func(b *componentsv1alpha1.BackupPolicy) {
		b.Status.ObservedGeneration = b.Generation
		b.Status.Conditions = []metav1.Condition{readyCondition(b.Generation)}
		done := metav1.Now()
		b.Status.LastSuccessfulBackup = &componentsv1alpha1.BackupRecord{Name: name + "-nightly", CompletionTime: &done,
			Location: "pvc://" + name + "-backups/" + name + "-nightly"}
		b.Status.LastRequest = request
	})
}

// readyStack brings a new Stack to Ready by playing the three component controllers.
func (h *harness) readyStack(name, version string, mutate ...func(*canopyv1alpha1.Stack)) *canopyv1alpha1.Stack {
	h.T.Helper()
	s := h.newStack(name, version, mutate...)
	h.Eventually(func() bool { return h.Get(&componentsv1alpha1.Database{}, name) == nil }, "the Database is created")
	h.databaseReady(name)
	h.Eventually(func() bool { return h.Get(&componentsv1alpha1.Frontend{}, name) == nil }, "the Frontend is created")
	if s.Spec.Backup != nil {
		h.Eventually(func() bool { return h.Get(&componentsv1alpha1.BackupPolicy{}, name) == nil }, "the BackupPolicy is created")
		h.backupReady(name, nil)
	}
	h.frontendServing(name, version)
	h.waitReady(name)
	return h.stack(name)
}

func (h *harness) waitReady(name string) {
	h.T.Helper()
	h.Eventually(func() bool {
		s := &canopyv1alpha1.Stack{}
		return h.Get(s, name) == nil && s.Status.ObservedGeneration == s.Generation && conditions.IsTrue(s, componentsv1alpha1.ConditionReady)
	}, "Stack %s becomes Ready", name)
}

// writeCounter counts every request that could change the API server's state.
type writeCounter struct {
	client.Client
	writes atomic.Int64
}

func (w *writeCounter) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	w.writes.Add(1)
	return w.Client.Create(ctx, obj, opts...)
}
func (w *writeCounter) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	w.writes.Add(1)
	return w.Client.Update(ctx, obj, opts...)
}
func (w *writeCounter) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
	w.writes.Add(1)
	return w.Client.Patch(ctx, obj, p, opts...)
}
func (w *writeCounter) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
	w.writes.Add(1)
	return w.Client.Apply(ctx, obj, opts...)
}
func (w *writeCounter) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	w.writes.Add(1)
	return w.Client.Delete(ctx, obj, opts...)
}
func (w *writeCounter) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	w.writes.Add(1)
	return w.Client.DeleteAllOf(ctx, obj, opts...)
}
func (w *writeCounter) Status() client.SubResourceWriter {
	return &statusCounter{SubResourceWriter: w.Client.Status(), writes: &w.writes}
}

type statusCounter struct {
	client.SubResourceWriter
	writes *atomic.Int64
}

func (s *statusCounter) Create(ctx context.Context, obj, sub client.Object, opts ...client.SubResourceCreateOption) error {
	s.writes.Add(1)
	return s.SubResourceWriter.Create(ctx, obj, sub, opts...)
}
func (s *statusCounter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.writes.Add(1)
	return s.SubResourceWriter.Update(ctx, obj, opts...)
}
func (s *statusCounter) Patch(ctx context.Context, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
	s.writes.Add(1)
	return s.SubResourceWriter.Patch(ctx, obj, p, opts...)
}
func (s *statusCounter) Apply(ctx context.Context, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
	s.writes.Add(1)
	return s.SubResourceWriter.Apply(ctx, obj, opts...)
}
