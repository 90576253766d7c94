// Package dashboard checks Canopy's Grafana dashboard (config/grafana/canopy-dashboard.json):
// every panel's query parses as PromQL, names only metrics that Canopy, controller-runtime, the
// PostgreSQL exporter, the kubelet or kube-state-metrics emit, and follows the Stack selector.
//
// It is a module of its own because Prometheus' parser brings Prometheus' dependencies, whose
// k8s.io versions must not reach Canopy's go.mod. `make test` runs it (cd test/dashboard && go test).
package dashboard

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

// root is the repository, two levels up from this package.
var root = filepath.Join("..", "..")

// exported are the metrics other programs emit that the dashboard may use.
var exported = []string{
	// controller-runtime, in Canopy's manager
	"controller_runtime_reconcile_errors_total",
	// the PostgreSQL exporter beside each database (internal/desired/database): the real-pods tier
	// scrapes it and requires these three (e2e/real/tls_monitoring_test.go, TestStackWithTLSMonitoringBackups)
	"pg_up", "pg_stat_activity_count", "pg_settings_max_connections",
	// Neither Canopy's nor the exporter's: the volume and web-tier panels need the kubelet (per
	// volume claim) and kube-state-metrics in the same Prometheus (docs/grafana.md, "What the
	// panels need").
	"kubelet_volume_stats_available_bytes", "kubelet_volume_stats_capacity_bytes", "kubelet_volume_stats_used_bytes",
	"kube_deployment_status_replicas", "kube_deployment_status_replicas_available", "kube_deployment_status_replicas_unavailable",
}

// allStacks are the metrics without a Stack's labels: their panels cover every Stack.
var allStacks = map[string]bool{
	"canopy_stack_upgrades_total": true, "canopy_stack_rollbacks_total": true, "canopy_frontend_rollbacks_total": true,
	"canopy_database_config_remediations_total": true, "canopy_drift_corrections_total": true,
	"controller_runtime_reconcile_errors_total": true,
}

// grafanaVars stand in for Grafana's variables so that a query parses as Prometheus gets it.
// $stack becomes a marker, to check that per-Stack queries follow the selector.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"${stack}", "STACKVAR", "$stack", "STACKVAR", "${namespace}", "ns", "$namespace", "ns")

type panel struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Regex string `json:"regex"`
		} `json:"list"`
	} `json:"templating"`
}

func load(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "config", "grafana", "canopy-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	return d
}

// known reads Canopy's metric names from internal/metrics (the Name of each counter and the first
// argument of each NewDesc, the collector's gauges), so a renamed metric fails this test rather
// than leaving an empty panel.
func known(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "internal", "metrics", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	declared := regexp.MustCompile(`(?:Name:\s*|prometheus\.NewDesc\(\s*)"(canopy_[a-z0-9_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range declared.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
	}
	if len(names) == 0 {
		t.Fatal("no canopy_ metric found in internal/metrics")
	}
	for _, n := range exported {
		names[n] = true
	}
	return names
}

// canopyLabels reads the label names Canopy's metrics declare in internal/metrics (every
// []string{...} there), so that a query selecting a Canopy series by a label it does not have
// (namespace instead of stack_namespace) fails.
func canopyLabels(t *testing.T) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "internal", "metrics", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	lists := regexp.MustCompile(`\[\]string\{([^}]*)\}`)
	quoted := regexp.MustCompile(`"([a-z_]+)"`)
	names := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lists.FindAllStringSubmatch(string(src), -1) {
			for _, q := range quoted.FindAllStringSubmatch(l[1], -1) {
				names[q[1]] = true
			}
		}
	}
	if !names["stack_namespace"] || !names["database_namespace"] {
		t.Fatalf("internal/metrics declares no stack_namespace or database_namespace label (found %v)", names)
	}
	return names
}

// flatten lists the panels, those inside collapsed rows included.
func flatten(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

func TestQueriesParseAndNameKnownMetrics(t *testing.T) {
	d := load(t)
	names := known(t)
	labels := canopyLabels(t)
	p := parser.NewParser(parser.Options{})
	queries := 0
	for _, pn := range flatten(d.Panels) {
		if pn.Type == "row" {
			continue
		}
		if len(pn.Targets) == 0 {
			t.Errorf("panel %q has no query", pn.Title)
		}
		if pn.Datasource == nil || pn.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not use the dashboard's data source variable", pn.Title)
		}
		for _, tg := range pn.Targets {
			queries++
			expr, err := p.ParseExpr(grafanaVars.Replace(tg.Expr))
			if err != nil {
				t.Errorf("panel %q: %q does not parse as PromQL: %v", pn.Title, tg.Expr, err)
				continue
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				vs, ok := n.(*parser.VectorSelector)
				if !ok {
					return nil
				}
				if !names[vs.Name] {
					t.Errorf("panel %q names %q, which neither Canopy (internal/metrics) nor the known exporters emit", pn.Title, vs.Name)
				}
				if strings.HasPrefix(vs.Name, "canopy_") {
					for _, m := range vs.LabelMatchers {
						if m.Name != "__name__" && !labels[m.Name] {
							t.Errorf("panel %q: %s selects by label %q, which internal/metrics does not declare", pn.Title, vs.String(), m.Name)
						}
					}
				}
				if allStacks[vs.Name] {
					return nil
				}
				followsStack := false
				for _, m := range vs.LabelMatchers {
					followsStack = followsStack || strings.Contains(m.Value, "STACKVAR")
				}
				if !followsStack {
					t.Errorf("panel %q: %s ignores the Stack selector ($stack)", pn.Title, vs.String())
				}
				return nil
			})
		}
	}
	if queries == 0 {
		t.Error("the dashboard has no query")
	}
}

// required are the panels issue #19 asks for, each with the metrics it must query: a panel
// renamed, dropped or querying something else fails here rather than in front of a user.
var required = []struct {
	title   string
	metrics []string
}{
	{"PostgreSQL up", []string{"pg_up"}},
	{"Connections against the maximum", []string{"pg_stat_activity_count", "pg_settings_max_connections"}},
	{"Data volume usage", []string{"kubelet_volume_stats_available_bytes", "kubelet_volume_stats_capacity_bytes"}},
	{"Last backup age", []string{"canopy_backup_last_success_timestamp_seconds"}},
	{"Last backup size", []string{"canopy_backup_last_size_bytes"}},
	{"Replicas", []string{"kube_deployment_status_replicas", "kube_deployment_status_replicas_available"}},
	{"Availability", []string{"kube_deployment_status_replicas_available", "kube_deployment_status_replicas"}},
	{"Upgrades and rollbacks", []string{"canopy_stack_upgrades_total", "canopy_stack_rollbacks_total", "canopy_frontend_rollbacks_total"}},
	{"Reconcile errors", []string{"controller_runtime_reconcile_errors_total"}},
	{"Drift corrections and remediations", []string{"canopy_drift_corrections_total", "canopy_database_config_remediations_total"}},
}

func TestRequiredPanels(t *testing.T) {
	d := load(t)
	p := parser.NewParser(parser.Options{})
	queried := map[string]map[string]bool{} // panel title → metric names its queries select
	for _, pn := range flatten(d.Panels) {
		for _, tg := range pn.Targets {
			expr, err := p.ParseExpr(grafanaVars.Replace(tg.Expr))
			if err != nil {
				continue // TestQueriesParseAndNameKnownMetrics reports it
			}
			parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
				if vs, ok := n.(*parser.VectorSelector); ok {
					if queried[pn.Title] == nil {
						queried[pn.Title] = map[string]bool{}
					}
					queried[pn.Title][vs.Name] = true
				}
				return nil
			})
		}
	}
	for _, r := range required {
		got, ok := queried[r.title]
		if !ok {
			t.Errorf("the dashboard has no panel %q with a query", r.title)
			continue
		}
		for _, m := range r.metrics {
			if !got[m] {
				t.Errorf("panel %q does not query %s", r.title, m)
			}
		}
	}
}

func TestStackSelector(t *testing.T) {
	d := load(t)
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	for name, typ := range map[string]string{"datasource": "datasource", "namespace": "query", "stack": "query"} {
		if vars[name] != typ {
			t.Errorf("the dashboard needs a %s variable %q (has %v)", typ, name, vars)
		}
	}
}

// TestNamedInTheCSV: OLM users learn of the dashboard from the operator's description.
func TestNamedInTheCSV(t *testing.T) {
	for _, f := range []string{
		filepath.Join(root, "config", "manifests", "bases", "canopy.clusterserviceversion.yaml"),
		filepath.Join(root, "bundle", "manifests", "canopy.clusterserviceversion.yaml"),
	} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "config/grafana/canopy-dashboard.json") {
			t.Errorf("%s does not mention config/grafana/canopy-dashboard.json", f)
		}
	}
}
