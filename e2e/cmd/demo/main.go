// Command demo is `make demo`: a local simulated cluster with Canopy running, the sample Stack
// applied, and its progress shown live until it is Ready. It keeps running until Ctrl-C, then
// removes everything it started.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	"github.com/canopy-dev/canopy/e2e/cluster"
	"github.com/canopy-dev/canopy/internal/testenv"
)

const namespace = "demo"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := testenv.RepoRoot()
	if err != nil {
		return err
	}
	bins, err := cluster.FindBinaries(root)
	if err != nil {
		return err
	}
	bins.Canopy = filepath.Join(root, "bin", "canopy")
	say := func(format string, args ...any) {
		fmt.Printf("[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	dir := filepath.Join(root, "bin", "demo")
	say("starting a simulated cluster (etcd, kube-apiserver, controller-manager, scheduler, kwok nodes), cert-manager and the Prometheus operator in %s", dir)
	c, err := cluster.Start(ctx, cluster.Options{Name: "canopy-demo", Dir: dir, Nodes: 2, Root: root, Binaries: bins, Log: say, Monitoring: true})
	defer func() {
		say("stopping everything")
		c.Stop()
	}()
	if err != nil {
		return err
	}
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	sample := filepath.Join(root, "config", "samples", "canopy_v1alpha1_stack.yaml")
	name, err := applySample(ctx, c.Client, sample)
	if err != nil {
		return err
	}
	say("applied %s: Stack %s/%s", filepath.Base(sample), namespace, name)

	start := time.Now()
	last := ""
	for ctx.Err() == nil {
		s := &canopyv1alpha1.Stack{}
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err == nil {
			if line := progress(s); line != last {
				say("%s", line)
				last = line
			}
			if ready(s) {
				say("Stack %s is Ready after %s: version %s at %s", name, time.Since(start).Round(time.Second), s.Status.Version, s.Status.URL)
				break
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	if ctx.Err() == nil {
		if err := firstBackup(ctx, c.Client, name, say); err != nil {
			return err
		}
	}
	fmt.Printf(`
Canopy runs on a simulated cluster (kwok: pods are scheduled and report ready; no container runs).
  export KUBECONFIG=%[1]s PATH=%[2]s:$PATH   # bin/kubectl-canopy is the kubectl plugin
  kubectl get stacks -n %[3]s                 # kubectl get canopy -n %[3]s
  kubectl canopy status %[4]s -n %[3]s          # the Stack as a tree, and what needs attention
Try (docs/kubectl-canopy.md):
  kubectl canopy backup %[4]s -n %[3]s --wait                  # a backup now, followed until catalogued
  kubectl canopy backups %[4]s -n %[3]s                        # the catalogue
  kubectl canopy upgrade %[4]s -n %[3]s --version 1.5.0 --wait # pre-upgrade backup, migration, rollout
  kubectl canopy upgrade %[4]s -n %[3]s --version 2.0.0-broken # never ready: rolled back after 10m
  kubectl canopy restore %[4]s -n %[3]s --backup <name from backups>
  kubectl canopy report %[4]s -n %[3]s                         # a tarball for a bug report
  kubectl delete stack %[4]s -n %[3]s                          # tear down, data kept
Logs: %[5]s. Ctrl-C stops the cluster and removes it.
`, c.Kubeconfig, filepath.Join(root, "bin"), namespace, name, dir)
	<-ctx.Done()
	return nil
}

// firstBackup asks for a backup at once (the sample's schedule is nightly) and waits until the
// Stack reports it.
func firstBackup(ctx context.Context, c client.Client, name string, say func(string, ...any)) error {
	s := &canopyv1alpha1.Stack{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		return err
	}
	if s.Spec.Backup == nil {
		return nil
	}
	base := s.DeepCopy()
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[canopyv1alpha1.AnnotationBackupNow] = fmt.Sprint(time.Now().Unix())
	if err := c.Patch(ctx, s, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("asking for a backup: %w", err)
	}
	say("asked for a first backup: kubectl annotate stack %s %s=<anything new>", name, canopyv1alpha1.AnnotationBackupNow)
	for ctx.Err() == nil {
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err == nil && s.Status.LastBackup != nil {
			say("first backup %s stored at %s", s.Status.LastBackup.Name, s.Status.LastBackup.Location)
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// applySample creates the Stacks of a sample file in the demo namespace; it returns the first name.
func applySample(ctx context.Context, c client.Client, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	first := ""
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			break
		}
		if len(obj.Object) == 0 {
			continue
		}
		obj.SetNamespace(namespace)
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("applying %s: %w", obj.GetName(), err)
		}
		if first == "" {
			first = obj.GetName()
		}
	}
	if first == "" {
		return "", fmt.Errorf("%s holds no object", path)
	}
	return first, nil
}

func ready(s *canopyv1alpha1.Stack) bool {
	for _, c := range s.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == metav1.ConditionTrue && s.Status.ObservedGeneration == s.Generation
		}
	}
	return false
}

// progress is one line: each component's readiness and the Stack's reason.
func progress(s *canopyv1alpha1.Stack) string {
	var parts []string
	comps := map[string]bool{}
	if c := s.Status.Components.Database; c != nil {
		comps["database"] = c.Ready
	}
	if c := s.Status.Components.Frontend; c != nil {
		comps["frontend"] = c.Ready
	}
	if c := s.Status.Components.Backup; c != nil {
		comps["backup"] = c.Ready
	}
	keys := make([]string, 0, len(comps))
	for k := range comps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mark := "…"
		if comps[k] {
			mark = "ready"
		}
		parts = append(parts, k+" "+mark)
	}
	reason := ""
	for _, c := range s.Status.Conditions {
		if c.Type == "Ready" {
			reason = c.Reason + ": " + c.Message
		}
	}
	if len(reason) > 140 {
		reason = reason[:140] + "…"
	}
	return strings.Join(parts, ", ") + " — " + reason
}
