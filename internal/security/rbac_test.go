package security

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/canopy-dev/canopy/internal/testenv"
)

// use is what Canopy's manager does with one resource: the verbs, whether the resource is
// cluster-scoped, the Go identifier whose presence in the manager's code shows the resource is
// used at all, and for each verb beyond get, list and watch where the code exercises it (a file and
// a function or method it calls there).
type use struct {
	group, resource string
	verbs           []string
	cluster         bool
	uses            string            // "import/path.Name" referenced by the manager's code
	writes          map[string]string // verb -> "file:Call"
}

// Shorthands for the code that writes: server-side apply (apply.Ensure) creates and patches.
const (
	dbCtl    = "controllers/database/database_controller.go"
	feCtl    = "controllers/frontend/frontend_controller.go"
	bpCtl    = "controllers/backuppolicy/backuppolicy_controller.go"
	stackCtl = "controllers/stack/stack_controller.go"
	core     = "k8s.io/api/core/v1."
	comps    = "github.com/canopy-dev/canopy/apis/components/v1alpha1."
)

func applied(file string) map[string]string {
	return map[string]string{"create": file + ":Ensure", "patch": file + ":Ensure"}
}

func with(m map[string]string, verb, evidence string) map[string]string {
	m[verb] = evidence
	return m
}

var (
	read     = []string{"get", "list", "watch"}
	readSSA  = []string{"get", "list", "watch", "create", "patch"}
	readSSAD = []string{"get", "list", "watch", "create", "patch", "delete"}
)

// used is every right the manager needs: the markers (config/rbac/role.yaml) and the leader
// election Role (config/rbac/leader_election_role.yaml) must grant exactly this, the bundle and the
// namespaced install the same, and docs/security.md must say why for each row.
var used = []use{
	{"", "configmaps", readSSAD, false, core + "ConfigMap", with(applied(dbCtl), "delete", dbCtl+":Delete")},
	{"", "events", []string{"create", "patch"}, false, "k8s.io/client-go/tools/record.EventRecorder",
		map[string]string{"create": dbCtl + ":GetEventRecorderFor", "patch": dbCtl + ":GetEventRecorderFor"}},
	{"", "persistentvolumeclaims", readSSAD, false, core + "PersistentVolumeClaim", map[string]string{
		"create": bpCtl + ":Create", "patch": dbCtl + ":Patch", "delete": "controllers/database/dataclaims.go:Delete"}},
	{"", "pods", read, false, core + "Pod", nil},
	{"", "secrets", readSSA, false, core + "Secret", map[string]string{"create": "controllers/database/credentials.go:Create", "patch": dbCtl + ":Patch"}},
	{"", "services", readSSA, false, core + "Service", applied(feCtl)},
	{"apiextensions.k8s.io", "customresourcedefinitions", read, true,
		"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1.CustomResourceDefinition", nil},
	{"apps", "deployments", readSSA, false, "k8s.io/api/apps/v1.Deployment", applied(feCtl)},
	{"apps", "statefulsets", readSSAD, false, "k8s.io/api/apps/v1.StatefulSet",
		with(applied(dbCtl), "delete", "controllers/database/major.go:Delete")},
	{"authentication.k8s.io", "tokenreviews", []string{"create"}, true,
		"sigs.k8s.io/controller-runtime/pkg/metrics/filters.WithAuthenticationAndAuthorization",
		map[string]string{"create": "internal/manager/manager.go:WithAuthenticationAndAuthorization"}},
	{"authorization.k8s.io", "subjectaccessreviews", []string{"create"}, true,
		"sigs.k8s.io/controller-runtime/pkg/metrics/filters.WithAuthenticationAndAuthorization",
		map[string]string{"create": "internal/manager/manager.go:WithAuthenticationAndAuthorization"}},
	{"autoscaling", "horizontalpodautoscalers", readSSAD, false, "k8s.io/api/autoscaling/v2.HorizontalPodAutoscaler",
		with(applied(feCtl), "delete", feCtl+":DeleteControlled")},
	{"batch", "cronjobs", readSSAD, false, "k8s.io/api/batch/v1.CronJob", with(applied(bpCtl), "delete", bpCtl+":DeleteControlled")},
	{"batch", "jobs", readSSAD, false, "k8s.io/api/batch/v1.Job",
		map[string]string{"create": bpCtl + ":Create", "patch": bpCtl + ":Patch", "delete": bpCtl + ":Delete"}},
	{"canopy.dev", "stacks", []string{"get", "list", "watch", "patch"}, false,
		"github.com/canopy-dev/canopy/apis/canopy/v1alpha1.Stack", map[string]string{"patch": "internal/patch/finalizer.go:Patch"}},
	{"canopy.dev", "stacks/finalizers", []string{"update"}, false, "github.com/canopy-dev/canopy/apis/canopy/v1alpha1.Stack",
		map[string]string{"update": "internal/desired/stack/children.go:ControllerRef"}},
	{"canopy.dev", "stacks/status", []string{"patch"}, false, "github.com/canopy-dev/canopy/apis/canopy/v1alpha1.Stack",
		map[string]string{"patch": "internal/patch/status.go:Status"}},
	{"cert-manager.io", "certificates", readSSAD, false, "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1.Certificate",
		with(applied(dbCtl), "delete", dbCtl+":DeleteControlled")},
	{"cert-manager.io", "clusterissuers", []string{"get"}, true, "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1.ClusterIssuer", nil},
	{"cert-manager.io", "issuers", []string{"get"}, false, "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1.Issuer", nil},
	{"components.canopy.dev", "backuppolicies", readSSAD, false, comps + "BackupPolicy",
		with(applied(stackCtl), "delete", stackCtl+":Delete")},
	{"components.canopy.dev", "databases", readSSAD, false, comps + "Database",
		with(applied(stackCtl), "delete", "controllers/stack/stack_delete.go:Delete")},
	{"components.canopy.dev", "frontends", readSSAD, false, comps + "Frontend",
		with(applied(stackCtl), "delete", "controllers/stack/stack_delete.go:Delete")},
	{"components.canopy.dev", "backuppolicies/finalizers", []string{"update"}, false, comps + "BackupPolicy",
		map[string]string{"update": "internal/desired/backup/jobs.go:ControllerRef"}},
	{"components.canopy.dev", "databases/finalizers", []string{"update"}, false, comps + "Database",
		map[string]string{"update": "internal/desired/database/names.go:ControllerRef"}},
	{"components.canopy.dev", "frontends/finalizers", []string{"update"}, false, comps + "Frontend",
		map[string]string{"update": "internal/desired/frontend/names.go:ControllerRef"}},
	{"components.canopy.dev", "backuppolicies/status", []string{"patch"}, false, comps + "BackupPolicy",
		map[string]string{"patch": "internal/patch/status.go:Status"}},
	{"components.canopy.dev", "databases/status", []string{"patch"}, false, comps + "Database",
		map[string]string{"patch": "internal/patch/status.go:Status"}},
	{"components.canopy.dev", "frontends/status", []string{"patch"}, false, comps + "Frontend",
		map[string]string{"patch": "internal/patch/status.go:Status"}},
	{"coordination.k8s.io", "leases", []string{"get", "create", "update"}, false, "sigs.k8s.io/controller-runtime.Options",
		map[string]string{"create": "internal/manager/manager.go:LeaderElection", "update": "internal/manager/manager.go:LeaderElection"}},
	{"monitoring.coreos.com", "prometheusrules", readSSAD, false,
		"github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1.PrometheusRule",
		with(applied(dbCtl), "delete", dbCtl+":DeleteControlled")},
	{"monitoring.coreos.com", "servicemonitors", readSSAD, false,
		"github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1.ServiceMonitor",
		with(applied(feCtl), "delete", feCtl+":DeleteControlled")},
	{"networking.k8s.io", "ingresses", readSSAD, false, "k8s.io/api/networking/v1.Ingress", with(applied(feCtl), "delete", feCtl+":DeleteControlled")},
	{"networking.k8s.io", "networkpolicies", readSSA, false, "k8s.io/api/networking/v1.NetworkPolicy", applied(dbCtl)},
	{"policy", "poddisruptionbudgets", readSSAD, false, "k8s.io/api/policy/v1.PodDisruptionBudget",
		with(applied(dbCtl), "delete", feCtl+":DeleteControlled")},
	{"storage.k8s.io", "storageclasses", read, true, "k8s.io/api/storage/v1.StorageClass", nil},
}

// right is one verb on one resource ("group/resource verb", core group empty).
type right string

func rightsOf(rules []rbacv1.PolicyRule) (map[right]bool, error) {
	out := map[right]bool{}
	for _, r := range rules {
		if len(r.NonResourceURLs) > 0 || len(r.ResourceNames) > 0 {
			return nil, fmt.Errorf("unexpected rule %v: the manager's rules name neither URLs nor objects", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out[right(g+"/"+res+" "+v)] = true
				}
			}
		}
	}
	return out, nil
}

func usedRights(filter func(use) bool) map[right]bool {
	out := map[right]bool{}
	for _, u := range used {
		if filter != nil && !filter(u) {
			continue
		}
		for _, v := range u.verbs {
			out[right(u.group+"/"+u.resource+" "+v)] = true
		}
	}
	return out
}

// requireSame fails with the rights one side has and the other lacks.
func requireSame(t *testing.T, want, got map[right]bool, what string) {
	t.Helper()
	var extra, missing []string
	for r := range got {
		if !want[r] {
			extra = append(extra, string(r))
		}
	}
	for r := range want {
		if !got[r] {
			missing = append(missing, string(r))
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	require.Empty(t, extra, "%s grants rights Canopy does not use (remove the marker or rule, or add the use to the table in this test)", what)
	require.Empty(t, missing, "%s lacks rights Canopy uses", what)
}

func root(t *testing.T) string {
	t.Helper()
	r, err := testenv.RepoRoot()
	require.NoError(t, err)
	return r
}

// objects decodes every YAML document of the files under dir (recursively) into unstructured maps.
func objects(t *testing.T, dir string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var o map[string]any
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if o != nil {
				out[p] = append(out[p], o)
			}
		}
		return nil
	}))
	return out
}

func rulesOf(t *testing.T, path string, kind, name string) []rbacv1.PolicyRule {
	t.Helper()
	for _, o := range objects(t, filepath.Dir(path))[path] {
		if o["kind"] == kind && (name == "" || o["metadata"].(map[string]any)["name"] == name) {
			data, err := yaml.Marshal(o)
			require.NoError(t, err)
			var r rbacv1.ClusterRole // Role and ClusterRole share the rules field
			require.NoError(t, yaml.Unmarshal(data, &r))
			return r.Rules
		}
	}
	t.Fatalf("no %s %s in %s", kind, name, path)
	return nil
}

func csv(t *testing.T) *operatorsv1alpha1.ClusterServiceVersion {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), "bundle", "manifests", "canopy.clusterserviceversion.yaml"))
	require.NoError(t, err)
	var c operatorsv1alpha1.ClusterServiceVersion
	require.NoError(t, yaml.Unmarshal(data, &c))
	return &c
}

// wildcards returns the rules that use '*' for a group, resource, verb, URL or object name.
func wildcards(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, list := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.NonResourceURLs, r.ResourceNames} {
			if slices.ContainsFunc(list, func(v string) bool { return strings.Contains(v, "*") }) {
				out = append(out, r.String())
				break
			}
		}
	}
	return out
}

// TestNoWildcards: no rule Canopy ships (config/, the bundle) uses a wildcard.
func TestNoWildcards(t *testing.T) {
	require.NotEmpty(t, wildcards([]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"*"}}}),
		"the check finds a wildcard")
	n := 0
	for _, dir := range []string{"config", filepath.Join("bundle", "manifests")} {
		for p, objs := range objects(t, filepath.Join(root(t), dir)) {
			for _, o := range objs {
				if k := o["kind"]; k == "Role" || k == "ClusterRole" {
					n++
					require.Empty(t, wildcards(rulesOf(t, p, k.(string), o["metadata"].(map[string]any)["name"].(string))), p)
				}
			}
		}
	}
	require.GreaterOrEqual(t, n, 6, "the roles of config/rbac, config/namespaced and the bundle")
	c := csv(t)
	for _, p := range slices.Concat(c.Spec.InstallStrategy.StrategySpec.Permissions, c.Spec.InstallStrategy.StrategySpec.ClusterPermissions) {
		require.Empty(t, wildcards(p.Rules), "the CSV")
	}
}

// TestMarkersGrantWhatCanopyUses compares the generated ClusterRole and the leader election Role
// with the table of uses.
func TestMarkersGrantWhatCanopyUses(t *testing.T) {
	r := root(t)
	got, err := rightsOf(slices.Concat(
		rulesOf(t, filepath.Join(r, "config", "rbac", "role.yaml"), "ClusterRole", "manager-role"),
		rulesOf(t, filepath.Join(r, "config", "rbac", "leader_election_role.yaml"), "Role", "leader-election-role")))
	require.NoError(t, err)
	requireSame(t, usedRights(nil), got, "config/rbac (the +kubebuilder:rbac markers and leader_election_role.yaml)")
}

// TestBundleGrantsWhatCanopyUses: the CSV's permissions hold exactly the namespaced uses and its
// clusterPermissions exactly the cluster-scoped ones.
func TestBundleGrantsWhatCanopyUses(t *testing.T) {
	s := csv(t).Spec.InstallStrategy.StrategySpec
	var ns, cl []rbacv1.PolicyRule
	for _, p := range s.Permissions {
		ns = append(ns, p.Rules...)
	}
	for _, p := range s.ClusterPermissions {
		cl = append(cl, p.Rules...)
	}
	got, err := rightsOf(ns)
	require.NoError(t, err)
	requireSame(t, usedRights(func(u use) bool { return !u.cluster }), got, "the CSV's permissions")
	got, err = rightsOf(cl)
	require.NoError(t, err)
	requireSame(t, usedRights(func(u use) bool { return u.cluster }), got, "the CSV's clusterPermissions")
}

// TestNamespacedInstallUsesRoles: config/namespaced grants every namespaced right through the Role
// of the watched namespace, and its ClusterRole holds only cluster-scoped resources.
func TestNamespacedInstallUsesRoles(t *testing.T) {
	dir := filepath.Join(root(t), "config", "namespaced")
	role, err := rightsOf(rulesOf(t, filepath.Join(dir, "watched", "role.yaml"), "Role", ""))
	require.NoError(t, err)
	requireSame(t, usedRights(func(u use) bool { return !u.cluster && u.group != "coordination.k8s.io" }), role,
		"config/namespaced/watched/role.yaml")
	cluster, err := rightsOf(rulesOf(t, filepath.Join(dir, "operator", "cluster_role.yaml"), "ClusterRole", ""))
	require.NoError(t, err)
	requireSame(t, usedRights(func(u use) bool { return u.cluster }), cluster, "config/namespaced/operator/cluster_role.yaml")
	// No other ClusterRole of the overlay's own files grants anything to the manager.
	for p, objs := range objects(t, dir) {
		for _, o := range objs {
			if o["kind"] == "ClusterRole" {
				require.Equal(t, filepath.Join(dir, "operator", "cluster_role.yaml"), p)
			}
		}
	}
}

// TestEveryRightIsUsedByTheCode: each resource's Go type (or the function that uses it) is
// referenced by the manager's code (cmd/, controllers/, internal/ but the test helpers), and each
// write verb's evidence is a call or reference in the file the table names. A right whose use was
// removed fails here until its marker and table row go too.
func TestEveryRightIsUsedByTheCode(t *testing.T) {
	refs, perFile := scanCode(t, root(t))
	for _, u := range used {
		require.True(t, refs[u.uses], "%s/%s: the manager's code no longer references %s", u.group, u.resource, u.uses)
		for _, v := range u.verbs {
			if slices.Contains(read, v) {
				continue
			}
			ev, ok := u.writes[v]
			require.True(t, ok, "%s/%s %s: the table names no code that does it", u.group, u.resource, v)
			file, call, _ := strings.Cut(ev, ":")
			require.Contains(t, perFile[file], call, "%s/%s %s: %s no longer calls or references %s", u.group, u.resource, v, file, call)
		}
		for v := range u.writes {
			require.Contains(t, u.verbs, v, "%s/%s: evidence for %s, which is not granted", u.group, u.resource, v)
		}
	}
}

// scanCode parses the manager's non-test Go files and returns the qualified identifiers they
// reference ("import/path.Name") and, per file, the names they call or select.
func scanCode(t *testing.T, root string) (map[string]bool, map[string][]string) {
	t.Helper()
	refs := map[string]bool{}
	perFile := map[string][]string{}
	skip := []string{"internal/testenv", "internal/pgtest", "internal/golden", "internal/security"}
	for _, top := range []string{"cmd", "controllers", "internal"} {
		require.NoError(t, filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() {
				if slices.Contains(skip, filepath.ToSlash(rel)) || d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			imports := map[string]string{}
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				name := filepath.Base(path)
				if imp.Name != nil {
					name = imp.Name.Name
				}
				imports[name] = path
			}
			var names []string
			ast.Inspect(f, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					names = append(names, sel.Sel.Name)
					if x, ok := sel.X.(*ast.Ident); ok {
						if path, ok := imports[x.Name]; ok {
							refs[path+"."+sel.Sel.Name] = true
						}
					}
				}
				if call, ok := n.(*ast.CallExpr); ok {
					if id, ok := call.Fun.(*ast.Ident); ok {
						names = append(names, id.Name)
					}
				}
				return true
			})
			perFile[filepath.ToSlash(rel)] = names
			return nil
		}))
	}
	return refs, perFile
}

// TestEveryRuleIsInTheDocs: docs/security.md's RBAC table has one row per resource with exactly
// the verbs granted and a reason.
func TestEveryRuleIsInTheDocs(t *testing.T) {
	rows := docRows(t)
	documented := map[right]bool{}
	for key, row := range rows {
		require.NotEmpty(t, strings.TrimSpace(row.why), "docs/security.md: the row of %s says no reason", key)
		for _, v := range row.verbs {
			documented[right(key+" "+v)] = true
		}
	}
	requireSame(t, usedRights(nil), documented, "docs/security.md's RBAC table")
}

type docRow struct {
	verbs []string
	why   string
}

// docRows reads the table under "## RBAC" in docs/security.md: | group | resource | verbs | why |.
func docRows(t *testing.T) map[string]docRow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root(t), "docs", "security.md"))
	require.NoError(t, err)
	rows := map[string]docRow{}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = strings.HasPrefix(line, "## RBAC")
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		require.Len(t, cells, 4, "docs/security.md: RBAC row %q", line)
		unq := func(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
		group := unq(cells[0])
		if group == "core" {
			group = ""
		}
		var verbs []string
		for _, v := range strings.Split(cells[2], ",") {
			verbs = append(verbs, unq(v))
		}
		for _, res := range strings.Split(cells[1], ",") {
			key := group + "/" + unq(res)
			_, dup := rows[key]
			require.False(t, dup, "docs/security.md: %s has two rows", key)
			rows[key] = docRow{verbs: verbs, why: cells[3]}
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, rows, "docs/security.md has no RBAC table under a '## RBAC' heading")
	return rows
}
