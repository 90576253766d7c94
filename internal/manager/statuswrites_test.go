package manager

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// statusWrite is one status write the manager sent, and whether it landed.
type statusWrite struct {
	resource string // stacks, databases, frontends, backuppolicies
	body     string
	landed   bool
}

// statusLog records the manager's requests: every status write, and when the last request was
// sent (to tell when the manager has settled).
type statusLog struct {
	http.RoundTripper
	mu     sync.Mutex
	writes []statusWrite
	last   time.Time
	// workers and depth are what the registry's gauges say before the manager starts: the
	// managers of earlier tests, stopped, shared its controllers' names and left their values.
	workers, depth float64
}

func (l *statusLog) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Get("watch") == "true" {
		return l.RoundTripper.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil && req.Method != http.MethodGet {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	resp, err := l.RoundTripper.RoundTrip(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = time.Now()
	if parts := strings.Split(req.URL.Path, "/"); req.Method != http.MethodGet && len(parts) > 3 && parts[len(parts)-1] == "status" {
		l.writes = append(l.writes, statusWrite{resource: parts[len(parts)-3], body: string(body),
			landed: err == nil && resp.StatusCode < http.StatusMultipleChoices})
	}
	return resp, err
}

// settle waits until the manager has sent no request for a while: the cascade of reconciles that
// the last change started is over.
func (l *statusLog) settle(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		l.mu.Lock()
		quiet := time.Since(l.last) > time.Second
		l.mu.Unlock()
		// A reconcile may be quiet for a while (waiting for PostgreSQL to answer): it must be over too.
		return quiet && gaugeSum(t, "controller_runtime_active_workers") == l.workers && gaugeSum(t, "workqueue_depth") == l.depth
	}, testenv.Wait, 50*time.Millisecond, "the manager settles")
}

// gaugeSum adds up every series of a gauge of controller-runtime's registry.
func gaugeSum(t *testing.T, name string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	require.NoError(t, err)
	var sum float64
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// landed counts the status writes that landed, per resource, and lists them.
func (l *statusLog) landed() (map[string]int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts, list := map[string]int{}, ""
	for _, w := range l.writes {
		if w.landed {
			counts[w.resource]++
			list += w.resource + ": " + w.body + "\n"
		}
	}
	return counts, list
}

// TestConvergenceStatusWrites brings the sample Stack (TLS from cert-manager, monitoring, backups,
// a migration) to Ready with the four controllers, the test playing cert-manager, the kubelet and
// Kubernetes' controllers one step at a time, and bounds the status writes that landed per kind:
// each is a request the API server pays for at every Stack's convergence (make bench). A step's
// status is written once, as the next pass would read it: no write only trades one "not yet" for
// another (a child created this pass, a Certificate or a Deployment just created, a migration Job
// just started). Between steps the manager settles, so the counts do not depend on watch timing.
func TestConvergenceStatusWrites(t *testing.T) {
	e := testenv.Require(t, env)
	h := e.Harness(t)
	ctx := context.Background()
	env.InstallOptionalCRDs(t, h.C)
	issuer := &certmanagerv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "canopy-selfsigned"},
		Spec: certmanagerv1.IssuerSpec{IssuerConfig: certmanagerv1.IssuerConfig{SelfSigned: &certmanagerv1.SelfSignedIssuer{}}}}
	require.NoError(t, h.C.Create(ctx, issuer))
	issuer.Status.Conditions = []certmanagerv1.IssuerCondition{{Type: certmanagerv1.IssuerConditionReady, Status: cmmeta.ConditionTrue, Reason: "IsReady"}}
	require.NoError(t, h.C.Status().Update(ctx, issuer))

	log := &statusLog{workers: gaugeSum(t, "controller_runtime_active_workers"), depth: gaugeSum(t, "workqueue_depth")}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { log.RoundTripper = rt; return log })
	mgr, err := New(cfg, Options{MetricsAddr: "0", ProbeAddr: "0", WatchNamespaces: []string{h.NS}, skipNameValidation: true})
	require.NoError(t, err)
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	data, err := os.ReadFile(filepath.Join("..", "..", "config", "samples", "canopy_v1alpha1_stack.yaml"))
	require.NoError(t, err)
	stack := &canopyv1alpha1.Stack{}
	require.NoError(t, yaml.Unmarshal(data, stack))
	stack.Namespace = h.NS
	require.NoError(t, h.C.Create(ctx, stack))
	h.Eventually(func() bool {
		s := &canopyv1alpha1.Stack{}
		return h.Get(s, stack.Name) == nil && conditions.Get(s, componentsv1alpha1.ConditionReady) != nil
	}, "the Stack reports")
	log.settle(t)
	deadline := time.Now().Add(2 * testenv.Wait)
	for steps := 0; ; {
		s := &canopyv1alpha1.Stack{}
		require.NoError(t, h.Get(s, stack.Name))
		if conditions.IsTrue(s, componentsv1alpha1.ConditionReady) && s.Status.Version == s.Spec.Version && s.Status.ObservedGeneration == s.Generation {
			break
		}
		require.True(t, time.Now().Before(deadline), "the Stack is Ready: %v", conditions.Get(s, componentsv1alpha1.ConditionReady))
		act := nextStep(t, h)
		if act == nil { // the manager is still at the last step
			time.Sleep(testenv.Tick)
			continue
		}
		steps++
		require.LessOrEqual(t, steps, 20, "the Stack is Ready within 20 steps")
		act()
		log.settle(t)
	}
	log.settle(t)

	counts, list := log.landed()
	t.Logf("status writes that landed: %v\n%s", counts, list)
	// One write per step each controller takes, and the Stack's mirror of each: a pass that creates a
	// child, a Certificate, a Deployment or a migration Job reports it as the next pass will read it.
	want := map[string]int{"stacks": 9, "databases": 5, "frontends": 3, "backuppolicies": 1}
	for resource, most := range want {
		require.LessOrEqual(t, counts[resource], most, "status writes of %s; those that landed:\n%s", resource, list)
	}
}

// nextStep returns the next thing cert-manager, the kubelet or a Kubernetes controller would do in
// the test's namespace, as one write, or nil when there is none.
func nextStep(t *testing.T, h *testenv.Harness) func() {
	t.Helper()
	ctx := context.Background()
	var certs certmanagerv1.CertificateList
	require.NoError(t, h.C.List(ctx, &certs, client.InNamespace(h.NS)))
	for _, c := range certs.Items {
		if len(c.Status.Conditions) > 0 {
			continue
		}
		return func() {
			var labels map[string]string
			if c.Spec.SecretTemplate != nil {
				labels = c.Spec.SecretTemplate.Labels
			}
			h.Issue(c.Spec.SecretName, labels, c.Spec.DNSNames)
			c.Status.Conditions = []certmanagerv1.CertificateCondition{{Type: certmanagerv1.CertificateConditionReady, Status: cmmeta.ConditionTrue,
				Reason: "Ready"}}
			require.NoError(t, h.C.Status().Update(ctx, &c))
		}
	}
	var stss appsv1.StatefulSetList
	require.NoError(t, h.C.List(ctx, &stss, client.InNamespace(h.NS)))
	for _, s := range stss.Items {
		if act := statefulSetStep(t, h, &s); act != nil {
			return act
		}
	}
	var jobs batchv1.JobList
	require.NoError(t, h.C.List(ctx, &jobs, client.InNamespace(h.NS)))
	for _, j := range jobs.Items {
		if j.Status.Succeeded == 0 {
			return func() { h.CompleteJob(j.Name, j.Spec.Template.Spec.Containers[0].Name, "") }
		}
	}
	var deps appsv1.DeploymentList
	require.NoError(t, h.C.List(ctx, &deps, client.InNamespace(h.NS)))
	for _, d := range deps.Items {
		if d.Status.ObservedGeneration != d.Generation || d.Status.ReadyReplicas == 0 {
			return func() { h.RollOutDeployment(d.Name) }
		}
	}
	return nil
}

// statefulSetStep plays a one-replica StatefulSet's pod as three steps: the pod is created, it
// becomes ready, the StatefulSet's status says so.
func statefulSetStep(t *testing.T, h *testenv.Harness, sts *appsv1.StatefulSet) func() {
	ctx := context.Background()
	pod := &corev1.Pod{}
	switch err := h.Get(pod, sts.Name+"-0"); {
	case apierrors.IsNotFound(err):
		return func() {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: sts.Name + "-0", Labels: sts.Spec.Template.Labels,
				Annotations: sts.Spec.Template.Annotations}, Spec: *sts.Spec.Template.Spec.DeepCopy()}
			for _, c := range sts.Spec.VolumeClaimTemplates {
				pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name + "-" + pod.Name}}})
			}
			require.NoError(t, h.C.Create(ctx, pod))
		}
	case err != nil:
		t.Fatalf("reading the pod of %s: %v", sts.Name, err)
	case len(pod.Status.Conditions) == 0:
		return func() {
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
			require.NoError(t, h.C.Status().Update(ctx, pod))
		}
	case sts.Status.ObservedGeneration != sts.Generation || sts.Status.ReadyReplicas == 0:
		return func() {
			testenv.Mutate(t, h.C, h.Key(sts.Name), func() *appsv1.StatefulSet { return &appsv1.StatefulSet{} }, true, func(s *appsv1.StatefulSet) {
				s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
					CurrentReplicas: 1, UpdatedReplicas: 1, CurrentRevision: "r", UpdateRevision: "r"}
			})
		}
	}
	return nil
}
