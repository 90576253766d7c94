package manager

import (
	"crypto/tls"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/canopy-dev/canopy/controllers/backuppolicy"
	"github.com/canopy-dev/canopy/controllers/database"
	"github.com/canopy-dev/canopy/controllers/frontend"
	"github.com/canopy-dev/canopy/controllers/stack"
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
	mgr, err := ctrl.NewManager(cfg, ctrlOptions(o))
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

// ReconciliationTimeout bounds each reconcile (its context is cancelled after it).
const ReconciliationTimeout = 2 * time.Minute

func ctrlOptions(o Options) ctrl.Options {
	var tlsOpts []func(*tls.Config)
	if !o.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metrics := metricsserver.Options{
		BindAddress:   o.MetricsAddr,
		SecureServing: o.SecureMetrics,
		CertDir:       o.MetricsCertDir,
		TLSOpts:       tlsOpts,
	}
	if o.SecureMetrics {
		metrics.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	opts := ctrl.Options{
		Scheme:                  scheme.New(),
		Metrics:                 metrics,
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		// A new leader starts at once when the old one stops cleanly.
		LeaderElectionReleaseOnCancel: true,
	}
	// A guardrail, not a budget: a reconcile that waits on something that never answers (a cache
	// for a kind whose CRD was removed meanwhile, a PostgreSQL statement stuck on a lock) would hold
	// its controller's only worker for good. Every reconcile is far shorter.
	opts.Controller.ReconciliationTimeout = ReconciliationTimeout
	if o.skipNameValidation {
		opts.Controller.SkipNameValidation = ptr.To(true)
	}
	opts.Cache = cache.Options{ByObject: scopedKinds()}
	if len(o.WatchNamespaces) > 0 {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.WatchNamespaces {
			opts.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return opts
}

// ManagedSelector selects the objects Canopy creates: every one carries this label.
var ManagedSelector = labels.SelectorFromSet(labels.Set{"app.kubernetes.io/managed-by": "canopy"})

// scopedKinds limits the cache of the built-in kinds Canopy creates to Canopy's own objects, so that
// the manager neither holds nor reads every Secret, Pod or Deployment of the cluster.
func scopedKinds() map[client.Object]cache.ByObject {
	byObject := map[client.Object]cache.ByObject{}
	for _, obj := range []client.Object{
		&appsv1.Deployment{}, &appsv1.StatefulSet{}, &corev1.Pod{}, &corev1.Service{}, &corev1.Secret{}, &corev1.ConfigMap{},
		&corev1.PersistentVolumeClaim{}, &networkingv1.Ingress{}, &networkingv1.NetworkPolicy{},
		&autoscalingv2.HorizontalPodAutoscaler{}, &policyv1.PodDisruptionBudget{}, &batchv1.Job{}, &batchv1.CronJob{},
	} {
		byObject[obj] = cache.ByObject{Label: ManagedSelector}
	}
	return byObject
}
