//go:build e2e

package olm

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// catalogSourceName is the test's CatalogSource in catalogNamespace.
const catalogSourceName = "canopy-test"

// waitCatalogReady waits until the CatalogSource is connected to addr.
func waitCatalogReady(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	cs := &operatorsv1alpha1.CatalogSource{}
	poll(t, ctx, "the CatalogSource to connect to "+addr, func() (bool, string) {
		if err := olmc.Get(ctx, client.ObjectKey{Namespace: catalogNamespace, Name: catalogSourceName}, cs); err != nil {
			return false, err.Error()
		}
		st := cs.Status.GRPCConnectionState
		if st == nil {
			return false, "no connection state"
		}
		return st.Address == addr && st.LastObservedState == "READY", st.Address + " " + st.LastObservedState
	})
}

// canopyCSV is the CSV the Subscription must end with: the one in bundle/.
func canopyCSV(t *testing.T) string {
	t.Helper()
	var csv struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	data := readFile(t, filepath.Join(root, "bundle", "manifests", "canopy.clusterserviceversion.yaml"))
	if err := yaml.Unmarshal(data, &csv); err != nil || csv.Metadata.Name == "" {
		t.Fatalf("reading the CSV's name: %v", err)
	}
	return csv.Metadata.Name
}

// TestOLMInstall subscribes to Canopy alone and checks that OLM resolves Canopy's API
// dependencies from the catalog to the stand-in bundles, plans all three inline (no bundle unpack
// Job), and that the three CSVs reach Succeeded.
func TestOLMInstall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	want := []string{canopyCSV(t)}
	for _, s := range standIns {
		want = append(want, s.csvName())
	}
	slices.Sort(want)

	cat := buildCatalog(t, []string{filepath.Join(root, "bundle")}, readFile(t, filepath.Join(root, "catalog", "canopy", "channel.yaml")))
	addr := serveCatalog(t, "opm-serve", cat)
	t.Logf("catalog built and opm serving it on %s in %s", addr, time.Since(start).Round(100*time.Millisecond))

	cs := &operatorsv1alpha1.CatalogSource{ObjectMeta: metav1.ObjectMeta{Namespace: catalogNamespace, Name: catalogSourceName},
		Spec: operatorsv1alpha1.CatalogSourceSpec{SourceType: operatorsv1alpha1.SourceTypeGrpc, Address: addr,
			DisplayName: "Canopy and stand-ins (test)", Publisher: "Canopy's tests"}}
	must(t, olmc.Create(ctx, cs))
	step := time.Now()
	waitCatalogReady(t, ctx, addr)
	t.Logf("CatalogSource READY in %s", time.Since(step).Round(100*time.Millisecond))

	// Manual approval: the plan is inspected before anything is installed.
	sub := &operatorsv1alpha1.Subscription{ObjectMeta: metav1.ObjectMeta{Namespace: operatorsNamespace, Name: "canopy"},
		Spec: &operatorsv1alpha1.SubscriptionSpec{CatalogSource: cs.Name, CatalogSourceNamespace: cs.Namespace,
			Package: "canopy", Channel: "stable", InstallPlanApproval: operatorsv1alpha1.ApprovalManual}}
	must(t, olmc.Create(ctx, sub))
	step = time.Now()
	ip := &operatorsv1alpha1.InstallPlan{}
	poll(t, ctx, "an InstallPlan for the Subscription", func() (bool, string) {
		if err := olmc.Get(ctx, client.ObjectKeyFromObject(sub), sub); err != nil {
			return false, err.Error()
		}
		if sub.Status.InstallPlanRef == nil {
			return false, conditionsOf(sub.Status.Conditions)
		}
		if err := olmc.Get(ctx, client.ObjectKey{Namespace: sub.Status.InstallPlanRef.Namespace, Name: sub.Status.InstallPlanRef.Name}, ip); err != nil {
			return false, err.Error()
		}
		return ip.Status.Phase == operatorsv1alpha1.InstallPlanPhaseRequiresApproval, string(ip.Status.Phase)
	})
	resolved := time.Since(step)
	names := slices.Clone(ip.Spec.ClusterServiceVersionNames)
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Fatalf("the InstallPlan installs %v, want %v (Canopy and the stand-ins that provide its required APIs)", names, want)
	}
	if len(ip.Status.BundleLookups) > 0 {
		t.Fatalf("the InstallPlan unpacks %d bundles with Jobs (no container runs here): the catalog's bundles must be inline", len(ip.Status.BundleLookups))
	}
	size, err := json.Marshal(ip)
	must(t, err)
	kinds := map[string]int{}
	for _, s := range ip.Status.Plan {
		kinds[s.Resource.Kind]++
	}
	t.Logf("InstallPlan %s: resolved in %s, %d steps %v, %d bytes serialized (etcd's default request limit is 1.5 MiB)",
		ip.Name, resolved.Round(100*time.Millisecond), len(ip.Status.Plan), kinds, len(size))
	if len(size) > 1<<20 {
		t.Errorf("the InstallPlan is %d bytes: close to etcd's 1.5 MiB request limit", len(size))
	}

	// A merge patch without resourceVersion: the catalog operator keeps updating the plan's status.
	approved := ip.DeepCopy()
	approved.Spec.Approved = true
	must(t, olmc.Patch(ctx, approved, client.MergeFrom(ip)))
	step = time.Now()
	poll(t, ctx, "the InstallPlan to complete", func() (bool, string) {
		if err := olmc.Get(ctx, client.ObjectKeyFromObject(ip), ip); err != nil {
			return false, err.Error()
		}
		if ip.Status.Phase == operatorsv1alpha1.InstallPlanPhaseFailed {
			t.Fatalf("the InstallPlan failed: %s", conditionsOfPlan(ip))
		}
		return ip.Status.Phase == operatorsv1alpha1.InstallPlanPhaseComplete, string(ip.Status.Phase)
	})
	t.Logf("InstallPlan Complete in %s", time.Since(step).Round(100*time.Millisecond))

	for _, name := range want {
		csv := &operatorsv1alpha1.ClusterServiceVersion{}
		poll(t, ctx, "CSV "+name+" to succeed", func() (bool, string) {
			if err := olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: name}, csv); err != nil {
				return false, err.Error()
			}
			if csv.Status.Phase == operatorsv1alpha1.CSVPhaseFailed {
				t.Fatalf("CSV %s failed: %s: %s", name, csv.Status.Reason, csv.Status.Message)
			}
			return csv.Status.Phase == operatorsv1alpha1.CSVPhaseSucceeded, fmt.Sprintf("%s %s %s", csv.Status.Phase, csv.Status.Reason, csv.Status.Message)
		})
	}
	t.Logf("CSVs %v Succeeded %s after the approval; %s from the catalog's build", want,
		time.Since(step).Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))

	// OLM subscribed the operators namespace to each dependency it resolved.
	subs := &operatorsv1alpha1.SubscriptionList{}
	must(t, olmc.List(ctx, subs, client.InNamespace(operatorsNamespace)))
	var pkgs []string
	for _, s := range subs.Items {
		pkgs = append(pkgs, s.Spec.Package)
	}
	slices.Sort(pkgs)
	if wantPkgs := []string{"canopy", "stand-in-cert-manager", "stand-in-prometheus-operator"}; !slices.Equal(pkgs, wantPkgs) {
		t.Errorf("Subscriptions in %s are for %v, want %v", operatorsNamespace, pkgs, wantPkgs)
	}

	// The manager's own monitoring ships in the bundle (docs/monitoring.md).
	for _, o := range []struct {
		name string
		obj  client.Object
	}{{"canopy-controller-manager-metrics-monitor", &monitoringv1.ServiceMonitor{}}, {"canopy-controller-manager-rules", &monitoringv1.PrometheusRule{}}} {
		if err := olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: o.name}, o.obj); err != nil {
			t.Errorf("the bundle's %T %s: %v", o.obj, o.name, err)
		}
	}

	if !t.Run("Stack as the ServiceAccount", testStackAsServiceAccount) {
		return
	}
	t.Run("operator upgrade held by the gate", testOperatorUpgrade)
}

func poll(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		ok, state := cond()
		last = state
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v; last state: %s", what, err, last)
	}
}

func conditionsOf(conds []operatorsv1alpha1.SubscriptionCondition) string {
	var out []string
	for _, c := range conds {
		out = append(out, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(out, "; ")
}

func conditionsOfPlan(ip *operatorsv1alpha1.InstallPlan) string {
	var out []string
	for _, c := range ip.Status.Conditions {
		out = append(out, fmt.Sprintf("%s=%s %s: %s", c.Type, c.Status, c.Reason, c.Message))
	}
	return strings.Join(out, "; ")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
