package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

var update = flag.Bool("update", false, "rewrite testdata/RESULTS.golden.md")

func fixture(t *testing.T) Results {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "results.json"))
	require.NoError(t, err)
	var res Results
	require.NoError(t, json.Unmarshal(data, &res))
	return res
}

// TestRenderMarkdown renders RESULTS.md from a fixed results file and compares it with its golden.
func TestRenderMarkdown(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, renderMarkdown(&b, fixture(t)))
	golden := filepath.Join("testdata", "RESULTS.golden.md")
	if *update {
		require.NoError(t, os.WriteFile(golden, b.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), b.String(), "go test ./... -update rewrites the golden")
	out := b.String()
	// The ratios are computed, not copied: 30 s against a floor of 15 s; 500 requests for 10
	// Stacks of 20 objects.
	require.Contains(t, out, "| 10 | 1 | 1.50 | 10/10 | 30.0 s | 15.0 s (5.0 s) | 2.00× | 20.0 / 29.0 / 29.0 s | 20.0 |")
	require.Contains(t, out, "| 10 | 1 | 50.0 | 2.50 | 20.0 | 8.0 (1.0) | 3 | 9.0 |")
	require.Contains(t, out, "| `create events` | 9.00 | 90 |", "by verb and resource at the largest N, fewest workers")
	require.Contains(t, out, "9 of 10 Stacks Ready", "a run's error is reported")
	require.Contains(t, out, "| 10 | 1 | 70 (60) · 85% · 0.30 s · 12.5 s | 40 (0) · 50% · 0.40 s · 3.0 s | 0 (0) · 0% · 0.00 s · 0.0 s |")
	require.Less(t, strings.Index(out, "| 1 | 1 | 1.00 |"), strings.Index(out, "| 10 | 1 | 1.50 |"), "rows sorted by workers, then N")
}

func TestRenderPlots(t *testing.T) {
	plots, err := renderPlots(fixture(t))
	require.NoError(t, err)
	require.Len(t, plots, 3)
	for name, title := range map[string]string{plotTime: "Time until Ready", plotMemory: "Manager memory", plotRequests: "requests per Stack"} {
		svg := string(plots[name])
		require.Contains(t, svg, "<svg", name)
		require.Contains(t, svg, title, name)
		require.Contains(t, svg, "(4 workers)", "%s: one line per worker count", name)
	}
}

func TestCountRequests(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := func(sec int, agent, verb, resource, sub string, code int) string {
		data, _ := json.Marshal(map[string]any{"requestReceivedTimestamp": t0.Add(time.Duration(sec) * time.Second), "verb": verb,
			"userAgent": agent, "objectRef": map[string]any{"resource": resource, "subresource": sub}, "responseStatus": map[string]any{"code": code}})
		return string(data)
	}
	const mgr, other = "canopy-manager/v0.0.0 (linux/amd64)", "bench/v0.0.0 (linux/amd64) kubernetes/$Format"
	log := strings.Join([]string{
		ev(1, mgr, "get", "stacks", "", 200),
		ev(2, mgr, "patch", "stacks", "status", 200),
		ev(3, mgr, "get", "databases", "", 404),
		ev(4, other, "create", "stacks", "", 201),
		ev(5, mgr, "update", "deployments", "", 409),
		ev(12, mgr, "create", "events", "", 201),
		ev(13, "kubectl-canopy/v0.0.0", "patch", "stacks", "", 200),
		ev(30, mgr, "watch", "pods", "", 200),
	}, "\n")
	got, err := countRequests(strings.NewReader(log), []window{{"a", t0, t0.Add(10 * time.Second)}, {"b", t0.Add(10 * time.Second), t0.Add(20 * time.Second)}})
	require.NoError(t, err)
	require.Equal(t, Requests{Seconds: 10, Total: 4, Writes: 2, UncachedGets: 2, NotFound: 1, Conflicts: 1,
		ByVerbResource: map[string]int{"get stacks": 1, "patch stacks/status": 1, "get databases": 1, "update deployments": 1}}, got["a"])
	require.Equal(t, Requests{Seconds: 10, Total: 1, Writes: 1, ByVerbResource: map[string]int{"create events": 1}}, got["b"],
		"only the manager's user agent; a request outside every window is not counted")
}

func TestCountAuditLogsReadsRotatedFiles(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	line := func(sec int) string {
		data, _ := json.Marshal(map[string]any{"requestReceivedTimestamp": t0.Add(time.Duration(sec) * time.Second), "verb": "get",
			"userAgent": "canopy-manager/v0", "objectRef": map[string]any{"resource": "stacks"}})
		return string(data)
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit-2026-01-01T00-00-05.000.log"), []byte(line(1)+"\n"+line(2)), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "audit.log"), []byte(line(6)+"\n"), 0o600))
	got, err := countAuditLogs(filepath.Join(dir, "audit.log"), []window{{"converge", t0, t0.Add(10 * time.Second)}})
	require.NoError(t, err)
	require.Equal(t, 3, got["converge"].Total, "the requests in the rotated file count too")
}

func TestMetrics(t *testing.T) {
	text := `# HELP controller_runtime_reconcile_total Total number of reconciliations per controller
controller_runtime_reconcile_total{controller="stack",result="success"} 12
controller_runtime_reconcile_total{controller="stack",result="error"} 1
controller_runtime_reconcile_total{controller="database",result="success"} 4
controller_runtime_reconcile_errors_total{controller="stack"} 1
go_memstats_heap_alloc_bytes 1.048576e+07
`
	require.InDelta(t, 13, metricSum(text, "controller_runtime_reconcile_total", `controller="stack"`), 0)
	require.InDelta(t, 1.048576e+07, metricSum(text, "go_memstats_heap_alloc_bytes"), 0)
	require.Equal(t, map[string]float64{"stack": 13, "database": 4}, metricByLabel(text, "controller_runtime_reconcile_total", "controller"))
}

func TestFloorCopy(t *testing.T) {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": "shop-migrate", "namespace": "bench-7", "uid": "u", "resourceVersion": "9",
			"labels":          map[string]any{"app.kubernetes.io/managed-by": "canopy", "app.kubernetes.io/name": "shop"},
			"ownerReferences": []any{map[string]any{"name": "shop"}}, "managedFields": []any{map[string]any{"manager": "canopy"}}},
		"spec": map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"batch.kubernetes.io/controller-uid": "u"}},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"app.kubernetes.io/managed-by": "canopy",
				"batch.kubernetes.io/controller-uid": "u", "job-name": "shop-migrate"}}}},
		"status": map[string]any{"succeeded": int64(1)},
	}}
	got, err := floorCopy(u)
	require.NoError(t, err)
	require.Equal(t, map[string]any{
		"apiVersion": "batch/v1", "kind": "Job",
		"metadata": map[string]any{"name": "shop-migrate", "namespace": "floor-7",
			"labels": map[string]any{"app.kubernetes.io/managed-by": floorManagedBy, "app.kubernetes.io/name": "shop"}},
		"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"labels": map[string]any{"app.kubernetes.io/managed-by": floorManagedBy}}}},
	}, got.Object)
}

func TestSettingsFromEnv(t *testing.T) {
	env := map[string]string{"BENCH_N": "1, 10,100", "BENCH_WORKERS": "1,4", "BENCH_IDLE": "3m", "BENCH_QPS": "50", "BENCH_BURST": "75"}
	s, err := settingsFromEnv(func(k string) string { return env[k] })
	require.NoError(t, err)
	require.Equal(t, []int{1, 10, 100}, s.Ns)
	require.Equal(t, []int{1, 4}, s.Workers)
	require.InDelta(t, 180, s.IdleSeconds, 0)
	require.InDelta(t, 50, s.KubeAPIQPS, 0)
	require.Equal(t, 75, s.KubeAPIBurst)
	def, err := settingsFromEnv(func(string) string { return "" })
	require.NoError(t, err)
	require.Equal(t, []int{1, 10, 100, 500, 1000}, def.Ns, "the issue's Ns by default")
	_, err = settingsFromEnv(func(k string) string { return map[string]string{"BENCH_N": "0"}[k] })
	require.ErrorContains(t, err, "BENCH_N")
}

func TestNextPatch(t *testing.T) {
	require.Equal(t, "1.4.3", nextPatch("1.4.2"))
	require.Equal(t, "2.0.10", nextPatch("2.0.9"))
}

func TestMerge(t *testing.T) {
	runs := []Run{{N: 1, Workers: 1}, {N: 10, Workers: 1}, {N: 10, Workers: 4}}
	require.Equal(t, []Run{{N: 10, Workers: 1}, {N: 10, Workers: 4}}, keepOthers(runs, Settings{Ns: []int{1}, Workers: []int{1}}))
	require.Equal(t, []int{1, 4, 10}, union([]int{10, 1}, []int{4, 1}))
}

func TestControllerWork(t *testing.T) {
	before := `controller_runtime_reconcile_total{controller="stack",result="success"} 2
workqueue_work_duration_seconds_sum{controller="stack",name="stack"} 1
workqueue_queue_duration_seconds_sum{controller="stack",name="stack"} 0
workqueue_queue_duration_seconds_count{controller="stack",name="stack"} 2
`
	after := `controller_runtime_reconcile_total{controller="stack",result="success"} 10
controller_runtime_reconcile_total{controller="stack",result="requeue_after"} 2
workqueue_work_duration_seconds_sum{controller="stack",name="stack"} 6
workqueue_queue_duration_seconds_sum{controller="stack",name="stack"} 20
workqueue_queue_duration_seconds_count{controller="stack",name="stack"} 12
`
	got := controllerWork(before, after, 10, 1)
	require.Equal(t, ControllerWork{Reconciles: 10, RequeueAfter: 2, Busy: 0.5, SecondsPerReconcile: 0.5, QueueSeconds: 2}, got["stack"])
}

func TestWritesAtRest(t *testing.T) {
	quiet, noisy := Run{N: 10, Workers: 4, Ready: 10}, Run{N: 100, Workers: 10, Ready: 100}
	noisy.Idle.Writes = 295
	require.NoError(t, writesAtRest([]Run{quiet}), "a run kept from results.json is not judged again")
	require.ErrorContains(t, writesAtRest([]Run{quiet, noisy}), "295 writes while idle")
	partial := noisy
	partial.Ready = 90
	require.NoError(t, writesAtRest([]Run{partial}), "a run that did not converge had no idle window to speak of")
}
