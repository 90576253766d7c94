package manager

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/canopy-dev/canopy/internal/mgroptions"
)

func TestParseNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      []string
		wantErr   string
	}{
		{name: "empty means all", raw: "", want: nil},
		{name: "blanks only", raw: " , ,", want: nil},
		{name: "one", raw: "shop", want: []string{"shop"}},
		{name: "several trimmed sorted and deduplicated", raw: " b,a ,b,,c", want: []string{"a", "b", "c"}},
		{name: "invalid name", raw: "ok,Not_OK", wantErr: `invalid namespace "Not_OK"`},
		{name: "too long", raw: "a123456789012345678901234567890123456789012345678901234567890123", wantErr: "invalid namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNamespaces(tc.raw)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestOptionsDefaultsAndPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{name: "all namespaces by default", want: nil},
		{name: "WATCH_NAMESPACE from OLM", env: map[string]string{EnvWatchNamespace: "team-a,team-b"}, want: []string{"team-a", "team-b"}},
		{name: "flag wins over the environment", args: []string{"--watch-namespaces=team-c"},
			env: map[string]string{EnvWatchNamespace: "team-a"}, want: []string{"team-c"}},
		{name: "an explicitly empty flag means all namespaces", args: []string{"--watch-namespaces="},
			env: map[string]string{EnvWatchNamespace: "team-a"}, want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var o Options
			o.BindFlags(fs)
			require.NoError(t, fs.Parse(tc.args))
			require.NoError(t, o.Complete(fs, func(k string) string { return tc.env[k] }))
			require.Equal(t, tc.want, o.WatchNamespaces)
			require.Equal(t, ":8443", o.MetricsAddr)
			require.True(t, o.SecureMetrics, "metrics are served over HTTPS with authorization by default")
			require.True(t, o.LeaderElect)
			require.Equal(t, ":8081", o.ProbeAddr)
			require.Empty(t, ctrlOptions(o, nil).PprofBindAddress, "no profiles are served unless asked for")
		})
	}
}

func TestOptionsRejectInvalidNamespace(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var o Options
	o.BindFlags(fs)
	require.NoError(t, fs.Parse(nil))
	err := o.Complete(fs, func(string) string { return "UPPER" })
	require.ErrorContains(t, err, `invalid namespace "UPPER"`)
}

func TestCtrlOptionsScopeTheCache(t *testing.T) {
	o := ctrlOptions(Options{WatchNamespaces: []string{"a", "b"}, SecureMetrics: true, MetricsAddr: ":8443"}, nil)
	require.Len(t, o.Cache.DefaultNamespaces, 2)
	require.Contains(t, o.Cache.DefaultNamespaces, "a")
	require.NotNil(t, o.Metrics.FilterProvider, "secure metrics need the authentication/authorization filter")
	require.True(t, o.Metrics.SecureServing)

	all := ctrlOptions(Options{MetricsAddr: ":8080"}, nil)
	require.Nil(t, all.Cache.DefaultNamespaces, "no namespaces means a cluster-wide cache")
	for obj, by := range all.Cache.ByObject {
		require.Equal(t, mgroptions.ManagedSelector, by.Label, "%T is cached only for Canopy's objects", obj)
	}
	require.Len(t, all.Cache.ByObject, 13)
	require.Nil(t, all.Metrics.FilterProvider)
	require.Equal(t, mgroptions.ReconciliationTimeout, all.Controller.ReconciliationTimeout, "no reconcile holds a worker for good")
	require.Equal(t, "127.0.0.1:6060", ctrlOptions(Options{MetricsAddr: "0", PprofAddr: "127.0.0.1:6060"}, nil).PprofBindAddress)
}

func TestOptionsConcurrencyAndRateLimits(t *testing.T) {
	for _, tc := range []struct {
		name        string
		args        []string
		wantWorkers int
		// wantQPS and wantBurst are the rest config's after ApplyRateLimits on a config whose QPS
		// controller-runtime's GetConfig set to -1 (no client-side limit).
		wantQPS   float32
		wantBurst int
		wantErr   string
	}{
		{name: "defaults: four workers, no client-side limit", wantWorkers: 4, wantQPS: -1},
		{name: "one worker", args: []string{"--max-concurrent-reconciles=1"}, wantWorkers: 1, wantQPS: -1},
		{name: "QPS alone bursts to twice the QPS", args: []string{"--kube-api-qps=50"}, wantWorkers: 4, wantQPS: 50, wantBurst: 100},
		{name: "a fractional QPS bursts to at least one", args: []string{"--kube-api-qps=0.2"}, wantWorkers: 4, wantQPS: 0.2, wantBurst: 1},
		{name: "QPS and burst", args: []string{"--kube-api-qps=20", "--kube-api-burst=30"}, wantWorkers: 4, wantQPS: 20, wantBurst: 30},
		{name: "zero workers", args: []string{"--max-concurrent-reconciles=0"}, wantErr: "--max-concurrent-reconciles must be at least 1"},
		{name: "negative QPS", args: []string{"--kube-api-qps=-1"}, wantErr: "--kube-api-qps must not be negative"},
		{name: "negative burst", args: []string{"--kube-api-qps=5", "--kube-api-burst=-2"}, wantErr: "--kube-api-burst must not be negative"},
		{name: "burst without QPS", args: []string{"--kube-api-burst=10"}, wantErr: "--kube-api-burst needs --kube-api-qps"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var o Options
			o.BindFlags(fs)
			require.NoError(t, fs.Parse(tc.args))
			err := o.Complete(fs, func(string) string { return "" })
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantWorkers, o.MaxConcurrentReconciles)
			require.Equal(t, tc.wantWorkers, ctrlOptions(o, nil).Controller.MaxConcurrentReconciles, "every controller gets the workers")
			cfg := &rest.Config{QPS: -1}
			o.ApplyRateLimits(cfg)
			require.Equal(t, tc.wantQPS, cfg.QPS)
			require.Equal(t, tc.wantBurst, cfg.Burst)
		})
	}
}
