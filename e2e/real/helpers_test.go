//go:build realpods

package real

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/e2e/real/cluster"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// wait bounds each wait for something that really runs: image unpacking, initdb, probes.
const wait = 4 * time.Minute

func namespace(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("real-%d", time.Now().UnixNano()%1_000_000_000)
	require.NoError(t, c.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	t.Cleanup(func() {
		if t.Failed() {
			dumpPods(t, ns)
		}
		_ = c.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
	return ns
}

// newStack creates a Stack of the sample application on PostgreSQL 15, with the changes in mutate.
func newStack(t *testing.T, ns, name string, mutate ...func(*canopyv1alpha1.Stack)) *canopyv1alpha1.Stack {
	t.Helper()
	s := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: canopyv1alpha1.StackSpec{
		Version: appVersions[0],
		Frontend: canopyv1alpha1.StackFrontend{Image: cluster.SampleAppRepository, Replicas: ptr.To[int32](2), Port: 8080,
			Migration: &componentsv1alpha1.MigrationSpec{Command: []string{"/sample-app", "migrate"}},
			Probes:    &componentsv1alpha1.ProbesSpec{Readiness: &componentsv1alpha1.HTTPProbe{Path: "/healthz"}}},
		Database: canopyv1alpha1.StackDatabase{Version: "15", Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}},
	}}
	for _, m := range mutate {
		m(s)
	}
	require.NoError(t, c.Client.Create(context.Background(), s))
	return s
}

func withTLSAndMonitoring(s *canopyv1alpha1.Stack) {
	s.Spec.TLS = &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: cluster.SelfSignedIssuer, Kind: "ClusterIssuer"}}
	s.Spec.Monitoring = &componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true)}
}

func stack(t *testing.T, ns, name string) *canopyv1alpha1.Stack {
	t.Helper()
	s := &canopyv1alpha1.Stack{}
	require.NoError(t, c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s))
	return s
}

func waitReady(t *testing.T, ns, name, version string) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	ok := assertEventually(wait, 500*time.Millisecond, func() bool {
		s := &canopyv1alpha1.Stack{}
		if c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s) != nil {
			return false
		}
		if r := conditions.Get(s, componentsv1alpha1.ConditionReady); r != nil {
			last = r.Reason + ": " + r.Message
		}
		return conditions.IsTrue(s, componentsv1alpha1.ConditionReady) && s.Status.Version == version && s.Status.ObservedGeneration == s.Generation
	})
	require.True(t, ok, "Stack %s/%s Ready at %s; last Ready condition: %s", ns, name, version, last)
	return time.Since(start)
}

func assertEventually(timeout, tick time.Duration, f func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(tick)
	}
}

// get fetches url from the harness (inside the tier's network namespace, where ClusterIPs and
// pod addresses answer and cluster names resolve). A request that times out or gets a 5xx is
// asked again for up to a minute: on two cores shared by the parallel tests and other builds, a
// first query through a new pool can take seconds; what the answer must say is still checked.
func get(url string) (int, string, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		code, body, err := getOnce(url)
		if (err == nil && code < 500) || time.Now().After(deadline) {
			return code, body, err
		}
		time.Sleep(time.Second)
	}
}

func getOnce(url string) (int, string, error) {
	hc := &http.Client{Timeout: 15 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// post writes a note. The sample application's notes are idempotent (a note is its text), so a
// request that times out or gets a 5xx is sent again for up to a minute; each such answer is
// logged, so a slow or failing database stays visible.
func post(t *testing.T, url, body string) (int, string, error) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, answer, err := postOnce(url, body)
		if (err == nil && code < 500) || time.Now().After(deadline) {
			return code, answer, err
		}
		t.Logf("POST %s: %d %v %s; again", url, code, err, strings.TrimSpace(answer))
		time.Sleep(time.Second)
	}
}

func postOnce(url, body string) (int, string, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Post(url, "text/plain", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// dumpPods prints the pods of a failing test's namespace with their containers' states.
func dumpPods(t *testing.T, ns string) {
	t.Helper()
	pods := &corev1.PodList{}
	if err := c.Client.List(context.Background(), pods, client.InNamespace(ns)); err != nil {
		t.Logf("listing pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		var cs []string
		for _, s := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			state := "running"
			switch {
			case s.State.Waiting != nil:
				state = "waiting " + s.State.Waiting.Reason + " " + s.State.Waiting.Message
			case s.State.Terminated != nil:
				state = fmt.Sprintf("terminated %s exit %d %s", s.State.Terminated.Reason, s.State.Terminated.ExitCode, s.State.Terminated.Message)
			}
			cs = append(cs, fmt.Sprintf("%s(ready=%t restarts=%d %s)", s.Name, s.Ready, s.RestartCount, state))
		}
		t.Logf("pod %s: %s %v", p.Name, p.Status.Phase, cs)
	}
	events := &corev1.EventList{}
	if err := c.Client.List(context.Background(), events, client.InNamespace(ns)); err == nil {
		for _, e := range events.Items {
			if e.Type == corev1.EventTypeWarning {
				t.Logf("event %s %s: %s", e.InvolvedObject.Name, e.Reason, e.Message)
			}
		}
	}
}

func writeFile(name string, data []byte) error { return os.WriteFile(name, data, 0o600) }
