// Command demo is `make demo-real`: the sample application as a Stack with TLS, monitoring and
// backups on the real-pods tier (docs/real-pods.md), its pods really running. It prints how to
// reach the application and the cluster from inside the tier's namespaces, keeps running until
// Ctrl-C, then stops everything and checks that nothing is left on the host. Root only.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/e2e/real/cluster"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

const namespace = "demo"

func say(format string, args ...any) {
	fmt.Printf("[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func main() {
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo-real:", err)
		os.Exit(1)
	}
	dir := filepath.Join(root, "bin", "demo-real")
	if !cluster.InNamespace() {
		if os.Geteuid() != 0 {
			fmt.Fprintln(os.Stderr, "demo-real: needs root (namespaces, mounts, cgroups, containers)")
			os.Exit(1)
		}
		code, leftovers, err := cluster.RunInNamespace(dir, say)
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo-real:", err)
			os.Exit(1)
		}
		if len(leftovers) > 0 {
			fmt.Fprintf(os.Stderr, "demo-real: left behind:\n  %s\n", strings.Join(leftovers, "\n  "))
			os.Exit(1)
		}
		say("stopped; nothing left behind")
		os.Exit(code)
	}
	if err := run(root, dir); err != nil {
		fmt.Fprintln(os.Stderr, "demo-real:", err)
		os.Exit(1)
	}
}

func run(root, dir string) error {
	log.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cluster.SetUpNamespace(dir); err != nil {
		return err
	}
	say("starting a single-node cluster (containerd, kubelet, CoreDNS), cert-manager, the Prometheus operator, versitygw and Canopy")
	c, err := cluster.Up(ctx, cluster.UpOptions{Root: root, Dir: dir, AppVersions: []string{"1.0.0", "1.1.0"}, BrokenVersion: "2.0.0-broken", Log: say})
	if err != nil {
		return err
	}
	defer func() {
		say("stopping everything")
		c.Stop()
	}()
	if err := apply(ctx, c.Client); err != nil {
		return err
	}
	start := time.Now()
	say("Stack %s/shop created; waiting until it is Ready", namespace)
	var last string
	for {
		s := &canopyv1alpha1.Stack{}
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "shop"}, s); err == nil {
			if r := conditions.Get(s, componentsv1alpha1.ConditionReady); r != nil {
				if msg := r.Reason + ": " + r.Message; msg != last {
					say("  %s", msg)
					last = msg
				}
				if r.Status == metav1.ConditionTrue {
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	say("Ready after %s. From another shell, inside the tier's namespaces:", time.Since(start).Round(100*time.Millisecond))
	enter := fmt.Sprintf("nsenter -t %d -n -m", os.Getpid())
	fmt.Printf(`
  %[1]s curl -s http://shop-web.%[2]s.svc/              # the application, through its Service
  %[1]s curl -s -d hello http://shop-web.%[2]s.svc/notes   # write a row
  %[1]s curl -s http://shop-web.%[2]s.svc/db            # its database connection (TLS, verify-full)
  %[1]s kubectl --kubeconfig %[3]s get stacks,pods -A
  logs: %[4]s

Ctrl-C stops everything.
`, enter, namespace, filepath.Join(c.StateDir(), "admin.kubeconfig"), c.LogDir())
	<-ctx.Done()
	return nil
}

// apply creates the demo namespace, the bucket's credentials and the sample Stack.
func apply(ctx context.Context, cl client.Client) error {
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "s3-credentials"},
			StringData: map[string]string{agent.SecretKeyAccessKeyID: cluster.S3AccessKey, agent.SecretKeySecretAccessKey: cluster.S3SecretKey}},
		&canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "shop"}, Spec: canopyv1alpha1.StackSpec{
			Version: "1.0.0",
			Frontend: canopyv1alpha1.StackFrontend{Image: cluster.SampleAppRepository, Replicas: ptr.To[int32](2), Port: 8080,
				Migration: &componentsv1alpha1.MigrationSpec{Command: []string{"/sample-app", "migrate"}},
				Probes:    &componentsv1alpha1.ProbesSpec{Readiness: &componentsv1alpha1.HTTPProbe{Path: "/healthz"}}},
			Database:   canopyv1alpha1.StackDatabase{Version: "15", Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}},
			TLS:        &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: cluster.SelfSignedIssuer, Kind: "ClusterIssuer"}},
			Monitoring: &componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true)},
			Backup: &canopyv1alpha1.StackBackup{Schedule: "0 * * * *", BeforeUpgrade: ptr.To(true),
				Destination: componentsv1alpha1.BackupDestination{S3: &componentsv1alpha1.S3Destination{
					Endpoint: cluster.S3Endpoint, Bucket: cluster.S3Bucket, Prefix: namespace, Region: "us-east-1", ForcePathStyle: ptr.To(true),
					CredentialsSecret: corev1.LocalObjectReference{Name: "s3-credentials"}}}},
		}},
	}
	for _, o := range objs {
		if err := cl.Create(ctx, o); err != nil {
			return fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}
