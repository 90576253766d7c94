package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/e2e/cluster"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/desired/common"
	"github.com/canopy-dev/canopy/internal/pgtest"
	"github.com/canopy-dev/canopy/internal/scheme"
)

const (
	stackPrefix = "bench-"
	// oneMoreNamespace holds the Stack created after the N converged; outside stackPrefix, so
	// the floor, the bump and the N's own figures leave it out.
	oneMoreNamespace = "extra-one"
	floorPrefix      = "floor-"
	// floorManagedBy replaces Canopy's managed-by label on the floor's copies, so that Canopy's
	// cache (which selects that label) never sees them.
	floorManagedBy = "canopy-bench-floor"
)

// childKinds are the kinds of the objects Canopy creates for a Stack (Pods and the claims of a
// StatefulSet are the cluster's).
var childKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Service"},
	{Version: "v1", Kind: "PersistentVolumeClaim"}, {Version: "v1", Kind: "ServiceAccount"},
	{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "apps", Version: "v1", Kind: "StatefulSet"},
	{Group: "batch", Version: "v1", Kind: "Job"}, {Group: "batch", Version: "v1", Kind: "CronJob"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, {Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
	{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"}, {Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
	{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}, {Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"},
}

// componentKinds are Canopy's internal kinds: owned by a Stack, not part of the floor.
var componentKinds = []schema.GroupVersionKind{
	componentsv1alpha1.GroupVersion.WithKind("Database"), componentsv1alpha1.GroupVersion.WithKind("Frontend"),
	componentsv1alpha1.GroupVersion.WithKind("BackupPolicy"),
}

type bencher struct {
	root, dir string
	bins      cluster.Binaries
	settings  Settings
	notes     []string
}

func (b *bencher) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	for _, have := range b.notes {
		if have == n {
			return
		}
	}
	b.notes = append(b.notes, n)
}

// measure runs N Stacks with w workers on a cluster of its own.
func (b *bencher) measure(ctx context.Context, n, w int, profile bool) (r Run) {
	r = Run{N: n, Workers: w, LoadAvg: loadAvg()}
	renewedBefore := renewed
	fail := func(err error) Run {
		if r.Error == "" {
			r.Error = err.Error()
		}
		return r
	}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return fail(err)
	}
	policy := filepath.Join(b.dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		return fail(err)
	}
	port, err := pgtest.FreePort()
	if err != nil {
		return fail(err)
	}
	pprofURL := fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", port)
	args := []string{fmt.Sprintf("--max-concurrent-reconciles=%d", w), fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", port)}
	if b.settings.KubeAPIQPS > 0 {
		args = append(args, fmt.Sprintf("--kube-api-qps=%g", b.settings.KubeAPIQPS), fmt.Sprintf("--kube-api-burst=%d", b.settings.KubeAPIBurst))
	}
	// Canopy's and the floor's pods: about four per Stack each; fake nodes of 1,000 pods.
	nodes := 2 + n*8/1000
	var c *cluster.Cluster
	// On a loaded machine kube-apiserver sometimes does not serve within kwokctl's two minutes:
	// a second attempt, noted.
	for attempt := 1; attempt <= 2; attempt++ {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		c, err = cluster.Start(sctx, cluster.Options{Name: "canopy-bench", Dir: b.dir, Nodes: nodes, Root: b.root, Binaries: b.bins,
			Log: logf, Monitoring: true, AuditPolicy: policy, ManagerArgs: args,
			NodeParams: []string{`.allocatable.pods = "1000"`, `.allocatable.cpu = "1000"`, `.allocatable.memory = "4Ti"`}})
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		b.note("N = %d, %d workers: the cluster failed to start once (%v) and was started again", n, w, err)
	}
	if err != nil {
		if c != nil {
			logf("kwokctl.log:\n%s", c.TailLog("kwokctl.log", 30))
		}
		return fail(fmt.Errorf("starting the cluster: %w", err))
	}
	defer c.Stop()
	auditPath, err := c.AuditLog()
	if err != nil {
		return fail(err)
	}
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = -1, 0 // like the manager: no client-side limit unless one is set
	if b.settings.KubeAPIQPS > 0 {
		cfg.QPS, cfg.Burst = float32(b.settings.KubeAPIQPS), b.settings.KubeAPIBurst
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return fail(err)
	}
	parallel := b.settings.FloorParallelismPerWorker * w
	var windows []window

	// The manager's start (caches, informers) is not part of any window.
	if err := waitControllers(ctx, c.MetricsURL); err != nil {
		return fail(err)
	}

	// 1. Convergence.
	sample, err := readSample(filepath.Join(b.root, b.settings.Sample))
	if err != nil {
		return fail(err)
	}
	startMetrics, _ := scrape(c.MetricsURL)
	start := time.Now()
	if err := forEach(ctx, n, parallel, func(i int) error {
		ns := fmt.Sprintf("%s%d", stackPrefix, i)
		if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
		s := sample.DeepCopy()
		s.Namespace = ns
		return cl.Create(ctx, s)
	}); err != nil {
		return fail(fmt.Errorf("creating the Stacks: %w", err))
	}
	logf("N=%d: %d Stacks created in %.1f s", n, n, time.Since(start).Seconds())
	timeout := 10*time.Minute + time.Duration(n)*2*time.Second
	stacks, err := waitStacks(ctx, cl, n, timeout, func(s *canopyv1alpha1.Stack) bool { return true })
	r.ConvergeSeconds = time.Since(start).Seconds()
	windows = append(windows, window{"converge", start, time.Now()})
	if endMetrics, err := scrape(c.MetricsURL); err == nil {
		r.Controllers = controllerWork(startMetrics, endMetrics, r.ConvergeSeconds, w)
	}
	r.Ready = countReady(stacks, nil)
	if err != nil {
		r.Error = fmt.Sprintf("%d of %d Stacks Ready after %s: %v", r.Ready, n, timeout, err)
	}
	var per []float64
	for i := range stacks {
		if cond := conditions.Get(&stacks[i], componentsv1alpha1.ConditionReady); cond != nil && cond.Status == metav1.ConditionTrue {
			per = append(per, cond.LastTransitionTime.Sub(stacks[i].CreationTimestamp.Time).Seconds())
		}
	}
	r.StackSeconds = spread(per)
	logf("N=%d: %d Ready in %.1f s (one Stack: median %.0f s, max %.0f s)", n, r.Ready, r.ConvergeSeconds, r.StackSeconds.Median, r.StackSeconds.Max)
	children, owned, err := collectChildren(ctx, cl, c)
	if err != nil {
		return fail(err)
	}
	r.ObjectsPerStack = float64(owned) / float64(n)

	// 2. At rest.
	before, _ := scrape(c.MetricsURL)
	idleStart := time.Now()
	sleep(ctx, time.Duration(b.settings.IdleSeconds*float64(time.Second)))
	windows = append(windows, window{"idle", idleStart, time.Now()})
	after, err := scrape(c.MetricsURL)
	if err == nil {
		r.Idle.Reconciles = map[string]float64{}
		was := metricByLabel(before, "controller_runtime_reconcile_total", "controller")
		for ctrl, v := range metricByLabel(after, "controller_runtime_reconcile_total", "controller") {
			r.Idle.Reconciles[ctrl] = v - was[ctrl]
		}
		r.Memory.HeapAllocBytes = uint64(metricSum(after, "go_memstats_heap_alloc_bytes"))
		r.Memory.HeapInuseBytes = uint64(metricSum(after, "go_memstats_heap_inuse_bytes"))
	}
	if pid := c.ManagerPID(); pid > 0 {
		status := fmt.Sprintf("/proc/%d/status", pid)
		r.Memory.RSSBytes, r.Memory.PeakRSSBytes = procKB(status, "VmRSS:"), procKB(status, "VmHWM:")
	}
	if profile {
		top, err := heapTop(ctx, pprofURL, filepath.Join(b.dir, fmt.Sprintf("heap-n%d-w%d.pb.gz", n, w)))
		if err != nil {
			b.note("no heap profile at N = %d: %v", n, err)
		}
		r.HeapTop = top
	}

	// 3. One more Stack, among the N converged: its own chain, with nothing queued before it.
	stacksNow := n
	if r.Ready == n {
		oneStart := time.Now()
		r.OneMore, err = oneMore(ctx, cl, sample, timeout)
		windows = append(windows, window{"one", oneStart, time.Now()})
		if err != nil {
			r.Error = "one more Stack: " + err.Error()
		} else {
			stacksNow++
			logf("N=%d: one more Stack Ready in %.1f s", n, r.OneMore.Seconds)
		}
	}

	// 4. The floor.
	floorStart := time.Now()
	r.Floor, err = b.floor(ctx, cl, children, parallel, timeout)
	windows = append(windows, window{"floor", floorStart, time.Now()})
	if err != nil {
		r.Error = "the floor: " + err.Error()
	}
	logf("N=%d: floor of %d objects applied in %.1f s, ready in %.1f s", n, r.Floor.Objects, r.Floor.ApplySeconds, r.Floor.ReadySeconds)

	// 5. One change at scale.
	if b.settings.BumpFraction > 0 && r.Ready == n {
		bumpStart := time.Now()
		r.Bump, err = bump(ctx, cl, stacks, b.settings.BumpFraction, timeout)
		windows = append(windows, window{"bump", bumpStart, time.Now()})
		if err != nil {
			r.Error = "the version bump: " + err.Error()
		}
	}

	// 6. A restart.
	if r.Ready == n {
		c.KillManager()
		restartStart := time.Now()
		if err := c.StartManager(); err != nil {
			return fail(err)
		}
		r.Restart = &Restart{}
		deadline := restartStart.Add(timeout)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			m, err := scrape(c.MetricsURL)
			if err == nil && metricSum(m, "controller_runtime_reconcile_total", `controller="stack"`) >= float64(stacksNow) {
				r.Restart.SecondsToAllReconciled = time.Since(restartStart).Seconds()
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		sleep(ctx, time.Until(restartStart.Add(time.Duration(b.settings.RestartWindowSeconds*float64(time.Second)))))
		windows = append(windows, window{"restart", restartStart, time.Now()})
	}

	if renewed > renewedBefore {
		b.note("N = %d, %d workers: cert-manager failed to issue %d Certificates, whose issuance the bench triggered again (as cmctl renew does) "+
			"after up to 30 s; their Stacks' times include that wait", n, w, renewed-renewedBefore)
	}

	// The audit log goes with the cluster: read it now.
	time.Sleep(time.Second)
	counts, err := countAuditLogs(auditPath, windows)
	if err != nil {
		return fail(err)
	}
	r.Converge = counts["converge"]
	if r.Converge.Total == 0 {
		return fail(fmt.Errorf("the audit log holds no request from %q while the Stacks converged: is the manager's User-Agent still its own?",
			managerAgent))
	}
	r.Idle.Requests = counts["idle"]
	r.Floor.ManagerRequests = counts["floor"].Total
	if r.Bump != nil {
		r.Bump.Requests = counts["bump"]
	}
	if r.Restart != nil {
		r.Restart.Requests = counts["restart"]
	}
	if r.OneMore != nil {
		r.OneMore.Requests = counts["one"]
	}
	logf("N=%d: %.1f requests per Stack (%.1f writes, %.1f uncached GETs); idle: %d requests, %d writes; RSS %d MiB",
		n, r.perStack(r.Converge.Total), r.perStack(r.Converge.Writes), r.perStack(r.Converge.UncachedGets), r.Idle.Total, r.Idle.Writes,
		r.Memory.RSSBytes/mib)
	if exited := c.Exited(); len(exited) > 0 {
		r.Error = fmt.Sprintf("processes ended on their own: %v", exited)
	}
	return r
}

// waitControllers waits until the manager's four controllers run (their metrics exist), and a
// little longer for their caches' first events.
func waitControllers(ctx context.Context, url string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if m, err := scrape(url); err == nil {
			running := 0
			for _, ctrl := range []string{"stack", "database", "frontend", "backuppolicy"} {
				if strings.Contains(m, `controller_runtime_active_workers{controller="`+ctrl+`"}`) {
					running++
				}
			}
			if running == 4 {
				sleep(ctx, 3*time.Second)
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the manager's controllers did not start within 2 minutes")
}

func readSample(path string) (*canopyv1alpha1.Stack, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &canopyv1alpha1.Stack{}
	if err := yaml.UnmarshalStrict(data, s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// forEach runs f for 0..n-1, parallel at a time, and returns the first error.
func forEach(ctx context.Context, n, parallel int, f func(i int) error) error {
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range max(parallel, 1) {
		wg.Go(func() {
			for i := range work {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// isReady reports a Stack Ready at its spec's version for its generation.
func isReady(s *canopyv1alpha1.Stack) bool {
	return conditions.IsTrue(s, componentsv1alpha1.ConditionReady) && s.Status.ObservedGeneration == s.Generation &&
		s.Status.Version == s.Spec.Version
}

func countReady(stacks []canopyv1alpha1.Stack, only map[string]bool) int {
	n := 0
	for i := range stacks {
		if (only == nil || only[stacks[i].Namespace]) && isReady(&stacks[i]) {
			n++
		}
	}
	return n
}

// waitStacks polls the bench's Stacks until want of those selected are Ready.
func waitStacks(ctx context.Context, cl client.Client, want int, timeout time.Duration, sel func(*canopyv1alpha1.Stack) bool) ([]canopyv1alpha1.Stack, error) {
	deadline := time.Now().Add(timeout)
	var last []canopyv1alpha1.Stack
	lastLog := time.Now()
	for {
		var list canopyv1alpha1.StackList
		if err := cl.List(ctx, &list); err == nil {
			last = last[:0]
			ready := 0
			for i := range list.Items {
				if strings.HasPrefix(list.Items[i].Namespace, stackPrefix) {
					last = append(last, list.Items[i])
					if sel(&list.Items[i]) && isReady(&list.Items[i]) {
						ready++
					}
				}
			}
			if ready >= want {
				return last, nil
			}
			if time.Since(lastLog) > 30*time.Second {
				logf("%d of %d Ready", ready, want)
				lastLog = time.Now()
				renewFailedCertificates(ctx, cl)
			}
		}
		if time.Now().After(deadline) {
			return last, fmt.Errorf("timed out")
		}
		if ctx.Err() != nil {
			return last, ctx.Err()
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// oneMore creates a Stack in a namespace of its own and returns how long it took to be Ready,
// polled every 100 ms (condition times have whole seconds).
func oneMore(ctx context.Context, cl client.Client, sample *canopyv1alpha1.Stack, timeout time.Duration) (*OneMore, error) {
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: oneMoreNamespace}}); err != nil {
		return nil, err
	}
	s := sample.DeepCopy()
	s.Namespace = oneMoreNamespace
	start := time.Now()
	if err := cl.Create(ctx, s); err != nil {
		return nil, err
	}
	lastRenew := start
	for deadline := start.Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err := cl.Get(ctx, client.ObjectKeyFromObject(s), s); err == nil && isReady(s) {
			return &OneMore{Seconds: time.Since(start).Seconds()}, nil
		}
		if time.Since(lastRenew) > 30*time.Second {
			renewFailedCertificates(ctx, cl)
			lastRenew = time.Now()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, fmt.Errorf("not Ready after %s", timeout)
}

// collectChildren lists the objects Canopy made for the bench's Stacks: the floor's copies, and
// how many objects the Stacks own (their components included).
func collectChildren(ctx context.Context, cl client.Client, c *cluster.Cluster) ([]*unstructured.Unstructured, int, error) {
	sel := client.MatchingLabels{common.LabelManagedBy: common.ManagedBy}
	var out []*unstructured.Unstructured
	owned := 0
	claimPrefixes := map[string][]string{} // namespace → "<template>-<statefulset>-"
	for _, gvk := range append(append([]schema.GroupVersionKind(nil), componentKinds...), childKinds...) {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := cl.List(ctx, list, sel); err != nil {
			if gvk.Group == "rbac.authorization.k8s.io" || gvk.Kind == "ServiceAccount" {
				continue
			}
			return nil, 0, fmt.Errorf("listing %s: %w", gvk.Kind, err)
		}
		for i := range list.Items {
			u := &list.Items[i]
			if !strings.HasPrefix(u.GetNamespace(), stackPrefix) {
				continue
			}
			if gvk.Kind == "StatefulSet" {
				var sts appsv1.StatefulSet
				if err := c.Client.Scheme().Convert(u, &sts, nil); err == nil {
					for _, t := range sts.Spec.VolumeClaimTemplates {
						claimPrefixes[u.GetNamespace()] = append(claimPrefixes[u.GetNamespace()], t.Name+"-"+sts.Name+"-")
					}
				}
			}
			if gvk.Kind == "PersistentVolumeClaim" && fromTemplate(u.GetName(), claimPrefixes[u.GetNamespace()]) {
				continue
			}
			if gvk.Kind == "Secret" && u.GetAnnotations()["cert-manager.io/certificate-name"] != "" {
				continue
			}
			owned++
			if gvk.Group != componentsv1alpha1.GroupVersion.Group {
				out = append(out, u)
			}
		}
	}
	return out, owned, nil
}

func fromTemplate(name string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// floorCopy turns one of Canopy's objects into what the floor applies: in the floor's namespace,
// without what the API server and controllers set, with the managed-by label renamed.
func floorCopy(u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	obj := u.DeepCopy()
	obj.SetNamespace(floorPrefix + strings.TrimPrefix(u.GetNamespace(), stackPrefix))
	obj.SetOwnerReferences(nil)
	obj.SetFinalizers(nil)
	obj.SetManagedFields(nil)
	obj.SetResourceVersion("")
	obj.SetUID("")
	obj.SetGeneration(0)
	obj.SetCreationTimestamp(metav1.Time{})
	unstructured.RemoveNestedField(obj.Object, "status")
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")
	annotations := obj.GetAnnotations()
	delete(annotations, "deployment.kubernetes.io/revision")
	obj.SetAnnotations(annotations)
	switch obj.GetKind() {
	case "Service":
		if ip, _, _ := unstructured.NestedString(obj.Object, "spec", "clusterIP"); ip != "None" {
			unstructured.RemoveNestedField(obj.Object, "spec", "clusterIP")
			unstructured.RemoveNestedField(obj.Object, "spec", "clusterIPs")
		}
	case "Job":
		unstructured.RemoveNestedField(obj.Object, "spec", "selector")
		labels, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "template", "metadata", "labels")
		for _, k := range []string{"controller-uid", "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name"} {
			delete(labels, k)
		}
		_ = unstructured.SetNestedStringMap(obj.Object, labels, "spec", "template", "metadata", "labels")
	case "StatefulSet":
		templates, _, _ := unstructured.NestedSlice(obj.Object, "spec", "volumeClaimTemplates")
		for _, t := range templates {
			if m, ok := t.(map[string]any); ok {
				delete(m, "status")
			}
		}
		_ = unstructured.SetNestedSlice(obj.Object, templates, "spec", "volumeClaimTemplates")
	case "PersistentVolumeClaim":
		unstructured.RemoveNestedField(obj.Object, "spec", "volumeName")
		annotations := obj.GetAnnotations()
		for k := range annotations {
			if strings.HasPrefix(k, "pv.kubernetes.io/") || strings.HasPrefix(k, "volume.") {
				delete(annotations, k)
			}
		}
		obj.SetAnnotations(annotations)
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, err
	}
	data = bytes.ReplaceAll(data, []byte(`"`+common.LabelManagedBy+`":"`+common.ManagedBy+`"`),
		[]byte(`"`+common.LabelManagedBy+`":"`+floorManagedBy+`"`))
	out := &unstructured.Unstructured{}
	if err := out.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return out, nil
}

// floor applies the copies of Canopy's children server-side into fresh namespaces and waits until
// their workloads are ready.
func (b *bencher) floor(ctx context.Context, cl client.Client, children []*unstructured.Unstructured, parallel int,
	timeout time.Duration) (Floor, error) {
	f := Floor{Parallelism: parallel}
	var copies []*unstructured.Unstructured
	namespaces := map[string]bool{}
	for _, u := range children {
		cp, err := floorCopy(u)
		if err != nil {
			return f, err
		}
		copies = append(copies, cp)
		namespaces[cp.GetNamespace()] = true
	}
	f.Objects = len(copies)
	start := time.Now()
	var nsList []string
	for ns := range namespaces {
		nsList = append(nsList, ns)
	}
	if err := forEach(ctx, len(nsList), parallel, func(i int) error {
		return cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsList[i]}})
	}); err != nil {
		return f, err
	}
	if err := forEach(ctx, len(copies), parallel, func(i int) error {
		if err := cl.Apply(ctx, client.ApplyConfigurationFromUnstructured(copies[i]), client.FieldOwner("bench-floor"), client.ForceOwnership); err != nil {
			return fmt.Errorf("%s %s/%s: %w", copies[i].GetKind(), copies[i].GetNamespace(), copies[i].GetName(), err)
		}
		return nil
	}); err != nil {
		return f, err
	}
	f.ApplySeconds = time.Since(start).Seconds()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if ok, err := floorReady(ctx, cl); err == nil && ok {
			f.ReadySeconds = time.Since(start).Seconds()
			return f, nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return f, fmt.Errorf("not ready after %s", timeout)
}

func floorReady(ctx context.Context, cl client.Client) (bool, error) {
	sel := client.MatchingLabels{common.LabelManagedBy: floorManagedBy}
	var deps appsv1.DeploymentList
	var sts appsv1.StatefulSetList
	var jobs batchv1.JobList
	for _, l := range []client.ObjectList{&deps, &sts, &jobs} {
		if err := cl.List(ctx, l, sel); err != nil {
			return false, err
		}
	}
	for _, d := range deps.Items {
		want := ptrOr(d.Spec.Replicas, 1)
		if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != want || d.Status.AvailableReplicas != want {
			return false, nil
		}
	}
	for _, s := range sts.Items {
		want := ptrOr(s.Spec.Replicas, 1)
		if s.Status.ObservedGeneration < s.Generation || s.Status.ReadyReplicas != want || s.Status.UpdatedReplicas != want {
			return false, nil
		}
	}
	for _, j := range jobs.Items {
		if j.Status.Succeeded == 0 {
			return false, nil
		}
	}
	return len(deps.Items)+len(sts.Items) > 0, nil
}

func ptrOr(p *int32, d int32) int32 {
	if p == nil {
		return d
	}
	return *p
}

// bump upgrades a fraction of the Stacks to the next patch version and waits until they run it.
func bump(ctx context.Context, cl client.Client, stacks []canopyv1alpha1.Stack, fraction float64, timeout time.Duration) (*Bump, error) {
	k := max(1, int(math.Ceil(fraction*float64(len(stacks)))))
	b := &Bump{Stacks: k}
	chosen := map[string]bool{}
	start := time.Now()
	for i := 0; i < k; i++ {
		s := &stacks[i]
		chosen[s.Namespace] = true
		base := s.DeepCopy()
		s.Spec.Version = nextPatch(s.Spec.Version)
		if err := cl.Patch(ctx, s, client.MergeFrom(base)); err != nil {
			return b, err
		}
	}
	sel := func(s *canopyv1alpha1.Stack) bool { return chosen[s.Namespace] }
	after, err := waitStacks(ctx, cl, k, timeout, sel)
	b.Seconds = time.Since(start).Seconds()
	b.Ready = countReady(after, chosen)
	var jobs batchv1.JobList
	if lerr := cl.List(ctx, &jobs, client.HasLabels{"canopy.dev/backup-policy"}); lerr == nil {
		for _, j := range jobs.Items {
			if chosen[j.Namespace] && j.CreationTimestamp.After(start.Add(-time.Second)) {
				b.BackupJobs++
			}
		}
	}
	logf("version bump on %d Stacks: %d upgraded in %.1f s, %d backup Jobs", k, b.Ready, b.Seconds, b.BackupJobs)
	return b, err
}

// nextPatch adds one to the last number of a version ("1.4.2" → "1.4.3").
func nextPatch(v string) string {
	i := strings.LastIndex(v, ".")
	var n int
	if _, err := fmt.Sscan(v[i+1:], &n); err != nil {
		return v + ".1"
	}
	return fmt.Sprintf("%s%d", v[:i+1], n+1)
}

func scrape(url string) (string, error) {
	resp, err := http.Get(url) //nolint:gosec // the manager's metrics on loopback
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(data), nil
}

// heapTop fetches a heap profile and returns the top entries by in-use space.
func heapTop(ctx context.Context, url, file string) ([]string, error) {
	resp, err := http.Get(url) //nolint:gosec // the manager's pprof on loopback
	if err != nil {
		return nil, fmt.Errorf("pprof is not reachable: %w", err)
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=15", "-sample_index=inuse_space", file).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %w", err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") {
			continue
		}
		lines = append(lines, l)
	}
	return lines, nil
}
