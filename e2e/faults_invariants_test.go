//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/scheme"
)

// The invariants every fault must keep, checked after each fault once the Stack converged:
// one Job per request (a watch sees every Job ever created, so a duplicate pruned later still
// counts), one catalogue entry per request, every catalogued backup and every claim seen so far
// still there, and no object of Canopy's left without its owner.

// jobRecorder watches a namespace's Jobs and remembers the UIDs created for each request.
type jobRecorder struct {
	mu   sync.Mutex
	uids map[string]map[string]bool // request key → Job UIDs
	// allowed are the Jobs a test knows run again, by key: how many there may be.
	allowed map[string]int
	stop    context.CancelFunc
}

// allow lets the Jobs of key be n: a test that deleted the record of a Job knows it runs again.
func (r *jobRecorder) allow(key string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.allowed[key] = n
}

// jobKey is what one Job is for: a backup request (or a scheduled run), a migration's version, a
// restore request (its Job's name is derived from the id); each of one Stack.
func jobKey(j *batchv1.Job) string {
	stack := j.Labels["app.kubernetes.io/instance"] + "/"
	switch {
	case j.Labels["canopy.dev/migration"] == "true":
		return stack + "migration/" + j.Labels["app.kubernetes.io/version"]
	case j.Labels["canopy.dev/restore"] != "":
		return stack + "restore/" + j.Name
	case j.Annotations["canopy.dev/backup-request"] != "":
		return stack + "backup/" + j.Annotations["canopy.dev/backup-request"]
	}
	return stack + "job/" + j.Name
}

// recordJobs starts a jobRecorder on ns, stopped with the test.
func recordJobs(t *testing.T, ns string) *jobRecorder {
	t.Helper()
	wc, err := client.NewWithWatch(c.Config, client.Options{Scheme: scheme.New()})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &jobRecorder{uids: map[string]map[string]bool{}, allowed: map[string]int{}, stop: cancel}
	note := func(j *batchv1.Job) {
		r.mu.Lock()
		defer r.mu.Unlock()
		k := jobKey(j)
		if r.uids[k] == nil {
			r.uids[k] = map[string]bool{}
		}
		r.uids[k][string(j.UID)] = true
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var list batchv1.JobList
			if err := wc.List(ctx, &list, client.InNamespace(ns)); err != nil {
				time.Sleep(200 * time.Millisecond) // the control plane may be restarting
				continue
			}
			for i := range list.Items {
				note(&list.Items[i])
			}
			from := &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}}
			w, err := wc.Watch(ctx, &batchv1.JobList{}, client.InNamespace(ns), from)
			if err != nil {
				continue
			}
			for ev := range w.ResultChan() {
				if j, ok := ev.Object.(*batchv1.Job); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
					note(j)
				}
			}
			w.Stop()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// duplicates lists the requests with more than one Job.
func (r *jobRecorder) duplicates() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k, uids := range r.uids {
		if len(uids) > max(1, r.allowed[k]) {
			out = append(out, fmt.Sprintf("%s: %d Jobs", k, len(uids)))
		}
	}
	sort.Strings(out)
	return out
}

// ledger remembers what must live in a namespace: every backup catalogued ("<stack>/<backup>") and
// every claim seen.
type ledger struct {
	backups map[string]bool
	claims  map[string]bool
}

func newLedger() *ledger { return &ledger{backups: map[string]bool{}, claims: map[string]bool{}} }

// violations are the invariants broken in ns, by kind.
type violations struct {
	Duplicates, Orphans, Lost []string
}

func (v violations) empty() bool { return len(v.Duplicates)+len(v.Orphans)+len(v.Lost) == 0 }

// requireInvariants checks the invariants of ns (the Stack stack, "" once deleted) until they hold,
// within a minute: the garbage collector removes dependents asynchronously. It counts the
// violations of the last check in the soak figures and fails the test on any.
func requireInvariants(t *testing.T, ns, stack string, jobs *jobRecorder, l *ledger) bool {
	t.Helper()
	var v violations
	deadline := time.Now().Add(time.Minute)
	for {
		v = checkInvariants(t, ns, stack, jobs, l)
		if v.empty() || time.Now().After(deadline) || len(v.Duplicates)+len(v.Lost) > 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	soak.add(func(f *soakFigures) {
		f.DuplicateJobs += len(v.Duplicates)
		f.OrphanedObjects += len(v.Orphans)
		f.DataLost += len(v.Lost)
	})
	return assertEmpty(t, "duplicate Jobs or catalogue entries for one request", v.Duplicates) &&
		assertEmpty(t, "orphaned objects", v.Orphans) && assertEmpty(t, "data lost (backups or claims that should live)", v.Lost)
}

func assertEmpty(t *testing.T, what string, list []string) bool {
	t.Helper()
	if len(list) > 0 {
		t.Errorf("%s:\n  %s", what, strings.Join(list, "\n  "))
		return false
	}
	return true
}

func checkInvariants(t *testing.T, ns, stack string, jobs *jobRecorder, l *ledger) violations {
	t.Helper()
	ctx := context.Background()
	v := violations{Duplicates: jobs.duplicates()}
	if stack != "" {
		bp := &componentsv1alpha1.BackupPolicy{}
		if err := faultClient().Get(ctx, client.ObjectKey{Namespace: ns, Name: stack}, bp); err == nil {
			names, requests := map[string]int{}, map[string]int{}
			for _, b := range bp.Status.Backups {
				names[b.Name]++
				if b.Request != "" {
					requests[b.Request]++
				}
			}
			for _, m := range []map[string]int{names, requests} {
				for k, n := range m {
					if n > 1 {
						v.Duplicates = append(v.Duplicates, fmt.Sprintf("catalogue: %s %d times", k, n))
					}
				}
			}
			for key := range l.backups {
				if name, ok := strings.CutPrefix(key, stack+"/"); ok && names[name] == 0 {
					v.Lost = append(v.Lost, "catalogued backup "+name)
				}
			}
			for name := range names {
				l.backups[stack+"/"+name] = true
			}
		}
	}
	var claims corev1.PersistentVolumeClaimList
	require.NoError(t, faultClient().List(ctx, &claims, client.InNamespace(ns)))
	present := map[string]bool{}
	for _, pvc := range claims.Items {
		if pvc.DeletionTimestamp == nil {
			present[pvc.Name] = true
		}
	}
	for name := range l.claims {
		if !present[name] {
			v.Lost = append(v.Lost, "claim "+name)
		}
	}
	for name := range present {
		l.claims[name] = true
	}
	v.Orphans = orphans(t, ns)
	return v
}

// ownedKinds are the kinds Canopy creates in a Stack's namespace.
var ownedKinds = []schema.GroupVersionKind{
	{Group: "canopy.dev", Version: "v1alpha1", Kind: "StackList"},
	{Group: "components.canopy.dev", Version: "v1alpha1", Kind: "DatabaseList"},
	{Group: "components.canopy.dev", Version: "v1alpha1", Kind: "FrontendList"},
	{Group: "components.canopy.dev", Version: "v1alpha1", Kind: "BackupPolicyList"},
	{Group: "apps", Version: "v1", Kind: "DeploymentList"},
	{Group: "apps", Version: "v1", Kind: "StatefulSetList"},
	{Group: "batch", Version: "v1", Kind: "JobList"},
	{Group: "batch", Version: "v1", Kind: "CronJobList"},
	{Version: "v1", Kind: "ServiceList"},
	{Version: "v1", Kind: "ConfigMapList"},
	{Version: "v1", Kind: "SecretList"},
	{Version: "v1", Kind: "ServiceAccountList"},
	{Version: "v1", Kind: "PersistentVolumeClaimList"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicyList"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "IngressList"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudgetList"},
	{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscalerList"},
}

// orphans lists Canopy's objects in ns (label app.kubernetes.io/managed-by=canopy) whose owner is
// gone, or that have none although they are not data kept on purpose (claims, credentials Secrets),
// and objects still being deleted whose deletion waits on a finalizer of Canopy's. The owners are
// looked up among the objects listed (every kind that owns one of Canopy's is in ownedKinds).
func orphans(t *testing.T, ns string) []string {
	t.Helper()
	ctx := context.Background()
	var all []unstructured.Unstructured
	exists := map[string]bool{} // "Kind name uid"
	for _, gvk := range ownedKinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk)
		require.NoError(t, faultClient().List(ctx, list, client.InNamespace(ns)))
		for _, o := range list.Items {
			o.SetKind(strings.TrimSuffix(gvk.Kind, "List"))
			exists[fmt.Sprintf("%s %s %s", o.GetKind(), o.GetName(), o.GetUID())] = true
			all = append(all, o)
		}
	}
	var out []string
	for _, o := range all {
		what := o.GetKind() + " " + o.GetName()
		for _, f := range o.GetFinalizers() {
			if strings.HasPrefix(f, "canopy.dev/") && o.GetDeletionTimestamp() != nil {
				out = append(out, fmt.Sprintf("%s: deleted, still held by %s", what, f))
			}
		}
		if o.GetLabels()["app.kubernetes.io/managed-by"] != "canopy" {
			continue
		}
		refs := o.GetOwnerReferences()
		if len(refs) == 0 && o.GetKind() != "PersistentVolumeClaim" && o.GetKind() != "Secret" {
			out = append(out, what+": no owner")
		}
		for _, ref := range refs {
			if !exists[fmt.Sprintf("%s %s %s", ref.Kind, ref.Name, ref.UID)] {
				out = append(out, fmt.Sprintf("%s: owner %s %s is gone", what, ref.Kind, ref.Name))
			}
		}
	}
	sort.Strings(out)
	return out
}

// faultClient reads for the invariants, unthrottled on its side (client-go's default of 5 requests
// a second would make each check take seconds).
var faultClient = sync.OnceValue(func() client.Client {
	cfg := rest.CopyConfig(c.Config)
	cfg.QPS, cfg.Burst = 200, 400
	cl, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		panic(err)
	}
	return cl
})
