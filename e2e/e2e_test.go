//go:build e2e

// Package e2e runs Canopy end to end on the local simulated cluster (real kube-controller-manager,
// scheduler and garbage collector; kwok nodes whose pods report ready and whose Job pods complete).
// Run with `make e2e`.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/e2e/cluster"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/testenv"
)

var c *cluster.Cluster

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	log.SetLogger(logr.Discard()) // the harness's own client logs nothing worth reading
	root, err := testenv.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bins, err := cluster.FindBinaries(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	bins.Canopy = filepath.Join(root, "bin", "canopy")
	if p := os.Getenv("CANOPY_E2E_BINARY"); p != "" {
		bins.Canopy = p // a canopy built elsewhere, such as from a worktree whose bin/ is shared
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := filepath.Join(root, "bin", "e2e")
	if d := os.Getenv("CANOPY_E2E_DIR"); d != "" {
		dir = d // the logs' folder, when bin/ is shared with other worktrees
	}
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	c, err = cluster.Start(ctx, cluster.Options{Name: "canopy-e2e", Dir: dir, Nodes: 2, Root: root, Binaries: bins, AuditPolicy: policy,
		Log: func(f string, a ...any) { fmt.Printf("e2e: "+f+"\n", a...) }})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the cluster:", err)
		if c != nil {
			fmt.Fprintln(os.Stderr, c.TailLog("kwokctl.log", 40))
		}
		return 1
	}
	fmt.Printf("e2e: cluster and Canopy ready in %s\n", time.Since(start).Round(100*time.Millisecond))
	// Every secret the run's Secrets hold, and every Event and status it produces, are recorded as
	// they appear: each test deletes its namespace.
	scan, err := c.StartSecretScan(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the secret scan:", err)
		c.Stop()
		return 1
	}
	code := m.Run()
	scan.Stop()
	writeSoak()
	if code == 0 {
		bad, err := c.MisreportedErrors()
		if err != nil || len(bad) > 0 {
			fmt.Fprintf(os.Stderr, "e2e: FAIL: the manager logged routine outcomes as reconcile errors (%v):\n  %s\n", err, strings.Join(bad, "\n  "))
			code = 1
		}
		code = max(code, secretsKept(scan))
	}
	if code != 0 {
		if exited := c.Exited(); len(exited) > 0 {
			fmt.Fprintf(os.Stderr, "e2e: processes that ended on their own: %v\n", exited)
		}
		for _, l := range []struct {
			name  string
			lines int
		}{{"manager.log", 60}, {"cert-manager.log", 15}, {"prometheus-operator.log", 15}} {
			fmt.Fprintf(os.Stderr, "e2e: %s (tail):\n%s\n", l.name, c.TailLog(l.name, l.lines))
		}
		// kwokctl deletes the cluster's own logs with the cluster.
		dst := filepath.Join(dir, "cluster-logs")
		if err := c.KeepClusterLogs(dst); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: keeping the cluster's logs:", err)
		} else {
			fmt.Fprintln(os.Stderr, "e2e: the cluster's logs (kube-apiserver, kube-controller-manager, ...) are in "+dst)
		}
	}
	c.Stop()
	return code
}

// secretsKept fails the run (1) when a secret value (a generated password, a private key, an S3
// or encryption key) appears in the manager's log, in an Event, in the status of one of Canopy's
// objects, or in the manager's /metrics.
func secretsKept(scan *cluster.SecretScan) int {
	leaks, err := scan.Scan(filepath.Join(c.Dir, "manager.log"), c.MetricsURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: FAIL: the secret scan:", err)
		return 1
	}
	if len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: FAIL: secrets were shown:\n  %s\n", strings.Join(leaks, "\n  "))
		return 1
	}
	secrets, texts := scan.SecretsSeen()
	fmt.Printf("e2e: no secret in the manager's log, its metrics, Events or statuses (%d secret values, %d Events and statuses)\n", secrets, texts)
	if secrets == 0 && texts > 0 {
		fmt.Fprintln(os.Stderr, "e2e: FAIL: the secret scan saw objects but no secret: it proves nothing")
		return 1
	}
	return 0
}

const wait = 2 * time.Minute

// auditPolicy records every request at Metadata level but the control plane's Lease renewals:
// the faults tests count the manager's requests in it (faults_specloop_test.go).
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  resources: [{group: coordination.k8s.io, resources: [leases]}]
  namespaces: ["kube-system", "kube-node-lease"]
- level: Metadata
`

func namespace(t *testing.T) string {
	t.Helper()
	ns := fmt.Sprintf("e2e-%d", time.Now().UnixNano()%1_000_000_000)
	require.NoError(t, c.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	t.Cleanup(func() {
		if t.Failed() {
			dumpObjects(t, ns)
		}
		_ = c.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
	return ns
}

func newStack(t *testing.T, ns, name string, mutate ...func(*canopyv1alpha1.Stack)) {
	t.Helper()
	s := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: canopyv1alpha1.StackSpec{
		Version: "1.0.0",
		Frontend: canopyv1alpha1.StackFrontend{Image: "ghcr.io/acme/shop", Replicas: ptr.To[int32](2),
			Migration: &componentsv1alpha1.MigrationSpec{Command: []string{"/app/migrate"}}},
		Database: canopyv1alpha1.StackDatabase{Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}},
	}}
	for _, m := range mutate {
		m(s)
	}
	require.NoError(t, c.Client.Create(context.Background(), s))
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
	said := ""
	require.Eventually(t, func() bool {
		s := &canopyv1alpha1.Stack{}
		if c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s) != nil {
			return false
		}
		// What a slow Stack waits for, each time it changes after 10 s.
		if r := conditions.Get(s, componentsv1alpha1.ConditionReady); r != nil && time.Since(start) > 10*time.Second && r.Message != said {
			said = r.Message
			t.Logf("%s after %s: Ready=%s: %s", name, time.Since(start).Round(100*time.Millisecond), r.Status, r.Message)
		}
		return conditions.IsTrue(s, componentsv1alpha1.ConditionReady) && s.Status.Version == version && s.Status.ObservedGeneration == s.Generation
	}, wait, 200*time.Millisecond, "Stack %s/%s Ready at %s", ns, name, version)
	return time.Since(start)
}

func update(t *testing.T, ns, name string, change func(*canopyv1alpha1.Stack)) {
	t.Helper()
	testenv.Mutate(t, c.Client, client.ObjectKey{Namespace: ns, Name: name}, func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false, change)
}

// TestCreateUpgradeScale: a Stack becomes Ready on real Kubernetes controllers; an upgrade runs its
// migration Job and rolls out the new version; scaling reaches the Deployment and storage growth
// reaches the claim; `kubectl canopy status` shows it. The pre-upgrade backup is proven on the
// real-pods tier, with a real dump (TestUpgradeBacksUpFirst): this Stack has no backups.
func TestCreateUpgradeScale(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "shop")
	t.Logf("Stack to Ready: %s", waitReady(t, ns, "shop", "1.0.0"))
	pvc := &corev1.PersistentVolumeClaim{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data-shop-postgres-0"}, pvc))
	require.Equal(t, corev1.ClaimBound, pvc.Status.Phase)

	update(t, ns, "shop", func(s *canopyv1alpha1.Stack) { s.Spec.Version = "1.1.0" })
	t.Logf("upgrade to Ready: %s", waitReady(t, ns, "shop", "1.1.0"))
	dep := &appsv1.Deployment{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop-web"}, dep))
	require.Equal(t, "ghcr.io/acme/shop:1.1.0", dep.Spec.Template.Spec.Containers[0].Image)
	require.Equal(t, canopyv1alpha1.UpgradeSucceeded, stack(t, ns, "shop").Status.Upgrade.Phase)
	require.NotNil(t, onlyJob(t, ns, "migration", "1.1.0").Status.CompletionTime, "the migration Job of 1.1.0 ran")

	update(t, ns, "shop", func(s *canopyv1alpha1.Stack) {
		s.Spec.Frontend.Replicas = ptr.To[int32](3)
		s.Spec.Database.Storage.Size = resource.MustParse("2Gi")
	})
	require.Eventually(t, func() bool {
		return c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop-web"}, dep) == nil && dep.Status.ReadyReplicas == 3
	}, wait, 200*time.Millisecond, "three web pods run")
	require.Eventually(t, func() bool {
		if c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data-shop-postgres-0"}, pvc) != nil {
			return false
		}
		capacity := pvc.Status.Capacity[corev1.ResourceStorage]
		return capacity.Cmp(resource.MustParse("2Gi")) == 0
	}, wait, 200*time.Millisecond, "the data volume grows")
	waitReady(t, ns, "shop", "1.1.0")
	pluginBinary(t)
	requirePluginStatus(t, ns, "shop")
}

// TestDeletePolicies: Orphan leaves the workloads running without owners (the real garbage
// collector orphans them); Delete removes Canopy's objects and keeps the data volume.
func TestDeletePolicies(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "keep", func(s *canopyv1alpha1.Stack) { s.Spec.DeletionPolicy = canopyv1alpha1.DeletionPolicyOrphan })
	newStack(t, ns, "gone")
	waitReady(t, ns, "keep", "1.0.0")
	waitReady(t, ns, "gone", "1.0.0")

	require.NoError(t, c.Client.Delete(ctx, stack(t, ns, "keep")))
	require.NoError(t, c.Client.Delete(ctx, stack(t, ns, "gone")))
	require.Eventually(t, func() bool {
		dep := &appsv1.Deployment{}
		sts := &appsv1.StatefulSet{}
		return apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "keep"}, &canopyv1alpha1.Stack{})) &&
			apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "keep"}, &componentsv1alpha1.Database{})) &&
			c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "keep-web"}, dep) == nil && len(dep.OwnerReferences) == 0 &&
			c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "keep-postgres"}, sts) == nil && len(sts.OwnerReferences) == 0
	}, wait, 200*time.Millisecond, "Orphan: the workloads keep running, unowned")
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gone"}, &canopyv1alpha1.Stack{})) &&
			apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gone-web"}, &appsv1.Deployment{})) &&
			apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gone-postgres"}, &appsv1.StatefulSet{}))
	}, wait, 200*time.Millisecond, "Delete: Canopy's objects are gone")
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data-gone-postgres-0"}, &corev1.PersistentVolumeClaim{}),
		"Delete: the data volume is kept")
}

// TestDeleteWithDataRetentionDelete: a Stack deleted with dataRetention Delete for both its volumes
// and its backups loses every data volume it ever used (the one in use and an earlier major's) and
// its backup volume, after its backups were purged; a Stack deleted with the default Retain keeps
// both volumes. The garbage collector, the pvc-protection controller and the StatefulSet
// controller are Kubernetes' own here; the purge's result is a kwok Stage's.
func TestDeleteWithDataRetentionDelete(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "wipe", withBackups(""), func(s *canopyv1alpha1.Stack) {
		s.Spec.DataRetention = &canopyv1alpha1.DataRetention{PersistentVolumeClaims: componentsv1alpha1.Delete, Backups: componentsv1alpha1.Delete}
	})
	newStack(t, ns, "kept", withBackups(""))
	waitReady(t, ns, "wipe", "1.0.0")
	waitReady(t, ns, "kept", "1.0.0")
	claim := func(name string) error {
		return c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.PersistentVolumeClaim{})
	}
	// An earlier major's volume, as a finished major upgrade leaves it: labelled like the data
	// volumes of the Database, named after its claim template.
	db := &componentsv1alpha1.Database{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wipe"}, db))
	old := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "data-pg16-0a1b2c3d-wipe-postgres-0",
		Labels: map[string]string{"app.kubernetes.io/name": "wipe-postgres", "app.kubernetes.io/component": "database",
			"app.kubernetes.io/instance": "wipe", "app.kubernetes.io/managed-by": "canopy", "canopy.dev/stack": "wipe"}},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	require.NoError(t, c.Client.Create(ctx, old))
	require.Eventually(t, func() bool {
		s := stack(t, ns, "wipe")
		return len(s.Status.KeptVolumes) == 1 && s.Status.KeptVolumes[0].ClaimName == old.Name
	}, wait, 200*time.Millisecond, "the earlier major's volume is listed as kept")
	for _, name := range []string{"data-wipe-postgres-0", "wipe-backups", "data-kept-postgres-0", "kept-backups"} {
		require.NoError(t, claim(name), "the volume %s exists", name)
	}

	require.NoError(t, c.Client.Delete(ctx, stack(t, ns, "wipe")))
	require.NoError(t, c.Client.Delete(ctx, stack(t, ns, "kept")))
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "wipe"}, &canopyv1alpha1.Stack{})) &&
			apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "kept"}, &canopyv1alpha1.Stack{}))
	}, wait, 200*time.Millisecond, "both Stacks are deleted")
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(claim("data-wipe-postgres-0")) && apierrors.IsNotFound(claim(old.Name)) && apierrors.IsNotFound(claim("wipe-backups"))
	}, wait, 200*time.Millisecond, "Delete: every data volume and the backup volume are gone")
	for _, name := range []string{"data-kept-postgres-0", "kept-backups"} {
		require.NoError(t, claim(name), "Retain: the volume %s is kept", name)
	}
}

// TestManagerKilledMidUpgrade: Canopy's process is killed (SIGKILL) while an upgrade's
// pre-upgrade backup runs, and again while its migration runs, and restarted each time: the
// upgrade converges, with one backup Job and one migration Job.
func TestManagerKilledMidUpgrade(t *testing.T) {
	ns := namespace(t)
	newStack(t, ns, "crash", withBackups(""))
	waitReady(t, ns, "crash", "1.0.0")

	// Killed while the pre-upgrade backup runs, then while the migration runs.
	update(t, ns, "crash", func(s *canopyv1alpha1.Stack) { s.Spec.Version = "2.0.0" })
	require.Eventually(t, func() bool { return len(jobNames(t, ns, "backup", "")) == 1 }, wait, 20*time.Millisecond, "the pre-upgrade backup Job starts")
	c.KillManager()
	require.NoError(t, c.StartManager())
	require.Eventually(t, func() bool { return len(jobNames(t, ns, "migration", "2.0.0")) == 1 }, wait, 20*time.Millisecond,
		"the migration Job of 2.0.0 starts")
	c.KillManager()
	require.NoError(t, c.StartManager())

	waitReady(t, ns, "crash", "2.0.0")
	require.Len(t, jobNames(t, ns, "backup", ""), 1, "one pre-upgrade backup after the restarts")
	require.Len(t, jobNames(t, ns, "migration", "2.0.0"), 1, "one migration of 2.0.0 after the restarts")
	requireCatalogued(t, ns, "crash", stack(t, ns, "crash").Status.Upgrade.BackupName)
}

// withBackups gives the Stack backups to a volume Canopy creates, before each upgrade and on the
// schedule ("" for none).
func withBackups(schedule string) func(*canopyv1alpha1.Stack) {
	return func(s *canopyv1alpha1.Stack) {
		s.Spec.Backup = &canopyv1alpha1.StackBackup{Schedule: componentsv1alpha1.CronSchedule(schedule), BeforeUpgrade: ptr.To(true),
			Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}}}
	}
}

// jobsOf lists the Jobs of a kind in ns: "migration" Jobs, or "backup" Jobs.
func jobsOf(t *testing.T, ns, kind string) []batchv1.Job {
	t.Helper()
	var jobs batchv1.JobList
	require.NoError(t, c.Client.List(context.Background(), &jobs, client.InNamespace(ns)))
	var out []batchv1.Job
	for _, j := range jobs.Items {
		if (kind == "migration" && j.Labels["canopy.dev/migration"] == "true") || (kind == "backup" && j.Labels["canopy.dev/backup-policy"] != "") {
			out = append(out, j)
		}
	}
	return out
}

// jobNames names the Jobs of a kind in ns; for migrations, of one version.
func jobNames(t *testing.T, ns, kind, version string) []string {
	t.Helper()
	var out []string
	for _, j := range jobsOf(t, ns, kind) {
		if version == "" || j.Labels["app.kubernetes.io/version"] == version {
			out = append(out, j.Name)
		}
	}
	return out
}

// onlyJob returns the one Job of a kind whose request annotation (backup) or version label
// (migration) is key.
func onlyJob(t *testing.T, ns, kind, key string) batchv1.Job {
	t.Helper()
	var found []batchv1.Job
	for _, j := range jobsOf(t, ns, kind) {
		if j.Annotations["canopy.dev/backup-request"] == key || j.Labels["app.kubernetes.io/version"] == key {
			found = append(found, j)
		}
	}
	require.Len(t, found, 1, "one %s Job for %s", kind, key)
	return found[0]
}

// requireCatalogued waits for the backup to be in its BackupPolicy's catalogue.
func requireCatalogued(t *testing.T, ns, stackName, backup string) {
	t.Helper()
	require.Eventually(t, func() bool {
		bp := &componentsv1alpha1.BackupPolicy{}
		if c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: stackName}, bp) != nil {
			return false
		}
		for _, b := range bp.Status.Backups {
			if b.Name == backup && b.SHA256 != "" && b.SizeBytes > 0 {
				return true
			}
		}
		return false
	}, wait, 200*time.Millisecond, "the backup %s is in the catalogue", backup)
}

// dumpObjects prints, for a failing test (namespace registers it), the metadata and conditions of Canopy's objects and of
// the workloads they own in the namespace (an object missing from the dump is gone).
func dumpObjects(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	for _, gvk := range []schema.GroupVersionKind{
		canopyv1alpha1.GroupVersion.WithKind("StackList"),
		componentsv1alpha1.GroupVersion.WithKind("DatabaseList"),
		componentsv1alpha1.GroupVersion.WithKind("FrontendList"),
		componentsv1alpha1.GroupVersion.WithKind("BackupPolicyList"),
		appsv1.SchemeGroupVersion.WithKind("StatefulSetList"),
		appsv1.SchemeGroupVersion.WithKind("DeploymentList"),
	} {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk)
		if err := c.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
			t.Logf("dump %s: %v", gvk.Kind, err)
			continue
		}
		for _, o := range list.Items {
			var owners []string
			for _, r := range o.GetOwnerReferences() {
				owners = append(owners, fmt.Sprintf("%s/%s(%s)", r.Kind, r.Name, r.UID))
			}
			var conds []string
			cs, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
			for _, x := range cs {
				if m, ok := x.(map[string]any); ok {
					conds = append(conds, fmt.Sprintf("%v=%v(%v: %v)", m["type"], m["status"], m["reason"], m["message"]))
				}
			}
			t.Logf("dump %s %s uid=%s rv=%s gen=%d deletion=%v finalizers=%v owners=%v conditions=%v",
				o.GetKind(), o.GetName(), o.GetUID(), o.GetResourceVersion(), o.GetGeneration(), o.GetDeletionTimestamp(), o.GetFinalizers(), owners, conds)
		}
	}
}
