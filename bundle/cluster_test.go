package bundle_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestRuleScopesMatchDiscovery: every rule in permissions names only namespaced resources and
// every rule in clusterPermissions only cluster-scoped ones (or non-resource URLs), as a real API
// server with Canopy's and its dependencies' CRDs reports them. OLM makes permissions Roles in the
// target namespaces; a cluster-scoped resource there would never be granted.
func TestRuleScopesMatchDiscovery(t *testing.T) {
	e := testenv.Require(t, env)
	dc, err := discovery.NewDiscoveryClientForConfig(e.Config)
	require.NoError(t, err)
	_, lists, err := dc.ServerGroupsAndResources()
	require.NoError(t, err)
	namespaced := map[string]bool{}
	for _, l := range lists {
		group, _, _ := strings.Cut(l.GroupVersion, "/")
		if !strings.Contains(l.GroupVersion, "/") {
			group = "" // core: "v1"
		}
		for _, r := range l.APIResources {
			namespaced[group+"/"+r.Name] = r.Namespaced
		}
	}
	check := func(rules []rbacv1.PolicyRule, want bool, list string) {
		t.Helper()
		for _, r := range rules {
			if len(r.NonResourceURLs) > 0 {
				require.False(t, want, "%s: non-resource URLs %v belong in clusterPermissions", list, r.NonResourceURLs)
				continue
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					// A subresource (stacks/status, or stacks/finalizers, which discovery does not
					// list) has the scope of its resource.
					base, _, _ := strings.Cut(res, "/")
					got, ok := namespaced[g+"/"+base]
					require.True(t, ok, "%s: %s/%s is not served by the API server", list, g, res)
					require.Equal(t, want, got, "%s: %s/%s namespaced=%v", list, g, res, got)
				}
			}
		}
	}
	s := loadCSV(t).Spec.InstallStrategy.StrategySpec
	for _, p := range s.Permissions {
		check(p.Rules, true, "permissions")
	}
	for _, p := range s.ClusterPermissions {
		check(p.Rules, false, "clusterPermissions")
	}
}

// TestExamplesAreAccepted: the API server accepts every alm-example as written (server-side
// dry run), so the console's "Create" forms start from valid objects.
func TestExamplesAreAccepted(t *testing.T) {
	e := testenv.Require(t, env)
	ns := e.Namespace(t)
	var examples []map[string]any
	require.NoError(t, json.Unmarshal([]byte(loadCSV(t).Annotations["alm-examples"]), &examples))
	for _, ex := range examples {
		u := &unstructured.Unstructured{Object: ex}
		u.SetNamespace(ns)
		require.NoError(t, e.Client.Create(context.Background(), u, client.DryRunAll), "the %s example", u.GetKind())
	}
}
