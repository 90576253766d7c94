package manager

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Main parses args, builds the manager and runs it until SIGTERM or SIGINT. It returns the exit
// code.
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("canopy manager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o Options
	o.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := o.Complete(fs, os.Getenv); err != nil {
		fmt.Fprintln(stderr, "canopy manager:", err)
		return 2
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.Zap)))
	log := ctrl.Log.WithName("setup")
	memLimit, err := softMemoryLimit(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "canopy manager:", err)
		return 2
	}
	if memLimit > 0 {
		debug.SetMemoryLimit(memLimit)
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "loading the kubeconfig")
		return 1
	}
	o.ApplyRateLimits(cfg)
	mgr, err := New(cfg, o)
	if err != nil {
		log.Error(err, "building the manager")
		return 1
	}
	log.Info("starting the manager", "watchNamespaces", o.WatchNamespaces, "leaderElection", o.LeaderElect,
		"metrics", o.MetricsAddr, "secureMetrics", o.SecureMetrics,
		"maxConcurrentReconciles", o.MaxConcurrentReconciles, "goMemoryLimit", memLimit, "kubeAPIQPS", cfg.QPS, "kubeAPIBurst", cfg.Burst)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "running the manager")
		return 1
	}
	return 0
}
