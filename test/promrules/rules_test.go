package promrules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// ruleFile is the part of a PrometheusRule object the rule engine needs.
type ruleFile struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []rule `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// shipped are the files holding every PrometheusRule Canopy creates or installs.
var shipped = []string{
	"../../internal/desired/database/testdata/prometheusrule.golden.yaml",
	"../../config/prometheus/prometheus_rule.yaml",
}

func loadRules(t *testing.T) map[string]rule {
	t.Helper()
	out := map[string]rule{}
	for _, path := range shipped {
		data, err := os.ReadFile(filepath.FromSlash(path))
		require.NoError(t, err)
		var f ruleFile
		require.NoError(t, yaml.UnmarshalStrict(data, &f), path)
		for _, g := range f.Spec.Groups {
			for _, r := range g.Rules {
				require.NotEmpty(t, r.Alert, "%s: only alerting rules are shipped", path)
				require.NotContains(t, out, r.Alert, "alert names are unique")
				require.True(t, strings.HasSuffix(r.Annotations["runbook_url"], "/"+r.Alert+".md"), "%s links its runbook", r.Alert)
				_, err := os.Stat(filepath.Join("../../docs/runbooks", r.Alert+".md"))
				require.NoError(t, err, "the runbook of %s exists", r.Alert)
				out[r.Alert] = r
			}
		}
	}
	return out
}

// scenario is a history of series (promqltest's load notation, one sample a minute from time 0) and, at given moments, whether the alert fires.
type scenario struct {
	name   string
	series []string
	at     map[time.Duration]bool
}

// step is the rule evaluation interval; scrape is the samples' interval in the series.
const (
	step   = time.Minute
	scrape = time.Minute
)

// firing evaluates the rule every step from 0 to the last moment asked about, as Prometheus' rule
// manager does, and reports at each asked moment whether an alert of the rule is firing.
func firing(t *testing.T, r rule, sc scenario) map[time.Duration]bool {
	t.Helper()
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
	require.NoError(t, err, "%s parses", r.Alert)
	hold := time.Duration(0)
	if r.For != "" {
		d, err := time.ParseDuration(r.For)
		require.NoError(t, err)
		hold = d
	}
	ar := rules.NewAlertingRule(r.Alert, expr, hold, 0, labels.FromMap(r.Labels), labels.FromMap(r.Annotations), labels.EmptyLabels(), "", true, nil)
	storage := promqltest.LoadedStorage(t, "load "+scrape.String()+"\n  "+strings.Join(sc.series, "\n  "))
	t.Cleanup(func() { _ = storage.Close() })
	engine := promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery)
	query := rules.EngineQueryFunc(engine, storage)

	var end time.Duration
	for at := range sc.at {
		end = max(end, at)
	}
	got := map[time.Duration]bool{}
	for ts := time.Duration(0); ts <= end; ts += step {
		_, err := ar.Eval(context.Background(), 0, time.Unix(0, 0).Add(ts), query, nil, 0)
		require.NoError(t, err, "%s evaluates at %s", r.Alert, ts)
		if _, asked := sc.at[ts]; asked {
			fires := false
			for _, a := range ar.ActiveAlerts() {
				fires = fires || a.State == rules.StateFiring
			}
			got[ts] = fires
		}
	}
	return got
}

// samples writes n samples of value v in promqltest's notation; "_" is no sample, and "stale" a
// staleness marker (what Prometheus writes when a scrape fails or a series leaves its target)
// followed by no sample.
func samples(v string, n int) string {
	switch v {
	case "_":
		return fmt.Sprintf("_x%d", n)
	case "stale":
		if n == 1 {
			return "stale"
		}
		return fmt.Sprintf("stale _x%d", n-1)
	}
	return fmt.Sprintf("%sx%d", v, n-1)
}

// n is how many samples cover d.
func n(d time.Duration) int { return int(d / scrape) }

// constant is a series with value v for d.
func constant(series string, v string, d time.Duration) string {
	return series + " " + samples(v, n(d))
}

func TestShippedAlertsFireWhenTheyMustAndOnlyThen(t *testing.T) {
	all := loadRules(t)
	cases := scenarios()
	var untested []string
	for name := range all {
		if len(cases[name]) == 0 {
			untested = append(untested, name)
		}
	}
	sort.Strings(untested)
	require.Empty(t, untested, "every shipped alert has scenarios")
	for name, scs := range cases {
		r, ok := all[name]
		require.True(t, ok, "scenarios for %s, an alert no file ships", name)
		fires, silent := false, false
		for _, sc := range scs {
			for _, want := range sc.at {
				fires, silent = fires || want, silent || !want
			}
			t.Run(name+"/"+sc.name, func(t *testing.T) {
				got := firing(t, r, sc)
				for at, want := range sc.at {
					require.Equal(t, want, got[at], "%s at %s: firing", name, at)
				}
			})
		}
		require.True(t, fires && silent, "%s is seen both firing and silent", name)
	}
}
