// Command cert-manager runs cert-manager v1.20.3's issuer, certificate and CertificateRequest
// (SelfSigned, CA) controllers as one local process against a kubeconfig, for envtest and
// simulated clusters where the upstream image cannot run.
//
// It serves no metrics, health or webhook endpoints (so several can run side by side) and does no
// leader election. Without the webhook nothing validates cert-manager resources and
// CertificateRequests carry no requester identity; see README.md.
//
//	cert-manager-v1.20.3 --kubeconfig /tmp/cm.kubeconfig
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	utilfeature "github.com/cert-manager/cert-manager/pkg/util/feature"
)

type options struct {
	kubeconfig   string
	namespace    string
	controllers  string
	featureGates string
	workers      int
	qps          float64
	burst        int
	ownerRef     bool
	minCRBackoff time.Duration
	crdWait      time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (default $KUBECONFIG)")
	// kube-system is upstream's own default and exists in every cluster; the Helm chart passes its
	// release namespace (usually cert-manager) instead.
	flag.StringVar(&o.namespace, "namespace", "kube-system", "cluster resource namespace: where ClusterIssuers' Secrets (CA key pair) are read")
	flag.StringVar(&o.controllers, "controllers", strings.Join(defaultControllers, ","), "comma-separated controllers to run")
	flag.StringVar(&o.featureGates, "feature-gates", "", "cert-manager feature gates, e.g. ServerSideApply=true")
	flag.IntVar(&o.workers, "workers", 5, "workers per controller")
	// Upstream's 20/50 throttles a test that creates tens of Certificates at once (50 took 47 s).
	flag.Float64Var(&o.qps, "kube-api-qps", 100, "client QPS towards the API server")
	flag.IntVar(&o.burst, "kube-api-burst", 200, "client burst towards the API server")
	flag.BoolVar(&o.ownerRef, "enable-certificate-owner-ref", false, "make Certificates owners of their Secrets")
	flag.DurationVar(&o.minCRBackoff, "certificate-request-minimum-backoff", time.Hour, "initial re-issuance backoff after a failed CertificateRequest")
	// A harness may install the CRDs while this starts; a forgotten install still fails, not hangs.
	flag.DurationVar(&o.crdWait, "crd-wait", 30*time.Second, "how long to wait for the cert-manager.io/v1 API (the CRDs) before failing")
	// Only klog's verbosity flags: logs always go to stderr. Level 2 is the Helm chart's default.
	var klogFlags flag.FlagSet
	klog.InitFlags(&klogFlags)
	_ = klogFlags.Set("v", "2")
	flag.Var(klogFlags.Lookup("v").Value, "v", "log verbosity (0 errors … 2 info … 4 debug)")
	flag.Var(klogFlags.Lookup("vmodule").Value, "vmodule", "per-file log verbosity")
	flag.Parse()

	logf.InitLogs()
	defer logf.FlushLogs()
	if err := run(o); err != nil {
		logf.Log.Error(err, "cert-manager runner failed")
		logf.FlushLogs()
		os.Exit(1)
	}
}

func run(o options) error {
	if err := utilfeature.DefaultMutableFeatureGate.Set(o.featureGates); err != nil {
		return fmt.Errorf("--feature-gates: %w", err)
	}
	names := strings.Split(o.controllers, ",")
	for _, n := range names {
		if _, ok := controller.Known()[n]; !ok {
			return fmt.Errorf("unknown controller %q (linked: %s)", n, strings.Join(known(), ","))
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := logf.Log
	ctx = logf.NewContext(ctx, log)

	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig:         o.kubeconfig,
		KubernetesAPIQPS:   float32(o.qps),
		KubernetesAPIBurst: o.burst,
		IssuerOptions:      controller.IssuerOptions{ClusterResourceNamespace: o.namespace},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef: o.ownerRef,
			// Upstream's default: copy every annotation except tooling ones.
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: o.minCRBackoff,
		},
	})
	if err != nil {
		return err
	}
	// Every Context shares the factory's informer factories; this one starts them.
	base, err := factory.Build()
	if err != nil {
		return err
	}
	// Informers on missing CRDs never sync and the process would hang silently: check first.
	if err := waitForAPI(ctx, base, o.crdWait); err != nil {
		return err
	}

	// Constructing a controller registers the informers it needs, so build all before starting.
	ctrls := make(map[string]controller.Interface, len(names))
	for _, n := range names {
		c, err := controller.Known()[n](factory)
		if err != nil {
			return fmt.Errorf("controller %s: %w", n, err)
		}
		ctrls[n] = c
	}
	base.KubeSharedInformerFactory.Start(ctx.Done())
	base.SharedInformerFactory.Start(ctx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(ctx.Done())

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for n, c := range ctrls {
		wg.Go(func() {
			if err := c.Run(o.workers, ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("controller %s: %w", n, err))
				mu.Unlock()
				stop() // one failed controller stops the whole process, as upstream does
			}
		})
	}
	go func() {
		base.KubeSharedInformerFactory.WaitForCacheSync(ctx.Done())
		base.SharedInformerFactory.WaitForCacheSync(ctx.Done())
		if ctx.Err() == nil {
			log.Info("cert-manager controllers running", "controllers", names, "clusterResourceNamespace", o.namespace)
		}
	}()
	<-ctx.Done()
	log.Info("shutting down")
	wg.Wait()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	return errors.Join(errs...)
}

// waitForAPI fails unless the cert-manager.io/v1 API (the CRDs) is served within wait.
func waitForAPI(ctx context.Context, base *controller.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		_, err := base.Client.Discovery().ServerResourcesForGroupVersion(cmapi.SchemeGroupVersion.String())
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not served (install cert-manager's CRDs first): %w", cmapi.SchemeGroupVersion, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func known() []string {
	var names []string
	for n := range controller.Known() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
