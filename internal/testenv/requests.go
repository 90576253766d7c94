package testenv

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Requests counts the requests a manager sends to the API server, as its transport sees them: what
// its controllers cost whatever client, cache or recorder they go through. A resourceVersion that
// stays put proves no change; it misses a write that changes nothing, and every read.
type Requests struct {
	mu     sync.Mutex
	count  int // every request but watches
	writes int
	last   []string // the latest requests, for failure messages
}

// Watches are left out: an informer's watch is one long request that client-go renews every few
// minutes whatever the controllers do.
func (r *Requests) observe(req *http.Request) {
	if req.URL.Query().Get("watch") == "true" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count++
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		r.writes++
	}
	r.last = append(r.last, req.Method+" "+req.URL.Path)
	if len(r.last) > 20 {
		r.last = r.last[1:]
	}
}

// Count returns the requests and the writes among them so far.
func (r *Requests) Count() (requests, writes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count, r.writes
}

func (r *Requests) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("%d requests, %d writes; latest %v", r.count, r.writes, r.last)
}

type countingTransport struct {
	http.RoundTripper
	requests *Requests
}

func (c countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.requests.observe(req)
	return c.RoundTripper.RoundTrip(req)
}

var (
	requestsMu sync.Mutex
	requestsOf = map[ctrl.Manager]*Requests{}
)

// counted returns a copy of cfg whose requests r counts.
func counted(cfg *rest.Config, r *Requests) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{RoundTripper: rt, requests: r} })
	return cfg
}

// RequestsOf returns the counter of the requests of a manager that StartManager started.
func RequestsOf(mgr ctrl.Manager) *Requests {
	requestsMu.Lock()
	defer requestsMu.Unlock()
	return requestsOf[mgr]
}

// RequireIdle waits until mgr settles, then checks that for window it sends no request to the API
// server and runs no reconcile: what a steady state, or an object waiting on something watched,
// must cost. Requests alone would miss a reconcile that reads only the cache (a timer that
// requeues, say); reconciles alone would miss nothing a client could be charged for, but say less
// than a count of writes.
func RequireIdle(t testing.TB, mgr ctrl.Manager, window time.Duration, why string) {
	t.Helper()
	r := RequestsOf(mgr)
	require.NotNil(t, r, "the manager was not started by testenv")
	activity := func() (int, float64) {
		n, _ := r.Count()
		var reconciles float64
		for _, v := range Reconciles(t) {
			reconciles += v
		}
		return n, reconciles
	}
	lastN, lastR := -1, -1.0
	require.Eventually(t, func() bool {
		n, rec := activity()
		settled := n == lastN && rec == lastR
		lastN, lastR = n, rec
		return settled
	}, Wait, 1500*time.Millisecond, "the manager settles: %s", r)
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if n, rec := activity(); n != lastN || rec != lastR {
			t.Fatalf("%s: %v reconciles, %s", why, rec-lastR, r)
		}
	}
}
