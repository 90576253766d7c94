package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestNamespacedInstallRights runs the manager with exactly the rights of the namespaced install
// (config/namespaced): the generated Role in the watched namespace and the generated ClusterRole of
// cluster-scoped rules, bound to a ServiceAccount of another namespace, on an API server that
// authorizes with RBAC. A Stack with backups goes to Ready and through an upgrade with its
// pre-upgrade backup; then the negative controls: the ServiceAccount can do nothing with
// namespaced resources outside the watched namespace, and the ClusterRole names no namespaced
// resource.
func TestNamespacedInstallRights(t *testing.T) {
	e := testenv.Require(t, env)
	h := e.Harness(t)
	ctx := context.Background()
	operatorNS, otherNS := e.Namespace(t), e.Namespace(t)
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	read := func(rel string, obj any) {
		data, err := os.ReadFile(filepath.Join(root, "config", "namespaced", rel))
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(data, obj))
	}
	var role rbacv1.Role
	read("watched/role.yaml", &role)
	var clusterRole rbacv1.ClusterRole
	read("operator/cluster_role.yaml", &clusterRole)

	const sa = "canopy-controller-manager"
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: operatorNS, Name: sa}}
	role.Namespace = h.NS
	clusterRole.Name = "canopy-test-" + operatorNS // cluster-scoped: one per test
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNS, Name: sa}},
		&role,
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: role.Name}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}},
		&clusterRole,
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: clusterRole.Name}, Subjects: subjects,
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name}},
	} {
		require.NoError(t, e.Client.Create(ctx, obj))
	}
	t.Cleanup(func() {
		_ = e.Client.Delete(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: clusterRole.Name}})
		_ = e.Client.Delete(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: clusterRole.Name}})
	})
	asSA := rest.CopyConfig(e.Config)
	user := fmt.Sprintf("system:serviceaccount:%s:%s", operatorNS, sa)
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNS, "system:authenticated"}
	asSA.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}

	startManagerWith(t, asSA, Options{MetricsAddr: "0", ProbeAddr: "0", WatchNamespaces: []string{h.NS}})

	stack := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "shop"}, Spec: canopyv1alpha1.StackSpec{
		Version:  "1.0",
		Frontend: canopyv1alpha1.StackFrontend{Image: "ghcr.io/acme/shop"},
		Backup: &canopyv1alpha1.StackBackup{Schedule: "0 2 * * *", Destination: componentsv1alpha1.BackupDestination{
			Volume: &componentsv1alpha1.VolumeDestination{Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}}},
	}}
	require.NoError(t, h.C.Create(ctx, stack))
	h.Eventually(func() bool { return h.Get(&appsv1.StatefulSet{}, "shop-postgres") == nil }, "the StatefulSet exists")
	h.RunStatefulSetPod("shop-postgres")
	h.Eventually(func() bool { return h.Get(&appsv1.Deployment{}, "shop-web") == nil }, "the Deployment exists")
	h.RollOutDeployment("shop-web")
	h.Eventually(func() bool { return h.Get(&batchv1.CronJob{}, "shop-backup") == nil }, "the CronJob exists")
	waitReady := func(version string) {
		t.Helper()
		h.Eventually(func() bool {
			s := &canopyv1alpha1.Stack{}
			return h.Get(s, "shop") == nil && conditions.IsTrue(s, componentsv1alpha1.ConditionReady) && s.Status.Version == version &&
				s.Status.ObservedGeneration == s.Generation
		}, "the Stack is Ready at %s with the namespaced install's rights", version)
	}
	waitReady("1.0")

	testenv.Mutate(t, h.C, h.Key("shop"), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false, func(s *canopyv1alpha1.Stack) {
		s.Spec.Version = "2.0"
	})
	var backupJob string
	h.Eventually(func() bool {
		var jobs batchv1.JobList
		if h.C.List(ctx, &jobs, client.InNamespace(h.NS)) != nil {
			return false
		}
		for _, j := range jobs.Items {
			if strings.HasPrefix(j.Name, "shop-req-") {
				backupJob = j.Name
				return true
			}
		}
		return false
	}, "the pre-upgrade backup Job starts")
	done := time.Now().UTC().Truncate(time.Second)
	result, err := json.Marshal(agent.Result{Operation: agent.OperationBackup, Succeeded: true, Name: backupJob, SizeBytes: 4096, SHA256: "ab",
		Location: "pvc:///shop/" + backupJob + "/dump.pgc", DatabaseVersion: "17", AppVersion: "1.0", StartTime: done.Add(-time.Second),
		CompletionTime: done})
	require.NoError(t, err)
	h.CompleteJob(backupJob, "agent", string(result))
	dep := &appsv1.Deployment{}
	h.Eventually(func() bool {
		return h.Get(dep, "shop-web") == nil && dep.Spec.Template.Spec.Containers[0].Image == "ghcr.io/acme/shop:2.0"
	}, "the new version rolls out after the backup")
	h.RollOutDeployment("shop-web")
	waitReady("2.0")

	// Negative controls: RBAC is enforced, and nothing namespaced is granted outside h.NS.
	cs, err := kubernetes.NewForConfig(e.Config)
	require.NoError(t, err)
	allowed := func(ns, group, resource, verb string) bool {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups,
			ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Group: group, Resource: resource, Verb: verb}}}
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		require.NoError(t, err)
		return got.Status.Allowed
	}
	require.True(t, allowed(h.NS, "", "secrets", "get"), "the control: the Role works in the watched namespace")
	for _, rule := range role.Rules {
		for _, g := range rule.APIGroups {
			for _, r := range rule.Resources {
				for _, v := range rule.Verbs {
					require.False(t, allowed(otherNS, g, r, v), "%s %s.%s is granted outside the watched namespace", v, r, g)
					require.False(t, allowed("", g, r, v), "%s %s.%s is granted cluster-wide", v, r, g)
				}
			}
		}
	}
}

// startManagerWith is startManager with the manager's own rest config (an impersonated user).
func startManagerWith(t *testing.T, cfg *rest.Config, o Options) {
	t.Helper()
	o.skipNameValidation = true
	mgr, err := New(cfg, o)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	})
}
