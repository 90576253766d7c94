//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	"github.com/canopy-dev/canopy/internal/manager"
	"github.com/canopy-dev/canopy/internal/scheme"
)

// managerAgent starts the User-Agent of the manager's requests.
const managerAgent = manager.UserAgentName + "/"

// auditMark is a place in the audit log; managerRequests counts the manager's requests after it.
type auditMark struct {
	path   string
	offset int64
}

func markAudit(t *testing.T) auditMark {
	t.Helper()
	path, err := c.AuditLog()
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err, "the suite's cluster writes an audit log")
	return auditMark{path: path, offset: st.Size()}
}

// managerRequests counts the manager's completed requests in namespace ns since m, all and writes
// (create, update, patch, delete), watches excluded; by lists "verb resource" → count. Other
// namespaces are left out: an earlier test's namespace, deleted at its end, is still being torn
// down by the manager meanwhile.
func (m auditMark) managerRequests(t *testing.T, ns string) (all, writes int, by map[string]int) {
	t.Helper()
	f, err := os.Open(m.path)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Seek(m.offset, io.SeekStart)
	require.NoError(t, err)
	by = map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var ev struct {
			Stage, Verb, UserAgent string
			ObjectRef              struct{ Resource, Subresource, Namespace string }
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Stage != "ResponseComplete" || !strings.HasPrefix(ev.UserAgent, managerAgent) || ev.Verb == "watch" ||
			ev.ObjectRef.Namespace != ns {
			continue
		}
		all++
		switch ev.Verb {
		case "create", "update", "patch", "delete", "deletecollection":
			writes++
		}
		r := ev.ObjectRef.Resource
		if ev.ObjectRef.Subresource != "" {
			r += "/" + ev.ObjectRef.Subresource
		}
		by[ev.Verb+" "+r]++
	}
	require.NoError(t, sc.Err())
	return all, writes, by
}

// specLoopWrites is how many times the other client rewrites the spec.
const specLoopWrites = 40

// TestFaultSpecRewrittenInLoop: another client rewrites a Stack's spec (an environment variable
// and the replicas) as fast as the API server takes it while Canopy reconciles. The last spec
// wins — the Deployment carries the last value, the Stack observed the last generation — and
// Canopy's requests meanwhile (counted in the audit log, from the first write until the Stack is
// Ready at the last generation) stay within a bound proportional to the writes; once Ready, the
// manager writes nothing more (no hot loop).
func TestFaultSpecRewrittenInLoop(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "loop", withBackups("0 2 1 1 *")) // yearly: the BackupPolicy and its CronJob exist, and never run here
	waitReady(t, ns, "loop", "1.0.0")
	time.Sleep(2 * time.Second) // the creation's own requests settle before the count starts

	// The other client is not throttled on its side (client-go's default is 5 requests a second).
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 1000, 1000
	other, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	require.NoError(t, err)
	mark := markAudit(t)
	start := time.Now()
	writes, conflicts := 0, 0
	for i := 1; i <= specLoopWrites; i++ {
		for {
			s := &canopyv1alpha1.Stack{}
			require.NoError(t, other.Get(ctx, client.ObjectKey{Namespace: ns, Name: "loop"}, s))
			s.Spec.Frontend.Env = []corev1.EnvVar{{Name: "LOOP", Value: fmt.Sprint(i)}}
			s.Spec.Frontend.Replicas = ptr.To(int32(2 + i%2))
			err := other.Update(ctx, s)
			if err == nil {
				writes++
				break
			}
			require.True(t, apierrors.IsConflict(err), "writing the spec: %v", err)
			conflicts++
		}
	}
	loop := time.Since(start)
	waitReady(t, ns, "loop", "1.0.0")
	converged := time.Since(start)
	all, mutating, by := mark.managerRequests(t, ns)
	t.Logf("%d spec writes (and %d conflicts) in %s; Ready at the last generation %s after the first; the manager's requests meanwhile: %d, %d of them writes",
		writes, conflicts, loop.Round(time.Millisecond), converged.Round(100*time.Millisecond), all, mutating)
	t.Logf("by verb and resource: %v", by)
	soak.add(func(f *soakFigures) { f.SpecWrites += writes; f.ManagerRequests += all })

	dep := &appsv1.Deployment{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "loop-web"}, dep))
	require.Equal(t, []corev1.EnvVar{{Name: "LOOP", Value: fmt.Sprint(specLoopWrites)}}, envOf(dep, "LOOP"), "the last spec wins")
	require.Equal(t, int32(2+specLoopWrites%2), *dep.Spec.Replicas, "the last spec wins")
	// A write causes at most one cascade: the Stack's reconcile patches the Frontend, whose
	// reconcile patches the Deployment, whose rollout (pods scaled 2↔3 and replaced) reports
	// status a few times, each read (one GET) and summarised (one status patch) by the Frontend
	// and then the Stack. Measured: 4–5 requests a write with this writer, 23 when each write
	// waits a second (every cascade runs in full). A hot loop grows with time, not with writes.
	require.Positive(t, all, "the manager's requests are in the audit log, found by their User-Agent")
	require.LessOrEqual(t, all, 25*writes, "the manager's requests stay proportional to the writes")

	// Once the rollout is over (the old pods gone), nothing changes: the manager must write nothing.
	require.Eventually(t, func() bool {
		if c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "loop-web"}, dep) != nil || dep.Status.ObservedGeneration != dep.Generation {
			return false
		}
		st := dep.Status
		return st.Replicas == *dep.Spec.Replicas && st.UpdatedReplicas == st.Replicas && st.AvailableReplicas == st.Replicas
	}, wait, 200*time.Millisecond, "the last rollout ends")
	time.Sleep(time.Second)
	quiet := markAudit(t)
	time.Sleep(5 * time.Second)
	_, after, byAfter := quiet.managerRequests(t, ns)
	require.Zero(t, after, "once Ready, the manager writes nothing: %v", byAfter)
}

// envOf is the container env of dep whose name is name.
func envOf(dep *appsv1.Deployment, name string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}
