package testenv

import (
	"context"
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/mgroptions"
)

// Wait and Tick bound the Eventually loops of controller tests.
const (
	Wait = 30 * time.Second
	Tick = 25 * time.Millisecond
)

// StartManager runs a manager with the controllers that setup registers until the test ends.
func (e *Env) StartManager(t testing.TB, setup func(ctrl.Manager) error) ctrl.Manager {
	t.Helper()
	return e.StartManagerContext(t, context.Background(), setup)
}

// StartManagerContext runs a manager until ctx ends or the test ends, whichever comes first; a test
// cancels ctx to stop it early, as a crashed or restarted operator would stop.
func (e *Env) StartManagerContext(t testing.TB, parent context.Context, setup func(ctrl.Manager) error) ctrl.Manager {
	t.Helper()
	// The production options (mgroptions.Base: the cache sees only Canopy's labelled objects of the
	// built-in kinds), watching every namespace as an OLM AllNamespaces install does.
	opts := mgroptions.Base(e.Scheme, nil)
	opts.Metrics = metricsserver.Options{BindAddress: "0"}
	opts.Controller.SkipNameValidation = ptr.To(true)
	requests := &Requests{}
	mgr, err := ctrl.NewManager(counted(e.Config, requests), opts)
	if err != nil {
		t.Fatalf("creating the manager: %v", err)
	}
	requestsMu.Lock()
	requestsOf[mgr] = requests
	requestsMu.Unlock()
	if err := setup(mgr); err != nil {
		t.Fatalf("setting up the controllers: %v", err)
	}
	metrics.WatchState(mgr.GetCache()) // as manager.SetupControllers does
	ctx, cancel := context.WithCancel(parent)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the manager stopped with an error: %v", err)
		}
	})
	return mgr
}

// Mutate reads an object, changes it and writes it back (status when status is true), retrying on
// conflicts with the controllers' own writes until it succeeds or Wait passes.
func Mutate[T client.Object](t testing.TB, c client.Client, key client.ObjectKey, newObj func() T, status bool, change func(T)) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	var err error
	for time.Now().Before(deadline) {
		obj := newObj()
		if err = c.Get(context.Background(), key, obj); err == nil {
			change(obj)
			if status {
				err = c.Status().Update(context.Background(), obj)
			} else {
				err = c.Update(context.Background(), obj)
			}
			if err == nil {
				return
			}
		}
		time.Sleep(Tick)
	}
	t.Fatalf("changing %T %s: %v", newObj(), key, err)
}

// EventReasons lists the reasons of the events recorded on obj.
func EventReasons(t testing.TB, c client.Client, obj client.Object) []string {
	t.Helper()
	var list corev1.EventList
	if err := c.List(context.Background(), &list, client.InNamespace(obj.GetNamespace())); err != nil {
		t.Fatalf("listing events: %v", err)
	}
	var reasons []string
	for _, e := range list.Items {
		if e.InvolvedObject.UID == obj.GetUID() {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

// Reconciles reads controller-runtime's count of reconciles per controller name, summed over
// results, from its metrics registry: what a test compares before and after to prove that a
// controller did (or did not) run.
func Reconciles(t testing.TB) map[string]float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("reading the metrics: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// Gauge reads the value of one series of a gauge from controller-runtime's registry, the one the
// manager's /metrics serves; ok is false when no series has exactly those labels.
func Gauge(t testing.TB, name string, labels map[string]string) (value float64, ok bool) {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("reading the metrics: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if maps.Equal(got, labels) {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}
