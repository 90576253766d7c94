package manager

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestNewOperatorTouchesNothing: what an upgrade of the operator itself looks like to a running
// application. A Stack is Ready under one manager; that manager stops and a new one starts (as OLM
// replaces the Deployment). The new manager reconciles every object, and writes none: no
// resourceVersion of the Stack, its components or their workloads changes, so no pod restarts.
func TestNewOperatorTouchesNothing(t *testing.T) {
	e := testenv.Require(t, env)
	h := e.Harness(t)
	opts := Options{MetricsAddr: "0", ProbeAddr: "0", WatchNamespaces: []string{h.NS}}
	stopOld := startManager(t, opts)
	ctx := context.Background()
	stack := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "shop"}, Spec: canopyv1alpha1.StackSpec{
		Version:  "1.0",
		Frontend: canopyv1alpha1.StackFrontend{Image: "ghcr.io/acme/shop", Ingress: &componentsv1alpha1.IngressSpec{Host: "shop.example.com"}},
		Backup: &canopyv1alpha1.StackBackup{Schedule: "0 2 * * *", Destination: componentsv1alpha1.BackupDestination{
			Volume: &componentsv1alpha1.VolumeDestination{Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}}},
	}}
	require.NoError(t, h.C.Create(ctx, stack))
	h.Eventually(func() bool { return h.Get(&appsv1.StatefulSet{}, "shop-postgres") == nil }, "the StatefulSet exists")
	h.RunStatefulSetPod("shop-postgres")
	h.Eventually(func() bool { return h.Get(&appsv1.Deployment{}, "shop-web") == nil }, "the Deployment exists")
	h.RollOutDeployment("shop-web")
	h.Eventually(func() bool {
		s := &canopyv1alpha1.Stack{}
		return h.Get(s, "shop") == nil && conditions.IsTrue(s, componentsv1alpha1.ConditionReady) && s.Status.ObservedGeneration == s.Generation
	}, "the Stack is Ready")
	settledAt := settle(t, h)
	require.Never(t, func() bool { return !equalVersions(settledAt, versions(t, h)) }, 2*time.Second, 100*time.Millisecond,
		"at rest, none of the four controllers writes anything")
	stopOld()

	before := versions(t, h)
	reconciled := testenv.Reconciles(t)
	startManager(t, opts)
	h.Eventually(func() bool {
		now := testenv.Reconciles(t)
		for _, c := range []string{"stack", "database", "frontend", "backuppolicy"} {
			if now[c] <= reconciled[c] {
				return false
			}
		}
		return true
	}, "the new manager reconciles every kind")
	require.Never(t, func() bool { return !equalVersions(before, versions(t, h)) }, 3*time.Second, 100*time.Millisecond,
		"the new manager writes nothing")
	require.Equal(t, before, versions(t, h))
}

// versions maps every object of the test's namespace, of the kinds Canopy writes, to its
// resourceVersion.
func versions(t *testing.T, h *testenv.Harness) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, list := range []client.ObjectList{&canopyv1alpha1.StackList{}, &componentsv1alpha1.DatabaseList{}, &componentsv1alpha1.FrontendList{},
		&componentsv1alpha1.BackupPolicyList{}, &appsv1.StatefulSetList{}, &appsv1.DeploymentList{}, &corev1.ServiceList{}, &corev1.ConfigMapList{},
		&corev1.SecretList{}, &corev1.PersistentVolumeClaimList{}, &batchv1.CronJobList{}, &batchv1.JobList{}, &networkingv1.IngressList{},
		&networkingv1.NetworkPolicyList{}, &policyv1.PodDisruptionBudgetList{}, &autoscalingv2.HorizontalPodAutoscalerList{}} {
		require.NoError(t, h.C.List(context.Background(), list, client.InNamespace(h.NS)))
		items, err := meta.ExtractList(list)
		require.NoError(t, err)
		for _, item := range items {
			o := item.(client.Object)
			out[reflect.TypeOf(o).Elem().Name()+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	require.NotEmpty(t, out)
	return out
}

// settle waits until the namespace's objects stop changing (two reads a second apart agree) and
// returns their versions.
func settle(t *testing.T, h *testenv.Harness) map[string]string {
	t.Helper()
	var last map[string]string
	require.Eventually(t, func() bool {
		now := versions(t, h)
		stable := equalVersions(last, now)
		last = now
		return stable
	}, testenv.Wait, time.Second, "the objects settle")
	return last
}

func equalVersions(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
