//go:build e2e

package olm

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	operatorsv2 "github.com/operator-framework/api/pkg/operators/v2"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
)

// nextVersion is the release the upgrade test publishes, generated from the tree by hack/gen-bundle.
const nextVersion = "0.2.0"

// generateNextBundle runs hack/gen-bundle on a copy of config/ whose release.yaml says
// nextVersion, replacing the current CSV, and returns the bundle folder.
func generateNextBundle(t *testing.T, current string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "config"), os.DirFS(filepath.Join(root, "config"))); err != nil {
		t.Fatal(err)
	}
	release := fmt.Sprintf("version: %s\ncreatedAt: \"2026-12-01T00:00:00Z\"\nreplaces: %s\n", nextVersion, current)
	if err := os.WriteFile(filepath.Join(dir, "config", "manifests", "release.yaml"), []byte(release), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "bundle")
	cmd := exec.Command("go", "run", "./hack/gen-bundle", "-root", dir, "-out", out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/gen-bundle for %s: %v\n%s", nextVersion, err, b)
	}
	return out
}

// upgradeable returns the Upgradeable condition OLM reads (status.conditions) of an
// OperatorCondition, or nil.
func upgradeable(ctx context.Context, name string) (*metav1.Condition, error) {
	oc := &operatorsv2.OperatorCondition{}
	if err := olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: name}, oc); err != nil {
		return nil, err
	}
	return meta.FindStatusCondition(oc.Status.Conditions, operatorsv2.Upgradeable), nil
}

// setUnschedulable cordons or uncordons every node.
func setUnschedulable(t *testing.T, ctx context.Context, on bool) {
	t.Helper()
	nodes := &corev1.NodeList{}
	must(t, olmc.List(ctx, nodes))
	for i := range nodes.Items {
		n := &nodes.Items[i]
		before := n.DeepCopy()
		n.Spec.Unschedulable = on
		must(t, olmc.Patch(ctx, n, client.MergeFrom(before)))
	}
}

// podUIDs lists the pods of the Stack's namespace by name.
func podUIDs(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	pods := &corev1.PodList{}
	must(t, olmc.List(ctx, pods, client.InNamespace(stackKey.Namespace)))
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = string(p.UID) + " " + p.Labels["pod-template-hash"] + p.Labels["controller-revision-hash"]
	}
	return out
}

// conditionNameEnv is OPERATOR_CONDITION_NAME in the manager Deployment OLM manages.
func conditionNameEnv(t *testing.T, ctx context.Context) string {
	t.Helper()
	dep := &appsv1.Deployment{}
	must(t, olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: managerDeployment}, dep))
	for _, ctr := range dep.Spec.Template.Spec.Containers {
		for _, e := range ctr.Env {
			if ctr.Name == "manager" && e.Name == "OPERATOR_CONDITION_NAME" {
				return e.Value
			}
		}
	}
	return ""
}

// testOperatorUpgrade publishes Canopy nextVersion while a Stack upgrade is in flight: the new CSV
// must wait (OperatorConditionNotUpgradeable) with the old one still Succeeded; once the Stack
// upgrade ends, OLM replaces the CSV, and the manager restarted with the new Deployment's
// environment takes over without restarting any of the Stack's pods.
func testOperatorUpgrade(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	current := canopyCSV(t)
	next := "canopy.v" + nextVersion
	nextBundle := generateNextBundle(t, current)

	// A Stack upgrade held in flight: with every node cordoned the new web pods stay Pending,
	// so the rollout, and with it the upgrade, cannot finish.
	setUnschedulable(t, ctx, true)
	t.Cleanup(func() { setUnschedulable(t, context.Background(), false) })
	stack := &canopyv1alpha1.Stack{}
	must(t, olmc.Get(ctx, stackKey, stack))
	before := stack.DeepCopy()
	stack.Spec.Version = "1.1.0"
	must(t, olmc.Patch(ctx, stack, client.MergeFrom(before)))
	poll(t, ctx, "Upgradeable=False on "+current, func() (bool, string) {
		cond, err := upgradeable(ctx, current)
		if err != nil || cond == nil {
			return false, fmt.Sprint(err)
		}
		return cond.Status == metav1.ConditionFalse, cond.Reason + ": " + cond.Message
	})
	cond, _ := upgradeable(ctx, current)
	t.Logf("OperatorCondition %s: Upgradeable=False %s: %s", current, cond.Reason, cond.Message)

	// Publish: a new opm serve with both releases, and the CatalogSource pointed at it (opm
	// loads its catalog once; a changed address makes OLM reconnect and list it again).
	channel := fmt.Sprintf("schema: olm.channel\npackage: canopy\nname: stable\nentries:\n  - name: %s\n  - name: %s\n    replaces: %s\n", current, next,
		current)
	cat := buildCatalog(t, []string{filepath.Join(root, "bundle"), nextBundle}, []byte(channel))
	c.StopProcess("opm-serve")
	addr := serveCatalog(t, "opm-serve-next", cat)
	cs := &operatorsv1alpha1.CatalogSource{}
	must(t, olmc.Get(ctx, client.ObjectKey{Namespace: catalogNamespace, Name: catalogSourceName}, cs))
	csBefore := cs.DeepCopy()
	cs.Spec.Address = addr
	must(t, olmc.Patch(ctx, cs, client.MergeFrom(csBefore)))
	published := time.Now()
	waitCatalogReady(t, ctx, addr)

	// The Subscription is Manual: approve the plan that installs next.
	sub := &operatorsv1alpha1.Subscription{}
	ip := &operatorsv1alpha1.InstallPlan{}
	poll(t, ctx, "an InstallPlan for "+next, func() (bool, string) {
		if err := olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: "canopy"}, sub); err != nil {
			return false, err.Error()
		}
		if sub.Status.InstallPlanRef == nil {
			return false, "no plan"
		}
		if err := olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: sub.Status.InstallPlanRef.Name}, ip); err != nil {
			return false, err.Error()
		}
		return slices.Contains(ip.Spec.ClusterServiceVersionNames, next), fmt.Sprintf("plan %s for %v, subscription state %s", ip.Name,
			ip.Spec.ClusterServiceVersionNames, sub.Status.State)
	})
	t.Logf("InstallPlan %s for %v %s after publishing", ip.Name, ip.Spec.ClusterServiceVersionNames, time.Since(published).Round(100*time.Millisecond))
	approved := ip.DeepCopy()
	approved.Spec.Approved = true
	must(t, olmc.Patch(ctx, approved, client.MergeFrom(ip)))

	csv := &operatorsv1alpha1.ClusterServiceVersion{}
	poll(t, ctx, next+" to wait for the gate", func() (bool, string) {
		if err := olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: next}, csv); err != nil {
			return false, err.Error()
		}
		return csv.Status.Reason == operatorsv1alpha1.CSVReasonOperatorConditionNotUpgradeable, fmt.Sprintf("%s %s %s", csv.Status.Phase, csv.Status.Reason,
			csv.Status.Message)
	})
	t.Logf("%s: %s %s: %s", next, csv.Status.Phase, csv.Status.Reason, csv.Status.Message)
	// Held, not just slow: a while later it still waits and the old CSV still runs.
	time.Sleep(3 * time.Second)
	must(t, olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: next}, csv))
	if csv.Status.Phase == operatorsv1alpha1.CSVPhaseSucceeded || csv.Status.Reason != operatorsv1alpha1.CSVReasonOperatorConditionNotUpgradeable {
		t.Fatalf("%s went on while the Stack upgrades: %s %s", next, csv.Status.Phase, csv.Status.Reason)
	}
	// The old CSV stays (phase Replacing: OLM marks it so once a successor exists) and its
	// Deployment is untouched: still the old CSV's OperatorCondition.
	old := &operatorsv1alpha1.ClusterServiceVersion{}
	must(t, olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: current}, old))
	if old.Status.Phase != operatorsv1alpha1.CSVPhaseSucceeded && old.Status.Phase != operatorsv1alpha1.CSVPhaseReplacing {
		t.Fatalf("%s is %s %s while %s waits", current, old.Status.Phase, old.Status.Reason, next)
	}
	if got := conditionNameEnv(t, ctx); got != current {
		t.Fatalf("the Deployment's OPERATOR_CONDITION_NAME is %q while %s waits, want %q", got, next, current)
	}
	t.Logf("%s: %s %s; the Deployment still runs it", current, old.Status.Phase, old.Status.Reason)

	// The Stack upgrade finishes; the gate opens; OLM replaces the CSV.
	setUnschedulable(t, ctx, false)
	released := time.Now()
	waitStackReady(t, ctx, "1.1.0")
	t.Logf("Stack upgrade to 1.1.0 done %s after uncordoning", time.Since(released).Round(100*time.Millisecond))
	poll(t, ctx, next+" to succeed and "+current+" to go", func() (bool, string) {
		if err := olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: next}, csv); err != nil {
			return false, err.Error()
		}
		err := olmc.Get(ctx, client.ObjectKey{Namespace: operatorsNamespace, Name: current}, old)
		return csv.Status.Phase == operatorsv1alpha1.CSVPhaseSucceeded && apierrors.IsNotFound(err),
			fmt.Sprintf("%s %s %s; %s: %v", csv.Status.Phase, csv.Status.Reason, csv.Status.Message, current, err)
	})
	t.Logf("%s Succeeded and %s deleted %s after the Stack was done", next, current, time.Since(released).Round(100*time.Millisecond))

	// The new operator: the manager restarted with the new Deployment's environment. It must take
	// over the Ready Stack without restarting any of its pods.
	pods := podUIDs(t, ctx)
	if !c.StopProcess("manager") {
		t.Fatal("no manager process to stop")
	}
	restarted := time.Now().Truncate(time.Second) // the audit log's timestamps have microseconds; be generous
	user, _ := runManagerAsServiceAccount(t, ctx, next)
	poll(t, ctx, "the new manager to set Upgradeable on "+next, func() (bool, string) {
		cond, err := upgradeable(ctx, next)
		if err != nil || cond == nil {
			return false, fmt.Sprint(err)
		}
		return cond.Status == metav1.ConditionTrue, cond.Reason
	})
	waitStackReady(t, ctx, "1.1.0")
	after := podUIDs(t, ctx)
	if fmt.Sprint(after) != fmt.Sprint(pods) {
		var diff []string
		for name, v := range pods {
			if after[name] != v {
				diff = append(diff, fmt.Sprintf("%s: %q -> %q", name, v, after[name]))
			}
		}
		for name := range after {
			if _, ok := pods[name]; !ok {
				diff = append(diff, name+": new")
			}
		}
		t.Fatalf("the new operator restarted the Stack's pods:\n  %s", strings.Join(diff, "\n  "))
	}
	t.Logf("%s took over; the Stack's %d pods kept their UIDs and template hashes", next, len(pods))
	// Its rights are the new CSV's: none of its requests was refused.
	if denied := deniedRequestsSince(t, user, restarted); len(denied) > 0 {
		t.Errorf("the API server refused %d requests of the manager of %s:\n  %s", len(denied), next, strings.Join(denied, "\n  "))
	}
}
