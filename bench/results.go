package main

import (
	"math"
	"sort"
	"time"
)

// Results is what one `make bench` measured: bench/results.json.
type Results struct {
	// Revision is the git revision of the tree measured (with "-dirty" when it had changes).
	Revision string    `json:"revision"`
	Date     time.Time `json:"date"`
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`
	Runs     []Run     `json:"runs"`
	// Notes say what could not be measured, and why.
	Notes []string `json:"notes,omitempty"`
}

// Machine describes the computer the run used.
type Machine struct {
	Cores       int     `json:"cores"`
	MemoryBytes uint64  `json:"memoryBytes"`
	GoVersion   string  `json:"goVersion"`
	LoadStart   float64 `json:"loadAverageAtStart"`
	LoadEnd     float64 `json:"loadAverageAtEnd"`
}

// Settings are the knobs of the run.
type Settings struct {
	Ns      []int `json:"ns"`
	Workers []int `json:"workers"`
	// KubeAPIQPS and KubeAPIBurst are the manager's client limits (0: none), which the floor's
	// client uses too.
	KubeAPIQPS   float64 `json:"kubeAPIQPS"`
	KubeAPIBurst int     `json:"kubeAPIBurst"`
	// FloorParallelismPerWorker times the workers is how many objects the floor applies at once:
	// Canopy has four controllers, each with that many workers.
	FloorParallelismPerWorker int     `json:"floorParallelismPerWorker"`
	IdleSeconds               float64 `json:"idleSeconds"`
	RestartWindowSeconds      float64 `json:"restartWindowSeconds"`
	BumpFraction              float64 `json:"bumpFraction"`
	Sample                    string  `json:"sample"`
	Nodes                     string  `json:"nodes"`
}

// Run is one N with one worker count, on a cluster of its own.
type Run struct {
	N       int     `json:"n"`
	Workers int     `json:"workers"`
	LoadAvg float64 `json:"loadAverageAtStart"`
	// Ready is how many of the N Stacks became Ready before the timeout.
	Ready int `json:"ready"`
	// ConvergeSeconds: from the first Stack's creation until all are Ready.
	ConvergeSeconds float64 `json:"convergeSeconds"`
	// StackSeconds is each Stack's creation to Ready (its Ready condition's transition time):
	// median, 95th percentile and maximum.
	StackSeconds Spread `json:"stackSeconds"`
	// ObjectsPerStack is the objects carrying Canopy's managed-by label in a Stack's namespace
	// once Ready (the Stack itself not counted).
	ObjectsPerStack float64  `json:"objectsPerStack"`
	Floor           Floor    `json:"floor"`
	Converge        Requests `json:"converge"`
	// Controllers is each controller's work while converging, from its workqueue metrics.
	Controllers map[string]ControllerWork `json:"controllers,omitempty"`
	Idle        Idle                      `json:"idle"`
	Memory      Memory                    `json:"memory"`
	HeapTop     []string                  `json:"heapTop,omitempty"`
	OneMore     *OneMore                  `json:"oneMore,omitempty"`
	Bump        *Bump                     `json:"bump,omitempty"`
	Restart     *Restart                  `json:"restart,omitempty"`
	Error       string                    `json:"error,omitempty"`
}

// Spread summarises durations in seconds.
type Spread struct {
	Median float64 `json:"median"`
	P95    float64 `json:"p95"`
	Max    float64 `json:"max"`
}

// Floor is the API server's own speed on the same objects: Canopy's children, applied
// server-side into fresh namespaces, until their workloads are ready.
type Floor struct {
	Objects int `json:"objects"`
	// ApplySeconds is until every object was applied; ReadySeconds until every Deployment and
	// StatefulSet was ready and every Job complete (both from the first apply).
	ApplySeconds float64 `json:"applySeconds"`
	ReadySeconds float64 `json:"readySeconds"`
	Parallelism  int     `json:"parallelism"`
	// ManagerRequests is what Canopy's manager asked meanwhile (it should ignore the floor).
	ManagerRequests int `json:"managerRequests"`
}

// Requests are the manager's requests in a window, from the API server's audit log.
type Requests struct {
	Seconds float64 `json:"seconds"`
	Total   int     `json:"total"`
	// Writes: create, update, patch, delete (Events included).
	Writes int `json:"writes"`
	// UncachedGets: every GET reaches the API server (the manager's cached reads never do).
	UncachedGets int `json:"uncachedGets"`
	NotFound     int `json:"notFound"`
	Conflicts    int `json:"conflicts"`
	// ByVerbResource counts by "verb resource[/subresource]", e.g. "patch stacks/status".
	ByVerbResource map[string]int `json:"byVerbResource"`
}

// ControllerWork is one controller's share of the convergence window.
type ControllerWork struct {
	Reconciles float64 `json:"reconciles"`
	// RequeueAfter counts the reconciles that asked to look again later.
	RequeueAfter float64 `json:"requeueAfter"`
	// Busy is the time its workers spent reconciling over the window times the workers (1: always
	// busy).
	Busy float64 `json:"busy"`
	// SecondsPerReconcile and QueueSeconds are the mean time of a reconcile and of a wait in the
	// queue.
	SecondsPerReconcile float64 `json:"secondsPerReconcile"`
	QueueSeconds        float64 `json:"queueSeconds"`
}

// Idle is the window after convergence in which nothing changes.
type Idle struct {
	Requests
	// Reconciles by controller in the window (controller_runtime_reconcile_total).
	Reconciles map[string]float64 `json:"reconciles"`
}

// Memory is the manager's, after convergence and the idle window.
type Memory struct {
	RSSBytes     uint64 `json:"rssBytes"`
	PeakRSSBytes uint64 `json:"peakRSSBytes"`
	// HeapAllocBytes and HeapInuseBytes are go_memstats_heap_alloc_bytes and
	// go_memstats_heap_inuse_bytes from the manager's /metrics.
	HeapAllocBytes uint64 `json:"heapAllocBytes"`
	HeapInuseBytes uint64 `json:"heapInuseBytes"`
}

// OneMore is one Stack created after the N converged and the idle window: its time to Ready
// against N = 1's tells whether a Stack's own latency grows with the Stacks already there.
type OneMore struct {
	Seconds  float64  `json:"seconds"`
	Requests Requests `json:"requests"`
}

// Bump is a version change on a fraction of the Stacks.
type Bump struct {
	Stacks     int      `json:"stacks"`
	Ready      int      `json:"ready"`
	Seconds    float64  `json:"seconds"`
	BackupJobs int      `json:"backupJobs"`
	Requests   Requests `json:"requests"`
}

// Restart is a manager killed and started again on converged Stacks.
type Restart struct {
	// SecondsToAllReconciled: from the start until the stack controller had reconciled N times.
	SecondsToAllReconciled float64  `json:"secondsToAllReconciled"`
	Requests               Requests `json:"requests"`
}

// spread summarises seconds.
func spread(values []float64) Spread {
	if len(values) == 0 {
		return Spread{}
	}
	v := append([]float64(nil), values...)
	sort.Float64s(v)
	return Spread{Median: quantile(v, 0.5), P95: quantile(v, 0.95), Max: v[len(v)-1]}
}

// quantile of sorted values, by the nearest rank.
func quantile(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// perStack divides a count by N.
func (r Run) perStack(count int) float64 {
	if r.N == 0 {
		return 0
	}
	return float64(count) / float64(r.N)
}

// FloorRatio is Canopy's convergence over the floor's, 0 when either is unknown.
func (r Run) FloorRatio() float64 {
	if r.Floor.ReadySeconds <= 0 || r.ConvergeSeconds <= 0 {
		return 0
	}
	return r.ConvergeSeconds / r.Floor.ReadySeconds
}

// RequestsPerObject is the manager's requests per Stack over the objects a Stack owns.
func (r Run) RequestsPerObject() float64 {
	if r.ObjectsPerStack == 0 {
		return 0
	}
	return r.perStack(r.Converge.Total) / r.ObjectsPerStack
}
