package manager

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/canopy-dev/canopy/controllers/backuppolicy"
	"github.com/canopy-dev/canopy/controllers/database"
	"github.com/canopy-dev/canopy/controllers/frontend"
	"github.com/canopy-dev/canopy/controllers/stack"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/mgroptions"
	"github.com/canopy-dev/canopy/internal/olm"
	"github.com/canopy-dev/canopy/internal/scheme"
)

// The metrics filter asks the API server who is calling and whether they may read /metrics.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// LeaderElectionID names the Lease that replicas of the manager compete for.
const LeaderElectionID = "canopy.canopy.dev"

// New builds a manager with every Canopy controller registered.
func New(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = UserAgent()
	var metricsCert *tls.Certificate
	if o.SecureMetrics && o.MetricsCertDir == "" && o.podNamespace != "" {
		c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pair, err := EnsureMetricsCert(ctx, c, o.podNamespace, time.Now())
		if err != nil {
			return nil, fmt.Errorf("the metrics endpoint's certificate: %w", err)
		}
		metricsCert = &pair
	}
	mgr, err := ctrl.NewManager(cfg, ctrlOptions(o, metricsCert))
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := SetupControllers(mgr); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding the readiness check: %w", err)
	}
	return mgr, nil
}

// SetupControllers registers the stack controller and the three component controllers.
func SetupControllers(mgr ctrl.Manager) error {
	// The state gauges (Stack readiness, newest backups) are read from the cache at each scrape.
	metrics.WatchState(mgr.GetCache())
	gate, err := olm.NewUpgradeGate(mgr.GetConfig())
	if err != nil {
		return err
	}
	setups := []struct {
		name  string
		setup func(ctrl.Manager) error
	}{
		{"stack", (&stack.Reconciler{Client: mgr.GetClient(), UpgradeGate: gate}).SetupWithManager},
		{"database", (&database.Reconciler{Client: mgr.GetClient()}).SetupWithManager},
		{"frontend", (&frontend.Reconciler{Client: mgr.GetClient()}).SetupWithManager},
		{"backuppolicy", (&backuppolicy.Reconciler{Client: mgr.GetClient()}).SetupWithManager},
	}
	for _, s := range setups {
		if err := s.setup(mgr); err != nil {
			return fmt.Errorf("setting up the %s controller: %w", s.name, err)
		}
	}
	return nil
}

// ctrlOptions are the manager's options; metricsCert, when set, is what the metrics endpoint
// serves (otherwise the certificates of MetricsCertDir, or a throwaway self-signed one).
func ctrlOptions(o Options, metricsCert *tls.Certificate) ctrl.Options {
	var tlsOpts []func(*tls.Config)
	if !o.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	if metricsCert != nil {
		tlsOpts = append(tlsOpts, func(c *tls.Config) {
			c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return metricsCert, nil }
		})
	}
	serving := metricsserver.Options{
		BindAddress:   o.MetricsAddr,
		SecureServing: o.SecureMetrics,
		CertDir:       o.MetricsCertDir,
		TLSOpts:       tlsOpts,
	}
	if o.SecureMetrics {
		serving.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	opts := mgroptions.Base(scheme.New(), o.WatchNamespaces)
	opts.Metrics = serving
	opts.HealthProbeBindAddress = o.ProbeAddr
	if o.PprofAddr != "" && o.PprofAddr != "0" {
		opts.PprofBindAddress = o.PprofAddr
	}
	opts.Controller.MaxConcurrentReconciles = o.MaxConcurrentReconciles
	opts.LeaderElection = o.LeaderElect
	opts.LeaderElectionID = LeaderElectionID
	opts.LeaderElectionNamespace = o.LeaderElectionNamespace
	// A new leader starts at once when the old one stops cleanly.
	opts.LeaderElectionReleaseOnCancel = true
	if o.skipNameValidation {
		opts.Controller.SkipNameValidation = ptr.To(true)
	}
	return opts
}
