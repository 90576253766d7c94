// Package manager builds and runs Canopy's controller manager: options from flags and environment,
// the secured metrics endpoint, probes, leader election, the namespaces to watch, and the four
// controllers.
package manager

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// EnvWatchNamespace is the environment variable OLM sets from olm.targetNamespaces.
const EnvWatchNamespace = "WATCH_NAMESPACE"

// DefaultMaxConcurrentReconciles is the number of workers of each controller unless
// --max-concurrent-reconciles says otherwise. A reconcile spends most of its time waiting on the
// API server, not on a CPU: with one worker, Stacks created together queue behind each other
// (make bench: 100 Stacks Ready in 319 s with one worker, 151 s with four, on the same machine).
const DefaultMaxConcurrentReconciles = 4

// Options configure the manager.
type Options struct {
	// MetricsAddr is the metrics endpoint's address; "0" turns it off.
	MetricsAddr string
	// SecureMetrics serves metrics over HTTPS behind Kubernetes authentication and authorization.
	SecureMetrics bool
	// MetricsCertDir holds tls.crt and tls.key for the metrics endpoint; empty uses a self-signed
	// certificate generated at start.
	MetricsCertDir string
	// EnableHTTP2 allows HTTP/2 on the metrics endpoint (off by default: HTTP/2 rapid reset).
	EnableHTTP2 bool
	// ProbeAddr is the address of /healthz and /readyz.
	ProbeAddr string
	// PprofAddr serves Go's /debug/pprof profiles; "0" (the default) turns them off.
	PprofAddr string
	// LeaderElect makes only one replica reconcile at a time.
	LeaderElect bool
	// LeaderElectionNamespace holds the leader election Lease; empty uses the manager's namespace.
	LeaderElectionNamespace string
	// WatchNamespaces limits the manager to these namespaces; empty watches all.
	WatchNamespaces []string
	// MaxConcurrentReconciles is the number of workers of each controller: how many objects of
	// one kind reconcile at the same time (never the same object twice).
	MaxConcurrentReconciles int
	// KubeAPIQPS and KubeAPIBurst limit the manager's requests to the API server on the client
	// side. A QPS of 0 leaves the client unlimited (controller-runtime's default): the API server's
	// priority and fairness limits it. A burst of 0 with a QPS set means twice the QPS.
	KubeAPIQPS   float64
	KubeAPIBurst int
	// Zap configures structured logging.
	Zap zap.Options

	watchNamespaces string
	// podNamespace is the manager's own namespace (POD_NAMESPACE), where the metrics endpoint's
	// key pair is kept (EnsureMetricsCert); empty outside a pod, which serves a throwaway one.
	podNamespace string
	// skipNameValidation lets tests start several managers in one process.
	skipNameValidation bool
}

// BindFlags registers the options on fs with their defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443",
		`address of the metrics endpoint, ":8080" for HTTP with --metrics-secure=false, or "0" to turn it off`)
	fs.BoolVar(&o.SecureMetrics, "metrics-secure", true,
		"serve metrics over HTTPS, allowing only callers authorized by the API server to GET /metrics")
	fs.StringVar(&o.MetricsCertDir, "metrics-cert-dir", "",
		"directory with tls.crt and tls.key for the metrics endpoint; empty generates a self-signed certificate")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false,
		"allow HTTP/2 on the metrics endpoint (off by default because of the HTTP/2 rapid reset attacks)")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz probes")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", "0",
		`address of Go's /debug/pprof profiles (no authentication: keep it on loopback), or "0" to turn them off`)
	fs.BoolVar(&o.LeaderElect, "leader-elect", true,
		"elect a leader so that only one replica reconciles at a time")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "",
		"namespace of the leader election Lease; empty uses the namespace the manager runs in")
	fs.StringVar(&o.watchNamespaces, "watch-namespaces", "",
		"comma-separated namespaces to watch; empty watches all; overrides the "+EnvWatchNamespace+" environment variable")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", DefaultMaxConcurrentReconciles,
		"workers of each controller: objects of one kind reconciled at the same time")
	fs.Float64Var(&o.KubeAPIQPS, "kube-api-qps", 0,
		"client-side limit of requests per second to the API server; 0 leaves it to the API server's priority and fairness")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", 0,
		"requests allowed in a burst above --kube-api-qps; 0 means twice the QPS")
	o.Zap.BindFlags(fs)
}

// Complete fills what flags left open from the environment and validates the result. A flag that
// was set explicitly wins over the environment.
func (o *Options) Complete(fs *flag.FlagSet, getenv func(string) string) error {
	raw := o.watchNamespaces
	if !flagSet(fs, "watch-namespaces") {
		raw = getenv(EnvWatchNamespace)
	}
	namespaces, err := ParseNamespaces(raw)
	if err != nil {
		return err
	}
	o.WatchNamespaces = namespaces
	o.podNamespace = getenv("POD_NAMESPACE")
	if o.MetricsAddr == "" {
		return errors.New(`--metrics-bind-address must not be empty (use "0" to turn metrics off)`)
	}
	if o.MaxConcurrentReconciles < 1 {
		return fmt.Errorf("--max-concurrent-reconciles must be at least 1, not %d", o.MaxConcurrentReconciles)
	}
	if o.KubeAPIQPS < 0 {
		return fmt.Errorf("--kube-api-qps must not be negative (0 turns the client-side limit off), not %g", o.KubeAPIQPS)
	}
	if o.KubeAPIBurst < 0 {
		return fmt.Errorf("--kube-api-burst must not be negative, not %d", o.KubeAPIBurst)
	}
	if o.KubeAPIBurst > 0 && o.KubeAPIQPS == 0 {
		return errors.New("--kube-api-burst needs --kube-api-qps: without a QPS the client is not limited")
	}
	return nil
}

// ApplyRateLimits sets the client-side rate limit of cfg from the options. Without a QPS it leaves
// cfg as it is: controller-runtime's GetConfig turns the client-side limiter off.
func (o *Options) ApplyRateLimits(cfg *rest.Config) {
	if o.KubeAPIQPS == 0 {
		return
	}
	cfg.QPS = float32(o.KubeAPIQPS)
	cfg.Burst = o.KubeAPIBurst
	if cfg.Burst == 0 {
		cfg.Burst = max(1, int(math.Ceil(2*o.KubeAPIQPS)))
	}
}

// ParseNamespaces parses a comma-separated namespace list: blanks are ignored, duplicates removed,
// and every name must be a valid namespace name. An empty list means all namespaces.
func ParseNamespaces(raw string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, part := range strings.Split(raw, ",") {
		ns := strings.TrimSpace(part)
		if ns == "" || seen[ns] {
			continue
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return nil, fmt.Errorf("invalid namespace %q in the watched namespaces: %s", ns, strings.Join(errs, "; "))
		}
		seen[ns] = true
		out = append(out, ns)
	}
	sort.Strings(out)
	return out, nil
}

func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}
