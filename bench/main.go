// Command bench measures what Canopy costs at 1 to 1,000 Stacks on the simulated cluster of the
// end-to-end tests, against the API server's own speed on the same objects (`make bench`; issue
// 18). It writes results.json, RESULTS.md and SVG plots into its folder and asserts no time.
//
// Settings come from the environment: BENCH_N (Stack counts, default 1,10,100,500,1000),
// BENCH_WORKERS (the manager's --max-concurrent-reconciles values, each run for every N; default
// the manager's default),
// BENCH_QPS and BENCH_BURST (the manager's client limits, the floor's too; default none),
// BENCH_IDLE (the at-rest window, default 60s), BENCH_RESTART (the window after a restart counted,
// default 30s), BENCH_BUMP (the fraction of Stacks upgraded, default 0.1; 0 skips it),
// BENCH_MERGE=1 (keep the runs of results.json not measured again), BENCH_RENDER_ONLY=1 (only render
// RESULTS.md and the plots from results.json).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/canopy-dev/canopy/e2e/cluster"
	"github.com/canopy-dev/canopy/internal/manager"
)

func main() {
	root := flag.String("root", "..", "the repository")
	out := flag.String("out", ".", "where results.json, RESULTS.md and the plots go")
	flag.Parse()
	if err := run(*root, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Printf("bench: %s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func run(root, out string) error {
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	if os.Getenv("BENCH_RENDER_ONLY") != "" {
		var res Results
		data, err := os.ReadFile(filepath.Join(out, "results.json"))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &res); err != nil {
			return err
		}
		return write(out, res, false)
	}
	settings, err := settingsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	log.SetLogger(logr.Discard())
	bins, err := cluster.FindBinaries(root)
	if err != nil {
		return err
	}
	bins.Canopy = filepath.Join(root, "bin", "canopy")
	if p := os.Getenv("CANOPY_BENCH_BINARY"); p != "" {
		bins.Canopy = p
	}
	res := Results{Revision: revision(root), Date: time.Now(), Settings: settings,
		Machine: Machine{Cores: runtime.NumCPU(), MemoryBytes: memTotal(), GoVersion: runtime.Version(), LoadStart: loadAvg()}}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir := filepath.Join(root, "bin", "bench")
	if d := os.Getenv("CANOPY_BENCH_DIR"); d != "" {
		dir = d
	}
	b := &bencher{root: root, dir: dir, bins: bins, settings: settings}
	if os.Getenv("BENCH_MERGE") != "" {
		// Keep the runs of results.json that this one does not measure again.
		var old Results
		data, err := os.ReadFile(filepath.Join(out, "results.json"))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, &old); err != nil {
			return err
		}
		res.Runs, res.Notes = keepOthers(old.Runs, settings), old.Notes
		res.Machine.LoadStart = old.Machine.LoadStart
		res.Settings.Ns, res.Settings.Workers = union(old.Settings.Ns, settings.Ns), union(old.Settings.Workers, settings.Workers)
	}
	var measured []Run // this invocation's runs: the kept ones were judged when measured
	for _, w := range settings.Workers {
		for _, n := range settings.Ns {
			if ctx.Err() != nil {
				break
			}
			logf("N=%d workers=%d: starting (load %.2f)", n, w, loadAvg())
			r := b.measure(ctx, n, w, n == settings.Ns[len(settings.Ns)-1])
			if r.Error != "" {
				logf("N=%d workers=%d: %s", n, w, r.Error)
			}
			res.Runs = append(res.Runs, r)
			measured = append(measured, r)
			res.Machine.LoadEnd = loadAvg()
			// Written after each run: a long run interrupted keeps what it measured.
			if err := write(out, res, true); err != nil {
				return err
			}
		}
	}
	for _, n := range b.notes {
		if !slices.Contains(res.Notes, n) {
			res.Notes = append(res.Notes, n)
		}
	}
	res.Machine.LoadEnd = loadAvg()
	if err := write(out, res, true); err != nil {
		return err
	}
	if err := writesAtRest(measured); err != nil {
		return err
	}
	return ctx.Err()
}

// writesAtRest fails a run that converged and then wrote while idle. Counts may be asserted, times
// never: Canopy promises zero writes at rest. Only this invocation's runs are judged: the runs
// kept from results.json (BENCH_MERGE) were measured by another build.
func writesAtRest(measured []Run) error {
	for _, r := range measured {
		if r.Ready == r.N && r.Idle.Writes > 0 {
			return fmt.Errorf("at N = %d with %d workers, %d writes while idle (want none)", r.N, r.Workers, r.Idle.Writes)
		}
	}
	return nil
}

func settingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{Ns: []int{1, 10, 100, 500, 1000}, Workers: []int{manager.DefaultMaxConcurrentReconciles}, FloorParallelismPerWorker: 4, IdleSeconds: 60,
		RestartWindowSeconds: 30, BumpFraction: 0.1, Sample: "config/samples/canopy_v1alpha1_stack.yaml",
		Nodes: "2 + N×8/1,000 fake nodes of 1,000 pods, 1,000 CPUs and 4 TiB each"}
	var err error
	if v := getenv("BENCH_N"); v != "" {
		if s.Ns, err = parseInts(v); err != nil {
			return s, fmt.Errorf("BENCH_N: %w", err)
		}
	}
	if v := getenv("BENCH_WORKERS"); v != "" {
		if s.Workers, err = parseInts(v); err != nil {
			return s, fmt.Errorf("BENCH_WORKERS: %w", err)
		}
	}
	if v := getenv("BENCH_QPS"); v != "" {
		if s.KubeAPIQPS, err = strconv.ParseFloat(v, 64); err != nil {
			return s, fmt.Errorf("BENCH_QPS: %w", err)
		}
	}
	if v := getenv("BENCH_BURST"); v != "" {
		if s.KubeAPIBurst, err = strconv.Atoi(v); err != nil {
			return s, fmt.Errorf("BENCH_BURST: %w", err)
		}
	}
	for _, d := range []struct {
		env string
		dst *float64
	}{{"BENCH_IDLE", &s.IdleSeconds}, {"BENCH_RESTART", &s.RestartWindowSeconds}} {
		if v := getenv(d.env); v != "" {
			dur, err := time.ParseDuration(v)
			if err != nil {
				return s, fmt.Errorf("%s: %w", d.env, err)
			}
			*d.dst = dur.Seconds()
		}
	}
	if v := getenv("BENCH_BUMP"); v != "" {
		if s.BumpFraction, err = strconv.ParseFloat(v, 64); err != nil {
			return s, fmt.Errorf("BENCH_BUMP: %w", err)
		}
	}
	return s, nil
}

func parseInts(v string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// keepOthers returns the runs that settings do not measure again.
func keepOthers(runs []Run, s Settings) []Run {
	var out []Run
	for _, r := range runs {
		if !slices.Contains(s.Ns, r.N) || !slices.Contains(s.Workers, r.Workers) {
			out = append(out, r)
		}
	}
	return out
}

func union(a, b []int) []int {
	out := append([]int(nil), a...)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}

// write stores results.json, and RESULTS.md and the plots unless only the JSON is wanted.
func write(out string, res Results, withJSON bool) error {
	if withJSON {
		data, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, "results.json"), append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(out, "RESULTS.md"))
	if err != nil {
		return err
	}
	if err := renderMarkdown(f, res); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	plots, err := renderPlots(res)
	if err != nil {
		return err
	}
	for name, svg := range plots {
		if err := os.WriteFile(filepath.Join(out, name), svg, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func revision(root string) string {
	rev, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	r := strings.TrimSpace(string(rev))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		r += "-dirty"
	}
	return r
}

func loadAvg() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func memTotal() uint64 {
	return procKB("/proc/meminfo", "MemTotal:")
}

// procKB reads a "Key: <n> kB" line of a /proc file, in bytes.
func procKB(path, key string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, key) {
			f := strings.Fields(line[len(key):])
			if len(f) > 0 {
				v, _ := strconv.ParseUint(f[0], 10, 64)
				return v * 1024
			}
		}
	}
	return 0
}
