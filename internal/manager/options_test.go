package manager

import (
	"flag"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

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
}
