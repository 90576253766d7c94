package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/canopy-dev/canopy/internal/manager"
)

// auditPolicy records every request at Metadata level once its response is complete (a watch
// only when it ends).
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
`

// managerAgent starts the user agent of Canopy's manager, whatever its binary's name.
const managerAgent = manager.UserAgentName + "/"

// window is a named span of time whose requests are counted.
type window struct {
	name     string
	from, to time.Time
}

type auditEvent struct {
	Received  time.Time `json:"requestReceivedTimestamp"`
	Verb      string    `json:"verb"`
	UserAgent string    `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

var writeVerbs = map[string]bool{"create": true, "update": true, "patch": true, "delete": true, "deletecollection": true}

// countAuditLogs counts the manager's requests in the audit log at path and in the files it was
// rotated to. kube-apiserver writes through lumberjack, which rotates at 100 MB when no
// --audit-log-maxsize is given (kwokctl gives none): at N = 500 and 1,000 the convergence window
// was in those files, and reading the current one alone counted nothing.
func countAuditLogs(path string, windows []window) (map[string]Requests, error) {
	rotated, err := filepath.Glob(filepath.Join(filepath.Dir(path), "audit-*.log"))
	if err != nil {
		return nil, err
	}
	var readers []io.Reader
	for _, name := range append(rotated, path) {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("the audit log: %w", err)
		}
		defer func() { _ = f.Close() }()
		readers = append(readers, f, strings.NewReader("\n")) // a file need not end its last line
	}
	return countRequests(io.MultiReader(readers...), windows)
}

// countRequests reads an audit log and counts the manager's requests received in each window.
func countRequests(r io.Reader, windows []window) (map[string]Requests, error) {
	out := map[string]Requests{}
	for _, w := range windows {
		out[w.name] = Requests{Seconds: w.to.Sub(w.from).Seconds(), ByVerbResource: map[string]int{}}
	}
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 1<<20), 16<<20)
	for s.Scan() {
		line := s.Bytes()
		if !strings.Contains(string(line), `"userAgent":"`+managerAgent) {
			continue
		}
		var ev auditEvent
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("the audit log: %w", err)
		}
		if !strings.HasPrefix(ev.UserAgent, managerAgent) {
			continue
		}
		for _, w := range windows {
			if ev.Received.Before(w.from) || !ev.Received.Before(w.to) {
				continue
			}
			req := out[w.name]
			req.add(ev)
			out[w.name] = req
		}
	}
	return out, s.Err()
}

func (r *Requests) add(ev auditEvent) {
	r.Total++
	if writeVerbs[ev.Verb] {
		r.Writes++
	}
	if ev.Verb == "get" {
		r.UncachedGets++
	}
	if ev.ResponseStatus != nil {
		switch ev.ResponseStatus.Code {
		case 404:
			r.NotFound++
		case 409:
			r.Conflicts++
		}
	}
	key := ev.Verb
	if ev.ObjectRef != nil && ev.ObjectRef.Resource != "" {
		key += " " + ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			key += "/" + ev.ObjectRef.Subresource
		}
	}
	if r.ByVerbResource == nil {
		r.ByVerbResource = map[string]int{}
	}
	r.ByVerbResource[key]++
}

// metricSum adds the values of the series of a Prometheus text exposition named name whose labels
// include every one of want (`controller="stack"`).
func metricSum(text, name string, want ...string) float64 {
	sum := 0.0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) || strings.HasPrefix(line, "#") {
			continue
		}
		rest := line[len(name):]
		labels := ""
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		case strings.HasPrefix(rest, " "):
		default:
			continue // a longer name
		}
		ok := true
		for _, w := range want {
			if !strings.Contains(","+labels+",", ","+w+",") {
				ok = false
			}
		}
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(rest), &v); err == nil {
			sum += v
		}
	}
	return sum
}

// metricByLabel sums a metric's series by the value of one label.
func metricByLabel(text, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		i := strings.Index(line, label+`="`)
		if i < 0 {
			continue
		}
		value := line[i+len(label)+2:]
		value = value[:strings.Index(value, `"`)]
		out[value] += metricSum(line, name, label+`="`+value+`"`)
	}
	return out
}

// controllerWork derives each controller's work in a window from two scrapes of the manager's
// metrics.
func controllerWork(before, after string, seconds float64, workers int) map[string]ControllerWork {
	delta := func(name, label string) map[string]float64 {
		was := metricByLabel(before, name, label)
		out := metricByLabel(after, name, label)
		for k := range out {
			out[k] -= was[k]
		}
		return out
	}
	reconciles := delta("controller_runtime_reconcile_total", "controller")
	work := delta("workqueue_work_duration_seconds_sum", "controller")
	queue := delta("workqueue_queue_duration_seconds_sum", "controller")
	adds := delta("workqueue_queue_duration_seconds_count", "controller")
	was := map[string]float64{}
	now := map[string]float64{}
	for _, ctrl := range []string{"stack", "database", "frontend", "backuppolicy"} {
		was[ctrl] = metricSum(before, "controller_runtime_reconcile_total", `controller="`+ctrl+`"`, `result="requeue_after"`)
		now[ctrl] = metricSum(after, "controller_runtime_reconcile_total", `controller="`+ctrl+`"`, `result="requeue_after"`)
	}
	out := map[string]ControllerWork{}
	for ctrl, n := range reconciles {
		if _, ok := now[ctrl]; !ok {
			continue
		}
		cw := ControllerWork{Reconciles: n, RequeueAfter: now[ctrl] - was[ctrl]}
		if seconds > 0 && workers > 0 {
			cw.Busy = work[ctrl] / seconds / float64(workers)
		}
		if n > 0 {
			cw.SecondsPerReconcile = work[ctrl] / n
		}
		if adds[ctrl] > 0 {
			cw.QueueSeconds = queue[ctrl] / adds[ctrl]
		}
		out[ctrl] = cw
	}
	return out
}
