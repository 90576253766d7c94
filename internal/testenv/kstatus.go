package testenv

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// kstatusObject is a Canopy object with kstatus conditions and an observed generation.
type kstatusObject interface {
	client.Object
	GetConditions() []metav1.Condition
	GetObservedGeneration() int64
}

// listed is a list of one kind and its items once filled.
type listed struct {
	list  client.ObjectList
	items func() []kstatusObject
}

// KstatusViolations lists how the Canopy objects in namespace ns break the kstatus rules that
// tools such as kstatus, Flux and Argo CD read Canopy's status with:
//   - Ready is present once the controller reconciled the object (status.observedGeneration > 0);
//   - Reconciling and Stalled are never both True;
//   - Ready is not True while Stalled or Reconciling is;
//   - a True Ready is about the generation status.observedGeneration names, once there is one;
//   - neither a condition nor status.observedGeneration is about a generation the object does not
//     have yet.
func KstatusViolations(ctx context.Context, c client.Reader, ns string) ([]string, error) {
	var objs []kstatusObject
	stacks, dbs := &canopyv1alpha1.StackList{}, &componentsv1alpha1.DatabaseList{}
	fes, bps := &componentsv1alpha1.FrontendList{}, &componentsv1alpha1.BackupPolicyList{}
	lists := []listed{
		{stacks, func() []kstatusObject { return each(stacks.Items) }},
		{dbs, func() []kstatusObject { return each(dbs.Items) }},
		{fes, func() []kstatusObject { return each(fes.Items) }},
		{bps, func() []kstatusObject { return each(bps.Items) }},
	}
	for _, l := range lists {
		if err := c.List(ctx, l.list, client.InNamespace(ns)); err != nil {
			if meta.IsNoMatchError(err) {
				continue
			}
			return nil, err
		}
		objs = append(objs, l.items()...)
	}
	var out []string
	for _, o := range objs {
		out = append(out, KstatusRules(o)...)
	}
	return out, nil
}

func each[T any, P interface {
	*T
	kstatusObject
}](items []T) []kstatusObject {
	out := make([]kstatusObject, 0, len(items))
	for i := range items {
		out = append(out, P(&items[i]))
	}
	return out
}

// KstatusRules lists how one object breaks the rules KstatusViolations checks.
func KstatusRules(o kstatusObject) []string {
	conds := o.GetConditions()
	is := func(t string) bool { return meta.IsStatusConditionTrue(conds, t) }
	name := fmt.Sprintf("%T %s", o, o.GetName())
	var out []string
	ready := meta.FindStatusCondition(conds, componentsv1alpha1.ConditionReady)
	if ready == nil && o.GetObservedGeneration() > 0 {
		out = append(out, name+": Ready is missing on a reconciled object")
	}
	if is(componentsv1alpha1.ConditionReady) && is(componentsv1alpha1.ConditionReconciling) {
		out = append(out, name+": Ready is True while Reconciling is")
	}
	// A generation from the future is reported below, once.
	if is(componentsv1alpha1.ConditionReady) && o.GetObservedGeneration() > 0 && ready.ObservedGeneration != o.GetObservedGeneration() &&
		ready.ObservedGeneration <= o.GetGeneration() && o.GetObservedGeneration() <= o.GetGeneration() {
		out = append(out, fmt.Sprintf("%s: Ready is True for generation %d, status.observedGeneration is %d", name, ready.ObservedGeneration,
			o.GetObservedGeneration()))
	}
	if is(componentsv1alpha1.ConditionReconciling) && is(componentsv1alpha1.ConditionStalled) {
		out = append(out, name+": Reconciling and Stalled are both True")
	}
	if is(componentsv1alpha1.ConditionReady) && is(componentsv1alpha1.ConditionStalled) {
		out = append(out, name+": Ready is True while Stalled is")
	}
	for _, c := range conds {
		if c.ObservedGeneration > o.GetGeneration() {
			out = append(out, fmt.Sprintf("%s: condition %s is about generation %d, the object has %d", name, c.Type, c.ObservedGeneration, o.GetGeneration()))
		}
	}
	if g := o.GetObservedGeneration(); g > o.GetGeneration() {
		out = append(out, fmt.Sprintf("%s: status.observedGeneration %d is ahead of the object's generation %d", name, g, o.GetGeneration()))
	}
	return out
}

// checkKstatus fails the test when an object of its namespace breaks the kstatus rules.
func checkKstatus(t testing.TB, c client.Reader, ns string) {
	t.Helper()
	v, err := KstatusViolations(context.Background(), c, ns)
	if err != nil {
		t.Errorf("checking kstatus in %s: %v", ns, err)
		return
	}
	for _, s := range v {
		t.Errorf("kstatus: %s", s)
	}
}
