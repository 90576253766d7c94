package database

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/pgadmin"
	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env, testenv.Options{}))
}

// fakeAdmin records what the controller asks of PostgreSQL, and plays a server's TLS: the
// certificate file the kubelet wrote (file), the certificate it presents, and a reload that makes
// it present the file's (unless ignoreReload).
type fakeAdmin struct {
	mu           sync.Mutex
	passwords    map[string]string
	conns        []pgadmin.ConnInfo
	file         []byte
	presented    []byte
	reloads      int
	ignoreReload bool
}

func (f *fakeAdmin) PresentedCertificate() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.presented
}

func (f *fakeAdmin) ReadServerFile(context.Context, string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.file, nil
}

func (f *fakeAdmin) ReloadConfiguration(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reloads++
	if !f.ignoreReload {
		f.presented = leaf(f.file)
	}
	return nil
}

// serve has the fake server's files hold crt (as the kubelet writes a Secret's update) and, when
// started, present it (as a PostgreSQL that starts with it).
func (f *fakeAdmin) serve(crt []byte, started bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.file = crt
	if started {
		f.presented = leaf(crt)
	}
}

func leaf(crt []byte) []byte {
	if b, _ := pem.Decode(crt); b != nil {
		return b.Bytes
	}
	return nil
}

func (f *fakeAdmin) connect(_ context.Context, info pgadmin.ConnInfo) (pgadmin.Admin, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns = append(f.conns, info)
	return f, nil
}
func (f *fakeAdmin) ServerVersion(context.Context) (string, error) { return "17.2", nil }
func (f *fakeAdmin) EnsureRoleAndDatabase(context.Context, string, string, string) error {
	return nil
}
func (f *fakeAdmin) SetPassword(_ context.Context, role, password string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.passwords[role] = password
	return nil
}
func (f *fakeAdmin) Close(context.Context) error { return nil }

type harness struct {
	*testenv.Harness
	admin *fakeAdmin
	mgr   ctrl.Manager
}

func start(t *testing.T) *harness {
	t.Helper()
	e := testenv.Require(t, env)
	h := &harness{Harness: e.Harness(t), admin: &fakeAdmin{passwords: map[string]string{}}}
	h.mgr = e.StartManager(t, func(mgr ctrl.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), Connect: h.admin.connect, Getenv: func(string) string { return "" }}).SetupWithManager(mgr)
	})
	return h
}

func (h *harness) create(name, version string, mutate ...func(*componentsv1alpha1.Database)) *componentsv1alpha1.Database {
	h.T.Helper()
	db := &componentsv1alpha1.Database{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: name, Labels: map[string]string{"canopy.dev/stack": name}},
		Spec: componentsv1alpha1.DatabaseSpec{Version: version, Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")},
			Clients: []metav1.LabelSelector{{MatchLabels: map[string]string{"canopy.dev/stack": name, "app.kubernetes.io/component": "frontend"}}}},
	}
	for _, m := range mutate {
		m(db)
	}
	require.NoError(h.T, h.C.Create(context.Background(), db))
	return db
}

func (h *harness) database(name string) *componentsv1alpha1.Database {
	h.T.Helper()
	db := &componentsv1alpha1.Database{}
	require.NoError(h.T, h.Get(db, name))
	return db
}

func (h *harness) update(name string, change func(*componentsv1alpha1.Database)) {
	h.T.Helper()
	testenv.Mutate(h.T, h.C, h.Key(name), func() *componentsv1alpha1.Database { return &componentsv1alpha1.Database{} }, false, change)
}

// statefulSet waits for the StatefulSet to satisfy cond.
func (h *harness) statefulSet(name string, cond func(*appsv1.StatefulSet) bool, msg string) *appsv1.StatefulSet {
	h.T.Helper()
	sts := &appsv1.StatefulSet{}
	h.Eventually(func() bool { return h.Get(sts, name+"-postgres") == nil && cond(sts) }, msg)
	return sts
}

func configHash(sts *appsv1.StatefulSet) string {
	return sts.Spec.Template.Annotations[desired.AnnotationConfigHash]
}

// runPod plays the StatefulSet controller and the kubelet: the pod of the current template exists
// with the given readiness (and waiting reason), and the StatefulSet reports it.
func (h *harness) runPod(name string, ready bool, waiting string) {
	h.T.Helper()
	ctx := context.Background()
	sts := &appsv1.StatefulSet{}
	require.NoError(h.T, h.Get(sts, name+"-postgres"))
	podName := name + "-postgres-0"
	pod := &corev1.Pod{}
	if err := h.Get(pod, podName); err == nil {
		require.NoError(h.T, h.C.Delete(ctx, pod, client.GracePeriodSeconds(0)))
		h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&corev1.Pod{}, podName)) }, "the old pod is gone")
	}
	pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: podName, Labels: sts.Spec.Template.Labels,
		Annotations: sts.Spec.Template.Annotations}, Spec: *sts.Spec.Template.Spec.DeepCopy()}
	// The StatefulSet controller adds the claim of the template as a volume.
	for _, t := range sts.Spec.VolumeClaimTemplates {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: t.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: t.Name + "-" + podName}}})
	}
	require.NoError(h.T, h.C.Create(ctx, pod))
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
	if waiting != "" {
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "postgres", Image: pod.Spec.Containers[0].Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: waiting, Message: "back-off restarting failed container"}}}}
	}
	require.NoError(h.T, h.C.Status().Update(ctx, pod))
	readyReplicas := int32(0)
	if ready {
		readyReplicas = 1
	}
	testenv.Mutate(h.T, h.C, h.Key(name+"-postgres"), func() *appsv1.StatefulSet { return &appsv1.StatefulSet{} }, true, func(s *appsv1.StatefulSet) {
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 1, ReadyReplicas: readyReplicas, AvailableReplicas: readyReplicas,
			CurrentReplicas: 1, UpdatedReplicas: 1, CurrentRevision: "r", UpdateRevision: "r"}
	})
}

func (h *harness) waitReady(name string) *componentsv1alpha1.Database {
	h.T.Helper()
	var last *componentsv1alpha1.Database
	defer func() {
		if h.T.Failed() && last != nil {
			h.T.Logf("Database %s last seen: generation %d, status %+v", name, last.Generation, last.Status)
			sts, pod := &appsv1.StatefulSet{}, &corev1.Pod{}
			if h.Get(sts, name+"-postgres") == nil {
				h.T.Logf("StatefulSet: generation %d, status %+v, template annotations %v", sts.Generation, sts.Status, sts.Spec.Template.Annotations)
			}
			if h.Get(pod, name+"-postgres-0") == nil {
				h.T.Logf("pod: annotations %v, conditions %+v, deleting %v", pod.Annotations, pod.Status.Conditions, pod.DeletionTimestamp)
			}
		}
	}()
	h.Eventually(func() bool {
		last = h.database(name)
		return last.Status.ObservedGeneration == last.Generation && conditions.IsTrue(last, componentsv1alpha1.ConditionReady)
	}, "Database %s is Ready", name)
	return h.database(name)
}

func (h *harness) readyDatabase(name, version string, mutate ...func(*componentsv1alpha1.Database)) *componentsv1alpha1.Database {
	h.T.Helper()
	h.create(name, version, mutate...)
	h.statefulSet(name, func(*appsv1.StatefulSet) bool { return true }, "the StatefulSet is created")
	h.runPod(name, true, "")
	return h.waitReady(name)
}

// TestProvisionToReady: a Database becomes its objects, with generated Secrets, and is Ready with the
// version its pod runs.
func TestProvisionToReady(t *testing.T) {
	h := start(t)
	// Without TLS: with it, a Database is not Ready without cert-manager (TestTLSRequiredWithoutCertManager).
	h.create("shop", "17.2", func(db *componentsv1alpha1.Database) {
		db.Spec.Monitoring = &componentsv1alpha1.DatabaseMonitoringSpec{
			MonitoringSpec: componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true), Interval: "30s"}}
	})
	sts := h.statefulSet("shop", func(*appsv1.StatefulSet) bool { return true }, "the StatefulSet is created")
	require.Equal(t, "docker.io/library/postgres:17.2", sts.Spec.Template.Spec.Containers[0].Image)
	require.Len(t, sts.Spec.Template.Spec.Containers, 2, "the exporter runs beside PostgreSQL")
	for _, obj := range []struct {
		obj  client.Object
		name string
	}{{&corev1.Service{}, "shop-postgres"}, {&corev1.Service{}, "shop-postgres-hl"}, {&networkingv1.NetworkPolicy{}, "shop-postgres"},
		{&policyv1.PodDisruptionBudget{}, "shop-postgres"}, {&corev1.ConfigMap{}, desired.ConfigName(h.database("shop"), configHash(sts))},
		{&corev1.ConfigMap{}, "shop-postgres-init"}} {
		h.Eventually(func() bool { return h.Get(obj.obj, obj.name) == nil }, "%T %s exists", obj.obj, obj.name)
	}
	creds, super := &corev1.Secret{}, &corev1.Secret{}
	require.NoError(t, h.Get(creds, "shop-db-credentials"))
	require.NoError(t, h.Get(super, "shop-db-superuser"))
	require.GreaterOrEqual(t, len(creds.Data["password"]), 40, "a generated, strong password")
	require.NotEqual(t, creds.Data["password"], super.Data["password"])
	require.Contains(t, string(creds.Data["uri"]), "@shop-postgres."+h.NS+".svc:5432/app?sslmode=prefer")
	require.NotContains(t, creds.Data, "ca.crt", "no TLS, nothing about it in the Secret")

	h.runPod("shop", true, "")
	db := h.waitReady("shop")
	require.Equal(t, "17.2", db.Status.Version, "read from the running pod")
	require.Equal(t, "shop-postgres."+h.NS+".svc:5432", db.Status.Endpoint)
	require.Equal(t, "shop-db-credentials", db.Status.CredentialsSecretName)
	require.Equal(t, componentsv1alpha1.ReasonCRDNotInstalled, conditions.Get(db, componentsv1alpha1.ConditionMonitoringAvailable).Reason)
	require.Nil(t, conditions.Get(db, componentsv1alpha1.ConditionCertificatesAvailable), "not asked for, not reported")
	require.False(t, db.Status.TLSEnabled)

	// A later spec change never regenerates the Secrets.
	h.update("shop", func(d *componentsv1alpha1.Database) { d.Spec.ExpectedConnections = 150 })
	h.statefulSet("shop", func(s *appsv1.StatefulSet) bool { return configHash(s) != configHash(sts) }, "the new configuration rolls the pod")
	again := &corev1.Secret{}
	require.NoError(t, h.Get(again, "shop-db-credentials"))
	require.Equal(t, creds.ResourceVersion, again.ResourceVersion)
}

// TestRemediationAfterBadConfig: a configuration with which PostgreSQL crash-loops is rolled back to
// the last one that was ready, with an event and a counter, until the spec changes.
func TestRemediationAfterBadConfig(t *testing.T) {
	h := start(t)
	h.readyDatabase("cfg", "17")
	good := configHash(h.statefulSet("cfg", func(*appsv1.StatefulSet) bool { return true }, "sts"))
	before := testutil.ToFloat64(metrics.DatabaseRemediations)

	h.update("cfg", func(d *componentsv1alpha1.Database) {
		d.Spec.Parameters = map[string]string{"shared_preload_libraries": "does_not_exist"}
	})
	bad := configHash(h.statefulSet("cfg", func(s *appsv1.StatefulSet) bool { return configHash(s) != good }, "the new configuration reaches the pod template"))
	h.runPod("cfg", false, "CrashLoopBackOff")
	h.statefulSet("cfg", func(s *appsv1.StatefulSet) bool { return configHash(s) == good }, "the last ready configuration returns")
	h.Eventually(func() bool { return h.database("cfg").Status.RejectedConfigHash == bad }, "the bad configuration is recorded")
	db := h.database("cfg")
	stalled := conditions.Get(db, componentsv1alpha1.ConditionStalled)
	require.Equal(t, ReasonConfigRemediated, stalled.Reason)
	require.Contains(t, stalled.Message, "last configuration that was ready")
	require.Equal(t, before+1, testutil.ToFloat64(metrics.DatabaseRemediations))
	h.Eventually(func() bool {
		return slices.Contains(testenv.EventReasons(t, h.C, db), "ConfigRemediated")
	}, "a Warning event")

	// The pod comes back with the good configuration; the bad one is not retried.
	h.runPod("cfg", true, "")
	h.Eventually(func() bool { return conditions.Get(h.database("cfg"), componentsv1alpha1.ConditionStalled) != nil }, "still reports the remediation")
	require.Equal(t, good, configHash(h.statefulSet("cfg", func(*appsv1.StatefulSet) bool { return true }, "sts")))

	// A new spec gives a new configuration a chance.
	h.update("cfg", func(d *componentsv1alpha1.Database) {
		d.Spec.Parameters = map[string]string{"log_min_duration_statement": "250"}
	})
	h.statefulSet("cfg", func(s *appsv1.StatefulSet) bool { return configHash(s) != good && configHash(s) != bad }, "the next configuration is applied")
}

// TestStorageExpansion: a larger size grows the claim when the class allows it, and otherwise says
// why.
func TestStorageExpansion(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	for _, sc := range []*storagev1.StorageClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "grow-" + h.NS}, Provisioner: "example.com/hostpath", AllowVolumeExpansion: ptr.To(true)},
		{ObjectMeta: metav1.ObjectMeta{Name: "fixed-" + h.NS}, Provisioner: "example.com/hostpath"},
	} {
		require.NoError(t, h.C.Create(ctx, sc))
		t.Cleanup(func() { _ = h.C.Delete(ctx, sc) })
	}
	for _, tc := range []struct{ name, class string }{{"grow", "grow-" + h.NS}, {"fixed", "fixed-" + h.NS}} {
		h.readyDatabase(tc.name, "17", func(d *componentsv1alpha1.Database) { d.Spec.Storage.StorageClassName = ptr.To(tc.class) })
		// The claim the StatefulSet controller would create from the template.
		sts := h.statefulSet(tc.name, func(*appsv1.StatefulSet) bool { return true }, "sts")
		tpl := sts.Spec.VolumeClaimTemplates[0]
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "data-" + tc.name + "-postgres-0", Labels: tpl.Labels},
			Spec: tpl.Spec}
		require.NoError(t, h.C.Create(ctx, pvc))
		// The controller labels the claim it runs on meanwhile: the binding retries on conflicts, as
		// Kubernetes' own controllers do.
		testenv.Mutate(t, h.C, client.ObjectKeyFromObject(pvc), func() *corev1.PersistentVolumeClaim { return &corev1.PersistentVolumeClaim{} }, true,
			func(p *corev1.PersistentVolumeClaim) {
				p.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound,
					Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}
			})
		h.update(tc.name, func(d *componentsv1alpha1.Database) { d.Spec.Storage.Size = resource.MustParse("5Gi") })
	}
	pvc := &corev1.PersistentVolumeClaim{}
	h.Eventually(func() bool {
		if h.Get(pvc, "data-grow-postgres-0") != nil {
			return false
		}
		q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		return q.Cmp(resource.MustParse("5Gi")) == 0
	}, "the expandable claim grows")
	require.Equal(t, "1Gi", func() string {
		s := h.statefulSet("grow", func(*appsv1.StatefulSet) bool { return true },
			"sts").Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
		return s.String()
	}(), "the immutable claim template is left alone")
	h.Eventually(func() bool {
		c := conditions.Get(h.database("fixed"), componentsv1alpha1.ConditionStorageResized)
		return c != nil && c.Reason == componentsv1alpha1.ReasonExpansionNotSupported
	}, "the fixed class is reported")
	require.NoError(t, h.Get(pvc, "data-fixed-postgres-0"))
	q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	require.Equal(t, "1Gi", q.String())
}

// TestMajorUpgrade: a major-version change waits for a backup to load; then the old StatefulSet
// goes (its claim kept, also with volumeRetention Delete), a new one at the new major starts on a
// new volume, the backup is loaded, and the Database is Ready at the new major.
func TestMajorUpgrade(t *testing.T) {
	h := start(t)
	h.readyDatabase("major", "16", func(d *componentsv1alpha1.Database) { d.Spec.VolumeRetention = componentsv1alpha1.Delete })
	oldClaim := h.ownedClaim("major", "data")

	h.update("major", func(d *componentsv1alpha1.Database) { d.Spec.Version, d.Spec.AllowMajorVersionUpgrade = "17", true })
	h.Eventually(func() bool {
		c := conditions.Get(h.database("major"), componentsv1alpha1.ConditionStalled)
		return c != nil && c.Reason == componentsv1alpha1.ReasonMajorUpgradeBlocked && strings.Contains(c.Message, "spec.majorUpgrade.fromBackup")
	}, "without a backup to load, the major upgrade waits and says why")
	sts := h.statefulSet("major", func(*appsv1.StatefulSet) bool { return true }, "sts")
	require.Equal(t, "docker.io/library/postgres:16", sts.Spec.Template.Spec.Containers[0].Image)
	require.Equal(t, "16", h.database("major").Status.Version)

	const backup = "major-20261126-020000"
	newVolume := h.startMajorUpgrade("major", backup)
	require.NoError(t, h.Get(oldClaim, oldClaim.Name))
	require.Empty(t, oldClaim.OwnerReferences, "the old volume no longer belongs to the StatefulSet, so nothing deletes it")
	sts = h.statefulSet("major", func(s *appsv1.StatefulSet) bool { return s.Spec.VolumeClaimTemplates[0].Name == newVolume }, "the new StatefulSet is created")
	require.Equal(t, "docker.io/library/postgres:17", sts.Spec.Template.Spec.Containers[0].Image)
	require.Equal(t, appsv1.RetainPersistentVolumeClaimRetentionPolicyType, sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted,
		"the volume is kept while the upgrade can still roll back")
	h.Eventually(func() bool {
		m := h.database("major").Status.MajorUpgrade
		return m != nil && m.Phase == componentsv1alpha1.PhaseRunning && m.Step == componentsv1alpha1.MajorStepReplacing &&
			m.PreviousVolumeClaim == "data-major-postgres-0" && m.VolumeClaim == newVolume+"-major-postgres-0" && m.FromVersion == "16"
	}, "the upgrade reports its volumes")

	h.runPod("major", true, "")
	job := h.restoreJob("major", "major-"+newVolume)
	require.Contains(t, job.Spec.Template.Spec.InitContainers[0].Args, "--name="+backup)
	require.Equal(t, "docker.io/library/postgres:17", job.Spec.Template.Spec.Containers[0].Image, "the new major's pg_restore loads the dump")
	require.False(t, conditions.IsTrue(h.database("major"), componentsv1alpha1.ConditionReady), "not Ready before the data is loaded")
	h.finishRestore(job.Name, agent.Result{Operation: agent.OperationRestore, Succeeded: true, Name: backup})

	h.statefulSet("major", func(s *appsv1.StatefulSet) bool {
		return s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}, "after the upgrade, volumeRetention applies to the new volume again")
	h.runPod("major", true, "") // the StatefulSet controller observes that change
	db := h.waitReady("major")
	require.Equal(t, "17", db.Status.Version)
	require.Equal(t, componentsv1alpha1.PhaseSucceeded, db.Status.MajorUpgrade.Phase)
	require.NotNil(t, db.Status.MajorUpgrade.CompletionTime)
	require.Equal(t, newVolume+"-major-postgres-0", db.Status.VolumeClaim)
	require.NoError(t, h.Get(&corev1.PersistentVolumeClaim{}, "data-major-postgres-0"), "the old volume is kept until the user removes it")
	h.Eventually(func() bool { return slices.Contains(testenv.EventReasons(t, h.C, db), "MajorUpgradeSucceeded") }, "the MajorUpgradeSucceeded event")
	require.NotContains(t, testenv.EventReasons(t, h.C, db), "Recreated", "replacing the StatefulSet is the upgrade, not a remediation")
}

// TestMinorVersionRollsInPlace: a new PostgreSQL minor version of the same major is a new image on
// the same StatefulSet and the same data volume: no backup, no restore, no new claim.
func TestMinorVersionRollsInPlace(t *testing.T) {
	h := start(t)
	h.readyDatabase("minor", "17.2")
	before := h.statefulSet("minor", func(*appsv1.StatefulSet) bool { return true }, "sts")
	h.update("minor", func(d *componentsv1alpha1.Database) { d.Spec.Version = "17.4" })
	sts := h.statefulSet("minor", func(s *appsv1.StatefulSet) bool {
		return s.Spec.Template.Spec.Containers[0].Image == "docker.io/library/postgres:17.4"
	}, "the new minor's image rolls")
	require.Equal(t, before.UID, sts.UID, "the same StatefulSet")
	require.Equal(t, desired.DefaultDataVolume, sts.Spec.VolumeClaimTemplates[0].Name, "on the same data volume")
	h.runPod("minor", true, "")
	db := h.waitReady("minor")
	require.Equal(t, "17.4", db.Status.Version)
	require.Nil(t, db.Status.MajorUpgrade, "no major upgrade")
	var jobs batchv1.JobList
	require.NoError(t, h.C.List(context.Background(), &jobs, client.InNamespace(h.NS)))
	require.Empty(t, jobs.Items, "no restore")
}

// TestRecreatedDatabaseMountsItsCurrentData: after a major upgrade the data lives on the new
// major's claim, which only Database.status remembered. The claim is labelled as current, so a
// Database deleted and recreated by its Stack (empty status, no StatefulSet) mounts it — not the
// first claim, and not a fresh empty one when that first claim was deleted by hand.
func TestRecreatedDatabaseMountsItsCurrentData(t *testing.T) {
	h := start(t)
	h.readyDatabase("re", "16")
	first := h.ownedClaim("re", desired.DefaultDataVolume)
	h.update("re", func(d *componentsv1alpha1.Database) { d.Spec.Version, d.Spec.AllowMajorVersionUpgrade = "17", true })
	const backup = "re-20261126-020000"
	newVolume := h.startMajorUpgrade("re", backup)
	h.statefulSet("re", func(s *appsv1.StatefulSet) bool { return s.Spec.VolumeClaimTemplates[0].Name == newVolume }, "the new StatefulSet")
	upgraded := h.ownedClaim("re", newVolume)
	h.runPod("re", true, "")
	h.finishRestore(h.restoreJob("re", "major-"+newVolume).Name, agent.Result{Operation: agent.OperationRestore, Succeeded: true, Name: backup})
	h.runPod("re", true, "")
	h.waitReady("re")
	claimLabel := func(name string) string {
		pvc := &corev1.PersistentVolumeClaim{}
		if h.Get(pvc, name) != nil {
			return "gone"
		}
		return pvc.Labels[desired.LabelCurrentData]
	}
	h.Eventually(func() bool { return claimLabel(upgraded.Name) == "true" && claimLabel(first.Name) == "" },
		"the new major's claim is labelled as holding the data, the old one is not")

	// The old major's claim is removed by hand; then the Database is deleted. envtest runs no
	// garbage collector: the test deletes what the Database owned, as the collector would.
	require.NoError(t, h.C.Delete(context.Background(), first))
	old := h.database("re")
	require.NoError(t, h.C.Delete(context.Background(), old))
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&componentsv1alpha1.Database{}, "re")) }, "the Database is gone")
	h.collectGarbage(old.UID)
	h.deletePod("re")

	// The Stack recreates it from its spec: version 17, the upgrade's backup still named.
	h.create("re", "17", func(d *componentsv1alpha1.Database) {
		d.Spec.AllowMajorVersionUpgrade = true
		d.Spec.MajorUpgrade = &componentsv1alpha1.MajorUpgradeRequest{FromBackup: componentsv1alpha1.BackupSource{BackupName: backup,
			Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}}}}
	})
	sts := h.statefulSet("re", func(*appsv1.StatefulSet) bool { return true }, "the StatefulSet is recreated")
	require.Equal(t, newVolume, sts.Spec.VolumeClaimTemplates[0].Name, "the recreated Database mounts the claim that holds its data")
	require.Equal(t, "docker.io/library/postgres:17", sts.Spec.Template.Spec.Containers[0].Image)
	h.runPod("re", true, "")
	db := h.waitReady("re")
	require.Equal(t, upgraded.Name, db.Status.VolumeClaim)
	require.Equal(t, "true", claimLabel(upgraded.Name))
}

// TestMajorUpgradeRollsBack: a restore that fails brings the old major back on its untouched
// volume and reports the failure; the same backup is not tried again, a new one is.
func TestMajorUpgradeRollsBack(t *testing.T) {
	h := start(t)
	h.readyDatabase("fail", "16")
	h.update("fail", func(d *componentsv1alpha1.Database) { d.Spec.Version, d.Spec.AllowMajorVersionUpgrade = "17", true })
	const backup = "fail-20261126-020000"
	newVolume := h.startMajorUpgrade("fail", backup)
	h.statefulSet("fail", func(s *appsv1.StatefulSet) bool { return s.Spec.VolumeClaimTemplates[0].Name == newVolume }, "the new StatefulSet")
	h.runPod("fail", true, "")
	job := h.restoreJob("fail", "major-"+newVolume)
	h.finishRestore(job.Name, agent.Result{Operation: agent.OperationRestore, Succeeded: false, Reason: agent.ReasonChecksumMismatch,
		Message: "dump.pgc does not match"})

	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&appsv1.StatefulSet{}, "fail-postgres")) }, "the new StatefulSet goes")
	h.deletePod("fail")
	sts := h.statefulSet("fail", func(s *appsv1.StatefulSet) bool { return s.Spec.VolumeClaimTemplates[0].Name == "data" }, "the old StatefulSet comes back")
	require.Equal(t, "docker.io/library/postgres:16", sts.Spec.Template.Spec.Containers[0].Image)
	require.Equal(t, "RollingBack", h.database("fail").Status.MajorUpgrade.Step)
	h.runPod("fail", true, "")
	h.Eventually(func() bool {
		c := conditions.Get(h.database("fail"), componentsv1alpha1.ConditionStalled)
		return c != nil && c.Reason == componentsv1alpha1.ReasonMajorUpgradeFailed && strings.Contains(c.Message, "ChecksumMismatch")
	}, "the failed upgrade is reported")
	db := h.database("fail")
	require.Equal(t, "16", db.Status.Version)
	require.Equal(t, componentsv1alpha1.PhaseFailed, db.Status.MajorUpgrade.Phase)
	require.Equal(t, "data-fail-postgres-0", db.Status.VolumeClaim)
	h.Eventually(func() bool { return slices.Contains(testenv.EventReasons(t, h.C, db), "MajorUpgradeFailed") }, "the MajorUpgradeFailed event")

	// A new backup starts a new attempt on a fresh volume (that the same backup is not loaded
	// again is TestPlanMajor's).
	retry := h.startMajorUpgrade("fail", "fail-20261127-020000")
	require.NotEqual(t, newVolume, retry)
}

// startMajorUpgrade names the backup to load and plays the garbage collector: the old pod goes
// once its StatefulSet is deleted. It returns the new data volume's claim template.
func (h *harness) startMajorUpgrade(name, backup string) string {
	h.T.Helper()
	h.update(name, func(d *componentsv1alpha1.Database) {
		d.Spec.MajorUpgrade = &componentsv1alpha1.MajorUpgradeRequest{FromBackup: componentsv1alpha1.BackupSource{BackupName: backup,
			Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}}}}
	})
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&appsv1.StatefulSet{}, name+"-postgres")) }, "the old StatefulSet goes")
	require.True(h.T, apierrors.IsNotFound(h.Get(&appsv1.StatefulSet{}, name+"-postgres")))
	h.deletePod(name)
	return desired.MajorDataVolume("17", backup)
}

// ownedClaim creates the data claim of the pod as the StatefulSet controller does: with the claim
// template's labels, and owned by the StatefulSet when volumeRetention is Delete.
func (h *harness) ownedClaim(name, template string) *corev1.PersistentVolumeClaim {
	h.T.Helper()
	sts := h.statefulSet(name, func(*appsv1.StatefulSet) bool { return true }, "sts")
	var labels map[string]string
	for _, t := range sts.Spec.VolumeClaimTemplates {
		if t.Name == template {
			labels = t.Labels
		}
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: template + "-" + name + "-postgres-0", Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: sts.Name, UID: sts.UID}}},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	require.NoError(h.T, h.C.Create(context.Background(), pvc))
	return pvc
}

// collectGarbage plays the garbage collector for a deleted owner: every object of the namespace
// it controlled is deleted.
func (h *harness) collectGarbage(owner types.UID) {
	h.T.Helper()
	ctx := context.Background()
	for _, list := range []client.ObjectList{&appsv1.StatefulSetList{}, &corev1.ServiceList{}, &corev1.ConfigMapList{}, &corev1.SecretList{},
		&networkingv1.NetworkPolicyList{}, &policyv1.PodDisruptionBudgetList{}, &batchv1.JobList{}, &corev1.PersistentVolumeClaimList{}} {
		require.NoError(h.T, h.C.List(ctx, list, client.InNamespace(h.NS)))
		items, err := meta.ExtractList(list)
		require.NoError(h.T, err)
		for _, item := range items {
			obj := item.(client.Object)
			if ref := metav1.GetControllerOf(obj); ref != nil && ref.UID == owner {
				require.NoError(h.T, client.IgnoreNotFound(h.C.Delete(ctx, obj)))
			}
		}
	}
}

func (h *harness) deletePod(name string) {
	h.T.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: name + "-postgres-0"}}
	require.NoError(h.T, client.IgnoreNotFound(h.C.Delete(context.Background(), pod, client.GracePeriodSeconds(0))))
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&corev1.Pod{}, pod.Name)) }, "the pod is gone")
}

func (h *harness) restoreJob(name, id string) *batchv1.Job {
	h.T.Helper()
	job := &batchv1.Job{}
	jobName := desired.RestoreJobName(h.database(name), id)
	h.Eventually(func() bool { return h.Get(job, jobName) == nil }, "the restore Job %s starts", id)
	return job
}

// TestCredentialRotation: a rotation token sets a new password inside PostgreSQL, then in the
// Secret; nothing pending is left behind.
func TestCredentialRotation(t *testing.T) {
	h := start(t)
	h.readyDatabase("rot", "17")
	old := &corev1.Secret{}
	require.NoError(t, h.Get(old, "rot-db-credentials"))
	h.update("rot", func(d *componentsv1alpha1.Database) { d.Spec.CredentialsRotation = "2026-11-26" })
	h.Eventually(func() bool { return h.database("rot").Status.CredentialsRotation == "2026-11-26" }, "the rotation completes")
	secret := &corev1.Secret{}
	require.NoError(t, h.Get(secret, "rot-db-credentials"))
	h.admin.mu.Lock()
	set := h.admin.passwords[desired.AppUser]
	conn := h.admin.conns[len(h.admin.conns)-1]
	h.admin.mu.Unlock()
	require.NotEmpty(t, set)
	require.Equal(t, set, string(secret.Data["password"]), "the Secret holds the password PostgreSQL accepted")
	require.NotEqual(t, old.Data["password"], secret.Data["password"])
	require.NotContains(t, secret.Data, pendingPasswordKey)
	require.Equal(t, desired.SuperUser, conn.User)
	require.Equal(t, "rot-postgres."+h.NS+".svc", conn.Host)
}

// TestOptionalAPIsAppearLater: once the cert-manager and Prometheus-operator CRDs are installed, the
// Certificate, ServiceMonitor and PrometheusRule appear without a restart. When they go again, the
// Database reports it and carries on; TLS stays as it was.
func TestOptionalAPIsAppearLater(t *testing.T) {
	h := start(t)
	h.create("opt", "17", func(db *componentsv1alpha1.Database) {
		withTLS(db)
		db.Spec.Monitoring = &componentsv1alpha1.DatabaseMonitoringSpec{
			MonitoringSpec: componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true), Interval: "30s"}}
	})
	h.waitCondition("opt", componentsv1alpha1.ConditionReady, metav1.ConditionFalse, componentsv1alpha1.ReasonCertManagerMissing)
	cm, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	require.NoError(t, err)
	po, err := testenv.DownloadModule(testenv.PrometheusOperatorModule)
	require.NoError(t, err)
	files := []string{
		filepath.Join(cm, "deploy", "crds", "cert-manager.io_certificates.yaml"),
		filepath.Join(po, "example", "prometheus-operator-crd", "monitoring.coreos.com_servicemonitors.yaml"),
		filepath.Join(po, "example", "prometheus-operator-crd", "monitoring.coreos.com_prometheusrules.yaml"),
	}
	crds, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: files, ErrorIfPathMissing: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, crd := range crds {
			require.NoError(t, client.IgnoreNotFound(h.C.Delete(context.Background(), crd)))
		}
		for _, crd := range crds {
			require.Eventually(t, func() bool {
				return apierrors.IsNotFound(h.C.Get(context.Background(), client.ObjectKeyFromObject(crd), &apiextensionsv1.CustomResourceDefinition{}))
			}, testenv.Wait, testenv.Tick)
		}
	})
	h.Eventually(func() bool { return h.Get(&certmanagerv1.Certificate{}, "opt-postgres-tls") == nil }, "the Certificate appears")
	h.Eventually(func() bool { return h.Get(&monitoringv1.ServiceMonitor{}, "opt-postgres") == nil }, "the ServiceMonitor appears")
	h.Eventually(func() bool { return h.Get(&monitoringv1.PrometheusRule{}, "opt-postgres") == nil }, "the PrometheusRule appears")
	h.Eventually(func() bool {
		db := h.database("opt")
		return conditions.IsTrue(db, componentsv1alpha1.ConditionCertificatesAvailable) && conditions.IsTrue(db,
			componentsv1alpha1.ConditionMonitoringAvailable)
	}, "the conditions follow")
	// Not Ready before the certificate is issued; PostgreSQL waits for the key pair, it does not
	// start without TLS.
	ready := h.waitCondition("opt", componentsv1alpha1.ConditionReady, metav1.ConditionFalse, componentsv1alpha1.ReasonCertificateNotReady)
	require.Contains(t, ready.Message, "opt-postgres-tls")
	h.requireNoStatefulSet("opt", "no StatefulSet before the certificate")
	// Waiting costs nothing: once settled, no reconcile runs until the Certificate changes (the
	// Certificate's events wake the Database; it used to look every 2 s).
	requireNoReconcile(t, "a Database waiting for its certificate is not reconciled again")
	cert := &certmanagerv1.Certificate{}
	require.NoError(t, h.Get(cert, "opt-postgres-tls"))
	ca := h.Issue("opt-postgres-tls", cert.Spec.SecretTemplate.Labels, cert.Spec.DNSNames)
	testenv.Mutate(t, h.C, h.Key("opt-postgres-tls"), func() *certmanagerv1.Certificate { return &certmanagerv1.Certificate{} }, true,
		func(c *certmanagerv1.Certificate) {
			c.Status.Conditions = []certmanagerv1.CertificateCondition{{Type: certmanagerv1.CertificateConditionReady, Status: "True", Reason: "Ready"}}
		})
	h.startedOnceWithCertificate("opt")
	h.runPod("opt", true, "")
	h.waitReady("opt")
	h.requireNoRecreated("opt")
	h.requireVerifyingCredentials("opt", ca)

	// The Prometheus operator is uninstalled: the Database reports it and goes on reconciling
	// (writing a ServiceMonitor now would fail every reconcile).
	for _, crd := range crds {
		if strings.HasSuffix(crd.Name, ".monitoring.coreos.com") {
			require.NoError(t, h.C.Delete(context.Background(), crd))
		}
	}
	h.Eventually(func() bool {
		c := conditions.Get(h.database("opt"), componentsv1alpha1.ConditionMonitoringAvailable)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == componentsv1alpha1.ReasonCRDNotInstalled
	}, "MonitoringAvailable turns False once the CRDs are gone")
	h.update("opt", func(d *componentsv1alpha1.Database) { d.Spec.Monitoring.Interval = "15s" })
	h.Eventually(func() bool {
		db := h.database("opt")
		return db.Status.ObservedGeneration == db.Generation && conditions.IsTrue(db, componentsv1alpha1.ConditionReady)
	}, "later changes are reconciled, and the Database stays Ready")

	// cert-manager is uninstalled: PostgreSQL keeps serving TLS with the key pair it has, the
	// credentials keep verifying it, and a condition says that nothing renews the certificate.
	before := h.statefulSet("opt", h.servesTLS, "sts")
	for _, crd := range crds {
		if strings.HasSuffix(crd.Name, ".cert-manager.io") {
			require.NoError(t, h.C.Delete(context.Background(), crd))
		}
	}
	certs := h.waitCondition("opt", componentsv1alpha1.ConditionCertificatesAvailable, metav1.ConditionFalse, componentsv1alpha1.ReasonCRDNotInstalled)
	require.Contains(t, certs.Message, "PostgreSQL keeps serving TLS with the key pair in the Secret opt-postgres-tls")
	require.Contains(t, certs.Message, "which nothing renews")
	db := h.database("opt")
	require.True(t, conditions.IsTrue(db, componentsv1alpha1.ConditionReady), "it serves, verified")
	require.Contains(t, conditions.Get(db, componentsv1alpha1.ConditionReady).Message, "cert-manager is not installed to renew its certificate")
	after := h.statefulSet("opt", h.servesTLS, "TLS stays")
	require.Equal(t, before.Generation, after.Generation, "PostgreSQL is not restarted")
	require.Equal(t, before.Spec.Template, after.Spec.Template)
	h.requireVerifyingCredentials("opt", ca)
}

// finishRestore plays the Job controller and the kubelet for a restore Job: the agent's result in
// the fetch container's termination message, and the Job Complete or Failed.
func (h *harness) finishRestore(jobName string, result agent.Result) {
	h.T.Helper()
	ctx := context.Background()
	job := &batchv1.Job{}
	require.NoError(h.T, h.Get(job, jobName))
	msg, err := json.Marshal(result)
	require.NoError(h.T, err)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: jobName + "-p",
		Labels: map[string]string{"job-name": jobName, "app.kubernetes.io/managed-by": "canopy"}}, Spec: *job.Spec.Template.Spec.DeepCopy()}
	require.NoError(h.T, h.C.Create(ctx, pod))
	exit := int32(0)
	if !result.Succeeded {
		exit = 1
	}
	pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "fetch",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit, Message: string(msg)}}}}
	require.NoError(h.T, h.C.Status().Update(ctx, pod))
	now := metav1.Now()
	job.Status.StartTime = &now
	if result.Succeeded {
		job.Status.Succeeded, job.Status.CompletionTime = 1, &now
		job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	} else {
		job.Status.Failed = 1
		job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded",
			LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit",
				LastTransitionTime: now}}
	}
	require.NoError(h.T, h.C.Status().Update(ctx, job))
}

// TestDataVolumesFollowRetention: data volumes the Database no longer runs on are listed with their
// size and deleted only when spec.releaseVolumes names them (never the one in use); deleting a
// Database with volumeRetention: Delete deletes every data volume it ever had, and with Retain none.
func TestDataVolumesFollowRetention(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	claim := func(db, template, size string) *corev1.PersistentVolumeClaim {
		d := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: db, Labels: map[string]string{"canopy.dev/stack": db}}}
		pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: desired.ClaimName(d, template), Labels: desired.Labels(d)},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}}}
		require.NoError(t, h.C.Create(ctx, pvc))
		return pvc
	}
	deleted := func(pvc *corev1.PersistentVolumeClaim) bool {
		got := &corev1.PersistentVolumeClaim{}
		err := h.Get(got, pvc.Name)
		// envtest runs no pvc-protection controller: a deleted claim may stay, marked for deletion.
		return apierrors.IsNotFound(err) || (err == nil && !got.DeletionTimestamp.IsZero())
	}

	for _, retention := range []componentsv1alpha1.RetainPolicy{componentsv1alpha1.Delete, componentsv1alpha1.Retain} {
		name := strings.ToLower(string(retention))
		h.readyDatabase(name, "17")
		inUse := h.ownedClaim(name, desired.DefaultDataVolume)
		old := claim(name, desired.MajorDataVolume("16", "b1"), "2Gi")
		older := claim(name, desired.MajorDataVolume("15", "b0"), "3Gi")
		h.Eventually(func() bool {
			kept := h.database(name).Status.KeptVolumes
			return len(kept) == 2 && kept[0].Size != nil && kept[1].Size != nil && kept[0].Reason == componentsv1alpha1.KeptNotInUse
		}, "the volumes not in use are listed, with their size")
		kept := h.database(name).Status.KeptVolumes
		require.Equal(t, []string{older.Name, old.Name}, []string{kept[0].ClaimName, kept[1].ClaimName}, "sorted by name: a stable status")

		h.update(name, func(d *componentsv1alpha1.Database) { d.Spec.ReleaseVolumes = []string{old.Name, inUse.Name} })
		h.Eventually(func() bool { return deleted(old) }, "a kept volume named in releaseVolumes is deleted")
		h.Eventually(func() bool { return len(h.database(name).Status.KeptVolumes) == 1 }, "and no longer listed")
		require.False(t, deleted(inUse), "the volume in use is never released")
		require.False(t, deleted(older), "a kept volume not named stays")

		h.update(name, func(d *componentsv1alpha1.Database) { d.Spec.VolumeRetention = retention })
		h.Eventually(func() bool {
			db := h.database(name)
			return db.Status.ObservedGeneration == db.Generation &&
				slices.Contains(db.Finalizers, VolumesFinalizer) == (retention == componentsv1alpha1.Delete)
		}, "the Database carries the volumes finalizer only when its volumes are to be deleted")
		require.NoError(t, h.C.Delete(ctx, h.database(name)))
		h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&componentsv1alpha1.Database{}, name)) }, "the Database is gone")
		for _, pvc := range []*corev1.PersistentVolumeClaim{inUse, older} {
			require.Equal(t, retention == componentsv1alpha1.Delete, deleted(pvc), "volumeRetention %s: the volume %s", retention, pvc.Name)
		}
	}
}

// TestBootstrapNeverOverwritesKeptData: a Stack deleted with its volumes kept and created again
// from a backup finds its old data volume. The restore would run pg_restore --clean over it, so it
// waits for an explicit confirmation and says which volume; with it, the restore runs.
func TestBootstrapNeverOverwritesKeptData(t *testing.T) {
	h := start(t)
	// The claim a deleted Database of the same name left, labelled as its StatefulSet made it.
	db := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "kept", Labels: map[string]string{"canopy.dev/stack": "kept"}}}
	kept := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: desired.ClaimName(db, desired.DefaultDataVolume),
		Labels: desired.Labels(db)}, Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}}
	require.NoError(t, h.C.Create(context.Background(), kept))
	// Creation timestamps have a resolution of one second: the Database must be visibly newer.
	h.Eventually(func() bool { return time.Since(kept.CreationTimestamp.Time) > 1100*time.Millisecond }, "a second passes")

	const backup = "kept-20261101-020000"
	h.create("kept", "17", func(db *componentsv1alpha1.Database) {
		db.Spec.Bootstrap = &componentsv1alpha1.DatabaseBootstrap{FromBackup: componentsv1alpha1.BackupSource{BackupName: backup,
			Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}}}}
	})
	h.statefulSet("kept", func(*appsv1.StatefulSet) bool { return true }, "the StatefulSet is created")
	h.runPod("kept", true, "")
	h.Eventually(func() bool {
		c := conditions.Get(h.database("kept"), componentsv1alpha1.ConditionStalled)
		return c != nil && c.Reason == componentsv1alpha1.ReasonExistingData && strings.Contains(c.Message, kept.Name) &&
			strings.Contains(c.Message, "overwriteExistingData")
	}, "the restore over kept data waits for a confirmation, naming the volume")
	var jobs batchv1.JobList
	require.NoError(t, h.C.List(context.Background(), &jobs, client.InNamespace(h.NS)))
	require.Empty(t, jobs.Items, "no restore Job runs over the kept data")
	require.False(t, conditions.IsTrue(h.database("kept"), componentsv1alpha1.ConditionReady))

	h.update("kept", func(d *componentsv1alpha1.Database) { d.Spec.Bootstrap.OverwriteExistingData = true })
	job := h.restoreJob("kept", bootstrapID)
	h.finishRestore(job.Name, agent.Result{Operation: agent.OperationRestore, Succeeded: true, Name: backup})
	h.waitReady("kept")
}

// TestBootstrapFromBackup: a new database restores its backup before it reports Ready; a backup
// whose checksum does not match is refused and the database left alone.
func TestBootstrapFromBackup(t *testing.T) {
	h := start(t)
	for _, ok := range []bool{true, false} {
		name := map[bool]string{true: "boot", false: "corrupt"}[ok]
		h.create(name, "17", func(db *componentsv1alpha1.Database) {
			db.Spec.Bootstrap = &componentsv1alpha1.DatabaseBootstrap{FromBackup: componentsv1alpha1.BackupSource{
				BackupName: "shop-20261101-020000", Stack: "shop",
				Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}}}}
		})
		h.statefulSet(name, func(*appsv1.StatefulSet) bool { return true }, "sts")
		h.runPod(name, true, "")
		job := &batchv1.Job{}
		jobName := desired.RestoreJobName(h.database(name), bootstrapID)
		h.Eventually(func() bool { return h.Get(job, jobName) == nil }, "the restore Job starts once PostgreSQL runs")
		require.Contains(t, job.Spec.Template.Spec.InitContainers[0].Args, "--name=shop-20261101-020000")
		require.Contains(t, job.Spec.Template.Spec.InitContainers[0].Args, "--stack="+h.NS+".shop", "backups are stored under <namespace>.<stack>")
		require.Equal(t, "shop-backups", job.Spec.Template.Spec.Volumes[1].PersistentVolumeClaim.ClaimName)
		h.Eventually(func() bool {
			c := conditions.Get(h.database(name), componentsv1alpha1.ConditionReady)
			return c != nil && c.Reason == "Restoring"
		}, "not Ready while restoring")

		if ok {
			h.finishRestore(jobName, agent.Result{Operation: agent.OperationRestore, Succeeded: true, Name: "shop-20261101-020000"})
			db := h.waitReady(name)
			require.Equal(t, componentsv1alpha1.PhaseSucceeded, db.Status.Bootstrap.Phase)
			continue
		}
		h.finishRestore(jobName, agent.Result{Operation: agent.OperationRestore, Succeeded: false, Name: "shop-20261101-020000",
			Reason: agent.ReasonChecksumMismatch, Message: "dump.pgc has SHA-256 0bad…, its manifest says 9f3c…"})
		h.Eventually(func() bool {
			c := conditions.Get(h.database(name), componentsv1alpha1.ConditionStalled)
			return c != nil && c.Reason == componentsv1alpha1.ReasonRestoreFailed && strings.Contains(c.Message, "ChecksumMismatch")
		}, "the refused restore is reported")
	}
}

// TestInPlaceRestoreRequest: each request id runs one restore Job; a failed restore leaves the
// database serving its data.
func TestInPlaceRestoreRequest(t *testing.T) {
	h := start(t)
	h.readyDatabase("inplace", "17")
	source := componentsv1alpha1.BackupSource{BackupName: "inplace-20261120-020000",
		Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}}}
	h.update("inplace", func(d *componentsv1alpha1.Database) {
		d.Spec.RestoreRequest = &componentsv1alpha1.RestoreRequest{ID: "r1", Source: source}
	})
	jobName := desired.RestoreJobName(h.database("inplace"), "request-r1")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, jobName) == nil }, "the restore Job starts")
	h.Eventually(func() bool {
		r := h.database("inplace").Status.Restore
		return r != nil && r.ID == "r1" && r.Phase == componentsv1alpha1.PhaseRunning
	}, "running")
	h.finishRestore(jobName, agent.Result{Operation: agent.OperationRestore, Succeeded: true, Name: source.BackupName})
	h.Eventually(func() bool {
		r := h.database("inplace").Status.Restore
		return r != nil && r.Phase == componentsv1alpha1.PhaseSucceeded
	}, "succeeded")
	h.waitReady("inplace")

	h.update("inplace", func(d *componentsv1alpha1.Database) {
		d.Spec.RestoreRequest = &componentsv1alpha1.RestoreRequest{ID: "r2", Source: source}
	})
	job2 := desired.RestoreJobName(h.database("inplace"), "request-r2")
	h.Eventually(func() bool { return h.Get(&batchv1.Job{}, job2) == nil }, "a new id restores again")
	h.finishRestore(job2, agent.Result{Operation: agent.OperationRestore, Succeeded: false, Reason: agent.ReasonNotFound,
		Message: "no backup named inplace-20261120-020000"})
	h.Eventually(func() bool {
		r := h.database("inplace").Status.Restore
		return r != nil && r.ID == "r2" && r.Phase == componentsv1alpha1.PhaseFailed
	}, "failed")
	require.Contains(t, h.database("inplace").Status.Restore.Message, "NotFound")
	h.waitReady("inplace") // the transaction rolled back: the database serves what it had
}

// TestOrphanedObjectsAreNotTakenBack: when a Database is deleted with propagationPolicy Orphan, the
// garbage collector removes its objects' owner references, then the Database goes. A reconcile
// that still sees the Database (it started before the deletion, or the cache has not shown the
// deletion yet) must not write those objects: re-adding the owner reference of the deleted
// Database made the collector delete the StatefulSet that deletionPolicy Orphan keeps running (the
// end-to-end TestDeletePolicies failed that way). Here the Database stays, to hold that
// interleaving open: its objects are orphaned by hand and its spec changes.
func TestOrphanedObjectsAreNotTakenBack(t *testing.T) {
	h := start(t)
	h.readyDatabase("orph", "17")
	ctx := context.Background()
	objs := []struct {
		obj  client.Object
		name string
	}{{&appsv1.StatefulSet{}, "orph-postgres"}, {&corev1.Service{}, "orph-postgres"}, {&corev1.Service{}, "orph-postgres-hl"},
		{&networkingv1.NetworkPolicy{}, "orph-postgres"}, {&policyv1.PodDisruptionBudget{}, "orph-postgres"}, {&corev1.ConfigMap{}, "orph-postgres-init"}}
	for _, o := range objs {
		require.NoError(t, h.Get(o.obj, o.name))
		before := o.obj.DeepCopyObject().(client.Object)
		o.obj.SetOwnerReferences(nil)
		require.NoError(t, h.C.Patch(ctx, o.obj, client.MergeFrom(before)), "orphaning %T %s", o.obj, o.name)
	}
	h.update("orph", func(d *componentsv1alpha1.Database) { d.Spec.ExpectedConnections = 150 })
	h.Eventually(func() bool {
		db := h.database("orph")
		c := conditions.Get(db, componentsv1alpha1.ConditionStalled)
		return db.Status.ObservedGeneration == db.Generation && c != nil && c.Reason == componentsv1alpha1.ReasonNameConflict
	}, "the Database reports the objects it no longer controls")
	require.Contains(t, conditions.Get(h.database("orph"), componentsv1alpha1.ConditionReady).Message, "is not controlled by the Database orph")
	for _, o := range objs {
		require.NoError(t, h.Get(o.obj, o.name))
		require.Empty(t, o.obj.GetOwnerReferences(), "%T %s stays orphaned", o.obj, o.name)
	}

	// Labelled for adoption, they are taken over again (at the next reconcile: nothing watches an
	// object the Database does not own; a spec change makes it happen now).
	for _, o := range objs {
		testenv.Mutate(t, h.C, h.Key(o.name), func() client.Object { return o.obj.DeepCopyObject().(client.Object) }, false, func(x client.Object) {
			labels := x.GetLabels()
			labels["canopy.dev/adopt"] = "true"
			x.SetLabels(labels)
		})
	}
	h.update("orph", func(d *componentsv1alpha1.Database) { d.Spec.ExpectedConnections = 160 })
	db := h.database("orph")
	h.Eventually(func() bool {
		for _, o := range objs {
			if h.Get(o.obj, o.name) != nil || !metav1.IsControlledBy(o.obj, db) {
				return false
			}
		}
		return conditions.Get(h.database("orph"), componentsv1alpha1.ConditionStalled) == nil
	}, "the objects labelled for adoption are controlled by the Database again")
}
