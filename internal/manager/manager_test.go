package manager

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	// OpenShift's admission: setting blockOwnerDeletion needs update on the owner's finalizers, which
	// TestNamespacedInstallRights proves the manager's rights include.
	os.Exit(testenv.Main(m, &env, testenv.Options{AdmissionPlugins: []string{"OwnerReferencesPermissionEnforcement"}}))
}

// startManager runs a manager built by New until the test ends, or until the returned function
// stops it (as an operator upgrade or a crash would).
func startManager(t *testing.T, o Options) (stop func()) {
	t.Helper()
	o.skipNameValidation = true
	mgr, err := New(env.Config, o)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	t.Cleanup(stop)
	return stop
}

// objects returns one object of each kind. The component objects are named apart from the Stack's
// own children, which the stack controller creates.
func objects(ns string) []conditions.Object {
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
	return []conditions.Object{
		&canopyv1alpha1.Stack{ObjectMeta: meta("shop"), Spec: canopyv1alpha1.StackSpec{
			Version: "1.0.0", Frontend: canopyv1alpha1.StackFrontend{Image: "ghcr.io/acme/shop"}}},
		&componentsv1alpha1.Database{ObjectMeta: meta("standalone"), Spec: componentsv1alpha1.DatabaseSpec{Version: "17"}},
		&componentsv1alpha1.Frontend{ObjectMeta: meta("standalone"), Spec: componentsv1alpha1.FrontendSpec{
			Image: "ghcr.io/acme/shop", Version: "1.0.0"}},
		&componentsv1alpha1.BackupPolicy{ObjectMeta: meta("standalone"), Spec: componentsv1alpha1.BackupPolicySpec{
			DatabaseName: "shop", Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}}}},
	}
}

// TestControllersReportHonestStatus starts the real manager and checks that each of the four
// controllers reconciles its kind and reports truthfully that it is not Ready yet (no workload
// controllers run against envtest),
// that observedGeneration follows the spec, that the cache is scoped to the watched namespaces,
// and that a settled object is not written again.
func TestControllersReportHonestStatus(t *testing.T) {
	e := testenv.Require(t, env)
	watched, ignored := e.Namespace(t), e.Namespace(t)
	startManager(t, Options{MetricsAddr: "0", ProbeAddr: "0", WatchNamespaces: []string{watched}})
	ctx := context.Background()

	for _, obj := range objects(ignored) {
		require.NoError(t, e.Client.Create(ctx, obj))
	}
	for _, obj := range objects(watched) {
		require.NoError(t, e.Client.Create(ctx, obj))
	}
	// No workload controller runs here: the database and frontend controllers wait for their
	// StatefulSet and Deployment, the backup controller for its Database, the Stack for its
	// Database. None claims to be Ready.
	wantReason := map[string]string{
		"*v1alpha1.Stack": "Progressing", "*v1alpha1.Database": "Provisioning",
		"*v1alpha1.BackupPolicy": "WaitingForDatabase", "*v1alpha1.Frontend": "RollingOut",
	}
	for _, obj := range objects(watched) {
		kind := fmt.Sprintf("%T", obj)
		require.Eventually(t, func() bool {
			if err := e.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
				return false
			}
			c := conditions.Get(obj, componentsv1alpha1.ConditionReady)
			return c != nil && c.Reason == wantReason[kind]
		}, 30*time.Second, 50*time.Millisecond, "%s does not report %s", kind, wantReason[kind])
		ready := conditions.Get(obj, componentsv1alpha1.ConditionReady)
		require.Equal(t, metav1.ConditionFalse, ready.Status, "%s: no fake Ready", kind)
		require.NotEmpty(t, ready.Message, kind)
		require.True(t, conditions.IsTrue(obj, componentsv1alpha1.ConditionReconciling), "%s: waiting for its workload", kind)
		require.Equal(t, obj.GetGeneration(), observedGeneration(obj), kind)
	}

	// A spec change is observed; the status write that follows does not trigger another write.
	// The controllers may still be writing the Stack's status: the change is retried on conflicts.
	stack := &canopyv1alpha1.Stack{}
	testenv.Mutate(t, e.Client, client.ObjectKey{Namespace: watched, Name: "shop"}, func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} },
		false, func(s *canopyv1alpha1.Stack) { s.Spec.Version = "1.1.0" })
	require.NoError(t, e.Client.Get(ctx, client.ObjectKey{Namespace: watched, Name: "shop"}, stack))
	require.Eventually(t, func() bool {
		_ = e.Client.Get(ctx, client.ObjectKeyFromObject(stack), stack)
		return stack.Status.ObservedGeneration == stack.Generation
	}, 30*time.Second, 50*time.Millisecond)
	ready := meta.FindStatusCondition(stack.Status.Conditions, componentsv1alpha1.ConditionReady)
	require.Equal(t, stack.Generation, ready.ObservedGeneration)
	// Settled: no object of the four kinds is written again (a status write that triggered another
	// reconcile and another write would change a resourceVersion).
	settled := func() map[string]string {
		out := map[string]string{}
		for _, obj := range objects(watched) {
			if err := e.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err == nil {
				out[fmt.Sprintf("%T/%s", obj, obj.GetName())] = obj.GetResourceVersion()
			}
		}
		return out
	}
	var last map[string]string
	require.Eventually(t, func() bool {
		now := settled()
		stable := equalVersions(last, now)
		last = now
		return stable
	}, 30*time.Second, time.Second, "the objects settle")
	require.Never(t, func() bool { return !equalVersions(last, settled()) }, 2*time.Second, 100*time.Millisecond,
		"a settled object is not written again")

	// Objects outside the watched namespaces are never reconciled: the watched ones above were, and
	// the same controllers saw these first.
	for _, obj := range objects(ignored) {
		require.NoError(t, e.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj))
		require.Empty(t, obj.GetConditions(), "%T in an unwatched namespace was reconciled", obj)
	}
}

func observedGeneration(obj conditions.Object) int64 {
	switch o := obj.(type) {
	case *canopyv1alpha1.Stack:
		return o.Status.ObservedGeneration
	case *componentsv1alpha1.Database:
		return o.Status.ObservedGeneration
	case *componentsv1alpha1.Frontend:
		return o.Status.ObservedGeneration
	case *componentsv1alpha1.BackupPolicy:
		return o.Status.ObservedGeneration
	}
	return -1
}

// TestMetricsAreAuthorized checks the default metrics endpoint: HTTPS, and only callers that the
// API server authenticates and authorizes for GET /metrics get the metrics.
func TestMetricsAreAuthorized(t *testing.T) {
	e := testenv.Require(t, env)
	ctx := context.Background()
	addr := freeAddr(t)
	startManager(t, Options{MetricsAddr: addr, SecureMetrics: true, ProbeAddr: "0"})

	ns := e.Namespace(t)
	cs, err := kubernetes.NewForConfig(e.Config)
	require.NoError(t, err)
	reader := serviceAccountToken(t, cs, ns, "reader")
	stranger := serviceAccountToken(t, cs, ns, "stranger")
	// The role Canopy ships (config/rbac, and the bundle), under a name of this test's own.
	role := &rbacv1.ClusterRole{}
	data, err := os.ReadFile("../../config/rbac/metrics_reader_role.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(data, role))
	role.Name = "metrics-reader-" + ns
	require.NoError(t, e.Client.Create(ctx, role))
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "reader"}}}
	require.NoError(t, e.Client.Create(ctx, binding))
	t.Cleanup(func() { _ = e.Client.Delete(ctx, binding); _ = e.Client.Delete(ctx, role) })

	get := func(token string) int {
		// The endpoint serves a self-signed certificate; the test checks authorization, not trust.
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // self-signed test endpoint
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0
		}
		defer func() { _ = resp.Body.Close() }()
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return get(reader) == http.StatusOK }, 30*time.Second, 100*time.Millisecond,
		"an authorized service account reads the metrics")
	require.Equal(t, http.StatusUnauthorized, get(""), "anonymous callers are refused")
	require.Equal(t, http.StatusForbidden, get(stranger), "authenticated callers without RBAC are refused")
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func serviceAccountToken(t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	require.NoError(t, err)
	return tr.Status.Token
}

// TestManagerNamesItself: every request of a manager built by New carries Canopy's User-Agent,
// whatever the binary is called, so that audit logs (and the bench, which counts the manager's
// requests there) tell Canopy's requests from others'.
func TestManagerNamesItself(t *testing.T) {
	testenv.Require(t, env)
	var mu sync.Mutex
	agents := map[string]int{}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			mu.Lock()
			agents[req.Header.Get("User-Agent")]++
			mu.Unlock()
			return rt.RoundTrip(req)
		})
	})
	mgr, err := New(cfg, Options{MetricsAddr: "0", ProbeAddr: "0", skipNameValidation: true})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	require.True(t, mgr.GetCache().WaitForCacheSync(ctx))
	cancel()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, agents)
	for agent := range agents {
		require.True(t, strings.HasPrefix(agent, UserAgentName+"/"), "a request's User-Agent: %q", agent)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
