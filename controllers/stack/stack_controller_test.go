package stack

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/stack"
	"github.com/canopy-dev/canopy/internal/metrics"
	"github.com/canopy-dev/canopy/internal/testenv"
)

func kstatus(t *testing.T, s *canopyv1alpha1.Stack) status.Status {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
	require.NoError(t, err)
	res, err := status.Compute(&unstructured.Unstructured{Object: m})
	require.NoError(t, err)
	return res.Status
}

// TestOrderedRolloutToReady: the Database comes first; the BackupPolicy and the Frontend only once
// it is Ready; the Stack is Ready (kstatus Current) once all three are; and a reconcile of the Ready
// Stack then sends nothing to the API server.
func TestOrderedRolloutToReady(t *testing.T) {
	h := start(t)
	h.newStack("shop", "1.0")

	// The reconcile that created the Database also wrote the status naming the Database step; by
	// then it had not created the other two.
	h.Eventually(func() bool {
		s := h.stack("shop")
		return s.Status.Rollout != nil && s.Status.Rollout.Step == canopyv1alpha1.RolloutDatabase
	}, "the Stack reports the Database step")
	db := &componentsv1alpha1.Database{}
	require.NoError(t, h.Get(db, "shop"))
	require.True(t, apierrors.IsNotFound(h.Get(&componentsv1alpha1.Frontend{}, "shop")), "no Frontend before the Database is Ready")
	require.True(t, apierrors.IsNotFound(h.Get(&componentsv1alpha1.BackupPolicy{}, "shop")), "no BackupPolicy before the Database is Ready")
	s := h.stack("shop")
	require.Equal(t, status.InProgressStatus, kstatus(t, s))
	require.Equal(t, canopyv1alpha1.ReasonWaitingForDB, conditions.Get(s, canopyv1alpha1.ConditionFrontendReady).Reason)
	require.True(t, metav1.IsControlledBy(db, s))
	require.Equal(t, "database", db.Labels[desired.LabelComponent])
	require.Contains(t, s.Finalizers, Finalizer)

	h.databaseReady("shop")
	fe, bp := &componentsv1alpha1.Frontend{}, &componentsv1alpha1.BackupPolicy{}
	h.Eventually(func() bool { return h.Get(fe, "shop") == nil && h.Get(bp, "shop") == nil }, "Frontend and BackupPolicy follow a Ready Database")
	require.Equal(t, "1.0", fe.Spec.Version)
	require.Equal(t, "shop-db-credentials", fe.Spec.Database.CredentialsSecretName, "the connection comes from the Database's status")
	require.Equal(t, "shop", bp.Spec.DatabaseName)

	h.backupReady("shop", nil)
	h.frontendServing("shop", "1.0")
	h.waitReady("shop")
	s = h.stack("shop")
	require.Equal(t, status.CurrentStatus, kstatus(t, s))
	require.Equal(t, "1.0", s.Status.Version)
	require.Equal(t, "https://shop.example.com", s.Status.URL)
	require.Equal(t, "shop-postgres."+h.NS+".svc:5432", s.Status.DatabaseEndpoint)
	require.Equal(t, "shop-db-credentials", s.Status.CredentialsSecretName)
	require.Equal(t, "shop-nightly", s.Status.LastBackup.Name)
	require.Equal(t, "17.2", s.Status.Components.Database.ObservedVersion)
	require.Nil(t, s.Status.Rollout)
	for _, c := range []string{canopyv1alpha1.ConditionDatabaseReady, canopyv1alpha1.ConditionFrontendReady, canopyv1alpha1.ConditionBackupReady,
		canopyv1alpha1.ConditionUpgradeable} {
		require.True(t, conditions.IsTrue(s, c), c)
	}
	require.Nil(t, conditions.Get(s, componentsv1alpha1.ConditionReconciling))
	require.Nil(t, conditions.Get(s, componentsv1alpha1.ConditionStalled))
	h.WaitEvent(s, "Ready")
	h.Eventually(func() bool {
		ready, ok := testenv.Gauge(t, "canopy_stack_ready", map[string]string{"stack_namespace": h.NS, "stack": "shop"})
		return ok && ready == 1
	}, "canopy_stack_ready is 1")

	// Steady state: reconciling the Ready Stack writes nothing. The reconciler reads through the
	// manager's cache, exactly as in production; the cache has caught up once the Stack is Ready.
	counter := &writeCounter{Client: h.mgr.GetClient()}
	quiet := &Reconciler{Client: counter, Recorder: record.NewFakeRecorder(10), Now: time.Now}
	for range 3 {
		_, err := quiet.Reconcile(context.Background(), ctrl.Request{NamespacedName: h.Key("shop")})
		require.NoError(t, err)
	}
	require.Zero(t, counter.writes.Load(), "a reconcile of an unchanged, Ready Stack must not write")
	require.Equal(t, s.ResourceVersion, h.stack("shop").ResourceVersion)
}

// TestStatusShowsEveryFailingChild: two children failing at once are both named.
func TestStatusShowsEveryFailingChild(t *testing.T) {
	h := start(t)
	h.newStack("multi", "1.0")
	h.Eventually(func() bool { return h.Get(&componentsv1alpha1.Database{}, "multi") == nil }, "the Database is created")
	h.databaseReady("multi")
	h.Eventually(func() bool { return h.Get(&componentsv1alpha1.BackupPolicy{}, "multi") == nil }, "the BackupPolicy is created")
	setStatus(h, "multi", func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, func(f *componentsv1alpha1.Frontend) {
		f.Status.ObservedGeneration = f.Generation
		f.Status.Conditions = []metav1.Condition{
			{Type: componentsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "ImagePullBackOff",
				Message: "image ghcr.io/acme/shop:1.0 not found", LastTransitionTime: metav1.Now()},
			{Type: componentsv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "ImagePullBackOff",
				Message: "image ghcr.io/acme/shop:1.0 not found", LastTransitionTime: metav1.Now()},
		}
	})
	setStatus(h, "multi", func() *componentsv1alpha1.BackupPolicy { return &componentsv1alpha1.BackupPolicy{} }, func(b *componentsv1alpha1.BackupPolicy) {
		b.Status.ObservedGeneration = b.Generation
		b.Status.Conditions = []metav1.Condition{{Type: componentsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "VolumePending",
			Message: "backup volume is Pending", LastTransitionTime: metav1.Now()}}
	})
	h.Eventually(func() bool {
		s := h.stack("multi")
		ready := conditions.Get(s, componentsv1alpha1.ConditionReady)
		return ready != nil && conditions.IsTrue(s, componentsv1alpha1.ConditionStalled) &&
			containsAll(ready.Message, "frontend: image ghcr.io/acme/shop:1.0 not found", "backup: backup volume is Pending")
	}, "the Stack names both failures")
	s := h.stack("multi")
	require.Equal(t, status.FailedStatus, kstatus(t, s))
	require.Equal(t, "ImagePullBackOff", s.Status.Components.Frontend.Reason)
	require.Equal(t, "VolumePending", s.Status.Components.Backup.Reason)
	require.True(t, s.Status.Components.Database.Ready)
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !contains(s, p) {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

// TestUpgradeAwaitsBackupThenSucceeds: the pre-upgrade backup is requested and awaited before the
// Frontend moves; OLM is told not to upgrade Canopy meanwhile.
func TestUpgradeAwaitsBackupThenSucceeds(t *testing.T) {
	h := start(t)
	h.readyStack("up", "1.0")
	h.updateStack("up", func(s *canopyv1alpha1.Stack) { s.Spec.Version = "2.0" })

	bp := &componentsv1alpha1.BackupPolicy{}
	h.Eventually(func() bool {
		return h.Get(bp, "up") == nil && bp.Spec.BackupRequest != "" && h.stack("up").Status.Upgrade != nil
	}, "a pre-upgrade backup is requested")
	s := h.stack("up")
	require.Equal(t, canopyv1alpha1.UpgradeBackingUp, s.Status.Upgrade.Phase)
	require.Equal(t, bp.Spec.BackupRequest, s.Status.Upgrade.BackupRequest)
	require.False(t, conditions.IsTrue(s, canopyv1alpha1.ConditionUpgradeable))
	require.Equal(t, "1.0", s.Status.Version, "status.version is the version serving, not the one requested")
	fe := &componentsv1alpha1.Frontend{}
	require.NoError(t, h.Get(fe, "up"))
	require.Equal(t, "1.0", fe.Spec.Version, "the Frontend waits for the backup")

	h.backupReady("up", &componentsv1alpha1.BackupRequestStatus{ID: bp.Spec.BackupRequest, Phase: componentsv1alpha1.PhaseSucceeded,
		BackupName: "up-pre-upgrade"})
	h.Eventually(func() bool { return h.Get(fe, "up") == nil && fe.Spec.Version == "2.0" }, "the Frontend moves to 2.0 after the backup")
	require.Equal(t, "1.0", h.stack("up").Status.Version)

	h.frontendServing("up", "2.0")
	// The new serving version reaches the BackupPolicy (it is recorded in each backup); its
	// controller observes that spec.
	h.Eventually(func() bool { return h.Get(bp, "up") == nil && bp.Spec.AppVersion == "2.0" }, "backups record the new version")
	h.backupReady("up", &componentsv1alpha1.BackupRequestStatus{ID: bp.Spec.BackupRequest, Phase: componentsv1alpha1.PhaseSucceeded,
		BackupName: "up-pre-upgrade"})
	h.waitReady("up")
	s = h.stack("up")
	require.Equal(t, "2.0", s.Status.Version)
	require.Equal(t, canopyv1alpha1.UpgradeSucceeded, s.Status.Upgrade.Phase)
	require.Equal(t, "up-pre-upgrade", s.Status.Upgrade.BackupName)
	require.True(t, conditions.IsTrue(s, canopyv1alpha1.ConditionUpgradeable))
	h.Eventually(func() bool {
		hist := h.gate.history()
		return len(hist) >= 3 && !hist[len(hist)-2] && hist[len(hist)-1]
	}, "OLM's Upgradeable went false during the upgrade and back to true: %v", h.gate.history())
	h.WaitEvent(s, "PreUpgradeBackupCompleted")
	h.WaitEvent(s, "UpgradeSucceeded")
}

// TestUpgradeFailureRollsBack: the Frontend reports the new version failed; the Stack returns it to
// the last good version, keeps status.version, and reports UpgradeFailed with the child's message.
func TestUpgradeFailureRollsBack(t *testing.T) {
	h := start(t)
	noBackup := func(s *canopyv1alpha1.Stack) { s.Spec.Backup = nil }
	h.readyStack("rb", "1.0", noBackup)
	rollbacks := testutil.ToFloat64(metrics.StackRollbacks)
	h.updateStack("rb", func(s *canopyv1alpha1.Stack) { s.Spec.Version = "2.0" })
	fe := &componentsv1alpha1.Frontend{}
	h.Eventually(func() bool { return h.Get(fe, "rb") == nil && fe.Spec.Version == "2.0" }, "the Frontend moves to 2.0")

	setStatus(h, "rb", func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, func(f *componentsv1alpha1.Frontend) {
		f.Status.ObservedGeneration = f.Generation
		f.Status.DesiredVersion, f.Status.Version, f.Status.FailedVersion = "2.0", "1.0", "2.0"
		msg := "Deployment rb-web exceeded its progress deadline: 0 of 2 pods of 2.0 available"
		f.Status.Conditions = []metav1.Condition{
			{Type: componentsv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: componentsv1alpha1.ReasonRolloutFailed, Message: msg,
				LastTransitionTime: metav1.Now()},
			{Type: componentsv1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: componentsv1alpha1.ReasonRolloutFailed, Message: msg,
				LastTransitionTime: metav1.Now()},
		}
	})
	h.Eventually(func() bool { return h.Get(fe, "rb") == nil && fe.Spec.Version == "1.0" }, "the Frontend returns to 1.0")
	h.Eventually(func() bool { return conditions.IsTrue(h.stack("rb"), componentsv1alpha1.ConditionDegraded) }, "the Stack is Degraded")
	s := h.stack("rb")
	require.Equal(t, "1.0", s.Status.Version)
	require.Equal(t, canopyv1alpha1.UpgradeFailed, s.Status.Upgrade.Phase)
	degraded := conditions.Get(s, componentsv1alpha1.ConditionDegraded)
	require.Equal(t, componentsv1alpha1.ReasonUpgradeFailed, degraded.Reason)
	require.Contains(t, degraded.Message, "exceeded its progress deadline")
	require.Equal(t, componentsv1alpha1.ReasonUpgradeFailed, conditions.Get(s, componentsv1alpha1.ConditionStalled).Reason)
	require.Equal(t, status.FailedStatus, kstatus(t, s))
	require.True(t, conditions.IsTrue(s, canopyv1alpha1.ConditionUpgradeable), "a finished (failed) upgrade no longer holds OLM back")
	h.WaitEvent(s, componentsv1alpha1.ReasonUpgradeFailed)
	require.Equal(t, rollbacks+1, testutil.ToFloat64(metrics.StackRollbacks))
}

// TestDriftIsReverted: a manual edit of a child's spec is overwritten, with a Warning event and a
// counter.
func TestDriftIsReverted(t *testing.T) {
	h := start(t)
	s := h.readyStack("drift", "1.0")
	before := testutil.ToFloat64(metrics.DriftCorrections.WithLabelValues("Database", "overwritten"))
	db := &componentsv1alpha1.Database{}
	require.NoError(t, h.Get(db, "drift"))
	require.Equal(t, int32(100), db.Spec.ExpectedConnections)
	db.Spec.ExpectedConnections = 500
	require.NoError(t, h.C.Update(context.Background(), db))

	h.Eventually(func() bool { return h.Get(db, "drift") == nil && db.Spec.ExpectedConnections == 100 }, "the manual edit is reverted")
	h.WaitEvent(s, "Overwritten")
	require.Equal(t, before+1, testutil.ToFloat64(metrics.DriftCorrections.WithLabelValues("Database", "overwritten")))
}

// TestDeletedChildIsRecreated: a deleted child comes back, with a Warning event.
func TestDeletedChildIsRecreated(t *testing.T) {
	h := start(t)
	s := h.readyStack("again", "1.0")
	fe := &componentsv1alpha1.Frontend{}
	require.NoError(t, h.Get(fe, "again"))
	oldUID := fe.UID
	require.NoError(t, h.C.Delete(context.Background(), fe))
	h.Eventually(func() bool { return h.Get(fe, "again") == nil && fe.UID != oldUID }, "the Frontend is recreated")
	h.WaitEvent(s, "Recreated")
}

// TestDeletePolicyTearsDownInReverseOrderAndKeepsData: with deletionPolicy Delete the Frontend
// goes first and is awaited before the Database, and the Database is deleted still saying
// volumeRetention Retain: its controller keeps the data volume (that the volume then survives the
// real garbage collector is the e2e TestDeletePolicies'; envtest runs no collector).
func TestDeletePolicyTearsDownInReverseOrderAndKeepsData(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	h.readyStack("gone", "1.0")
	// Hold the Frontend and the Database in deletion to observe the order and what they say then.
	const hold = "test.canopy.dev/hold"
	fe, db := &componentsv1alpha1.Frontend{}, &componentsv1alpha1.Database{}
	for _, obj := range []client.Object{fe, db} {
		require.NoError(t, h.Get(obj, "gone"))
		controllerutil.AddFinalizer(obj, hold)
		require.NoError(t, h.C.Update(ctx, obj))
	}

	require.NoError(t, h.C.Delete(ctx, h.stack("gone")))
	h.Eventually(func() bool { return h.Get(fe, "gone") == nil && !fe.DeletionTimestamp.IsZero() }, "the Frontend is deleted first")
	h.Eventually(func() bool {
		ready := conditions.Get(h.stack("gone"), componentsv1alpha1.ConditionReady)
		return ready != nil && ready.Reason == canopyv1alpha1.ReasonDeleting && contains(ready.Message, "waiting for the Frontend")
	}, "the deletion says what it waits for")
	require.NoError(t, h.Get(db, "gone"))
	require.True(t, db.DeletionTimestamp.IsZero(), "the Database waits for the Frontend to go")

	controllerutil.RemoveFinalizer(fe, hold)
	require.NoError(t, h.C.Update(ctx, fe))
	h.Eventually(func() bool { return h.Get(db, "gone") == nil && !db.DeletionTimestamp.IsZero() }, "then the Database is deleted")
	require.Equal(t, componentsv1alpha1.Retain, db.Spec.VolumeRetention, "without dataRetention the data volume is kept")
	controllerutil.RemoveFinalizer(db, hold)
	require.NoError(t, h.C.Update(ctx, db))
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&canopyv1alpha1.Stack{}, "gone")) }, "the Stack is gone")
	require.True(t, apierrors.IsNotFound(h.Get(&componentsv1alpha1.Database{}, "gone")))
	require.True(t, apierrors.IsNotFound(h.Get(&componentsv1alpha1.BackupPolicy{}, "gone")))
	require.True(t, apierrors.IsNotFound(h.Get(&componentsv1alpha1.Frontend{}, "gone")))
}

// TestOrphanPolicyOrphansChildren: with Orphan the children are deleted with orphan propagation, so
// the garbage collector strips their workloads' owner references, and the Stack goes at once.
func TestOrphanPolicyOrphansChildren(t *testing.T) {
	h := start(t)
	h.readyStack("keep", "1.0", func(s *canopyv1alpha1.Stack) { s.Spec.DeletionPolicy = canopyv1alpha1.DeletionPolicyOrphan })
	require.NoError(t, h.C.Delete(context.Background(), h.stack("keep")))
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&canopyv1alpha1.Stack{}, "keep")) }, "the Stack is gone")
	// envtest runs no garbage collector: the children stay with the API server's orphan finalizer,
	// which the collector honours by orphaning their dependents before removing them.
	for _, obj := range []client.Object{&componentsv1alpha1.Database{}, &componentsv1alpha1.Frontend{}, &componentsv1alpha1.BackupPolicy{}} {
		require.NoError(t, h.Get(obj, "keep"))
		require.False(t, obj.GetDeletionTimestamp().IsZero(), "%T is being deleted", obj)
		require.Contains(t, obj.GetFinalizers(), metav1.FinalizerOrphanDependents, "%T is deleted with orphan propagation", obj)
	}
}

// TestStuckChildDoesNotWedgeDeletion: a child that never goes away holds the Stack only until the
// step timeout.
func TestStuckChildDoesNotWedgeDeletion(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	h.readyStack("stuck", "1.0", func(s *canopyv1alpha1.Stack) { s.Spec.Backup = nil })
	fe := &componentsv1alpha1.Frontend{}
	require.NoError(t, h.Get(fe, "stuck"))
	controllerutil.AddFinalizer(fe, "test.canopy.dev/never")
	require.NoError(t, h.C.Update(ctx, fe))
	t.Cleanup(func() {
		if h.Get(fe, "stuck") == nil {
			controllerutil.RemoveFinalizer(fe, "test.canopy.dev/never")
			_ = h.C.Update(ctx, fe)
		}
	})
	s := h.stack("stuck")
	require.NoError(t, h.C.Delete(ctx, s))
	h.Eventually(func() bool {
		return conditions.Get(h.stack("stuck"), componentsv1alpha1.ConditionReady).Reason == canopyv1alpha1.ReasonDeleting
	}, "the Stack waits for the Frontend")
	h.offset.Store(int64(16 * time.Minute)) // past the default 15m step timeout
	h.updateStack("stuck", func(s *canopyv1alpha1.Stack) { s.Annotations = map[string]string{"poke": "1"} })
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&canopyv1alpha1.Stack{}, "stuck")) }, "the Stack goes after the timeout")
	h.WaitEvent(s, "DeletionTimeout")
}

// TestPauseMakesNoChanges: while paused, spec changes do not reach the children, and status says so.
func TestPauseMakesNoChanges(t *testing.T) {
	h := start(t)
	h.readyStack("nap", "1.0")
	h.updateStack("nap", func(s *canopyv1alpha1.Stack) {
		s.Spec.Paused = true
		s.Spec.Database.ExpectedConnections = 300
	})
	h.Eventually(func() bool {
		s := h.stack("nap")
		return s.Status.ObservedGeneration == s.Generation && conditions.IsTrue(s, canopyv1alpha1.ConditionPaused)
	}, "the Stack reports Paused")
	db := &componentsv1alpha1.Database{}
	require.NoError(t, h.Get(db, "nap"))
	require.Equal(t, int32(100), db.Spec.ExpectedConnections, "no change while paused")

	h.updateStack("nap", func(s *canopyv1alpha1.Stack) { s.Spec.Paused = false })
	h.Eventually(func() bool { return h.Get(db, "nap") == nil && db.Spec.ExpectedConnections == 300 }, "the change lands after unpausing")
	h.Eventually(func() bool { return conditions.Get(h.stack("nap"), canopyv1alpha1.ConditionPaused) == nil }, "Paused is gone")
}

// TestNameConflictAndAdoption: a same-named object that the Stack does not own is never overwritten;
// labelled for adoption, it is taken over.
func TestNameConflictAndAdoption(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	other := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "mine"},
		Spec: componentsv1alpha1.DatabaseSpec{Version: "16", ExpectedConnections: 42}}
	require.NoError(t, h.C.Create(ctx, other))
	h.newStack("mine", "1.0")
	h.Eventually(func() bool {
		c := conditions.Get(h.stack("mine"), componentsv1alpha1.ConditionStalled)
		return c != nil && c.Reason == componentsv1alpha1.ReasonNameConflict
	}, "the conflict is reported")
	require.NoError(t, h.Get(other, "mine"))
	require.Equal(t, int32(42), other.Spec.ExpectedConnections, "the foreign object is untouched")

	// Labelled for adoption, it is taken over only if the Stack's spec may legally replace its own:
	// a PostgreSQL 16 database cannot become the Stack's 17 without allowMajorVersionUpgrade.
	other.Labels = map[string]string{canopyv1alpha1.LabelAdopt: "true"}
	require.NoError(t, h.C.Update(ctx, other))
	h.updateStack("mine", func(s *canopyv1alpha1.Stack) { s.Annotations = map[string]string{"poke": "1"} })
	h.Eventually(func() bool {
		c := conditions.Get(h.stack("mine"), componentsv1alpha1.ConditionStalled)
		return c != nil && c.Reason == canopyv1alpha1.ReasonChildRejected && contains(c.Message, "allowMajorVersionUpgrade")
	}, "the refused adoption is reported")

	require.NoError(t, h.Get(other, "mine"))
	other.Spec.Version, other.Spec.AllowMajorVersionUpgrade = "17", true
	require.NoError(t, h.C.Update(ctx, other))
	h.updateStack("mine", func(s *canopyv1alpha1.Stack) { s.Annotations = map[string]string{"poke": "2"} })
	h.Eventually(func() bool {
		return h.Get(other, "mine") == nil && metav1.IsControlledBy(other, h.stack("mine")) && other.Spec.ExpectedConnections == 100
	}, "the labelled object is adopted")
}

// TestDeletionWithChildCRDUninstalled: the BackupPolicy CRD is removed (for example by an uninstall
// in the wrong order) before the Stack is deleted; the finalizer still completes.
func TestDeletionWithChildCRDUninstalled(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	h.readyStack("nocrd", "1.0")

	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	crdFile := filepath.Join(root, "config", "crd", "bases", "components.canopy.dev_backuppolicies.yaml")
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, h.C.Get(ctx, client.ObjectKey{Name: "backuppolicies.components.canopy.dev"}, crd))
	// envtest has no garbage collector: earlier tests' orphaned BackupPolicies keep the API
	// server's orphan finalizer, which would hold the CRD's deletion forever.
	var leftovers componentsv1alpha1.BackupPolicyList
	require.NoError(t, h.C.List(ctx, &leftovers))
	for i := range leftovers.Items {
		if bp := &leftovers.Items[i]; len(bp.Finalizers) > 0 {
			bp.Finalizers = nil
			require.NoError(t, client.IgnoreNotFound(h.C.Update(ctx, bp)))
		}
	}
	require.NoError(t, h.C.Delete(ctx, crd))
	t.Cleanup(func() {
		// Later tests need the CRD back.
		_, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{crdFile}, ErrorIfPathMissing: true})
		require.NoError(t, err)
	})
	h.Eventually(func() bool {
		return apierrors.IsNotFound(h.C.Get(ctx, client.ObjectKey{Name: crd.Name}, &apiextensionsv1.CustomResourceDefinition{}))
	}, "the CRD is gone")

	require.NoError(t, h.C.Delete(ctx, h.stack("nocrd")))
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&canopyv1alpha1.Stack{}, "nocrd")) }, "the Stack is deleted without the BackupPolicy CRD")
	require.True(t, apierrors.IsNotFound(h.Get(&componentsv1alpha1.Database{}, "nocrd")))
}

// TestReadyWaitsForChildrenToObserveChanges: a spec change of a Ready Stack is not Ready until the
// changed child's controller has observed it (kubectl wait must not pass early).
func TestReadyWaitsForChildrenToObserveChanges(t *testing.T) {
	h := start(t)
	h.readyStack("obs", "1.0")
	h.updateStack("obs", func(s *canopyv1alpha1.Stack) { s.Spec.Frontend.Replicas = ptr.To[int32](5) })
	h.Eventually(func() bool {
		s := h.stack("obs")
		return s.Status.ObservedGeneration == s.Generation
	}, "the change is observed by the Stack")
	s := h.stack("obs")
	require.False(t, conditions.IsTrue(s, componentsv1alpha1.ConditionReady), "the Frontend has not observed its new spec")
	require.Equal(t, canopyv1alpha1.ReasonChildReconciling, conditions.Get(s, canopyv1alpha1.ConditionFrontendReady).Reason)
	h.frontendServing("obs", "1.0")
	h.waitReady("obs")
}

// TestPausedStackReportsPendingChanges: while paused, a spec change is not applied and the Stack
// does not claim to be up to date.
func TestPausedStackReportsPendingChanges(t *testing.T) {
	h := start(t)
	h.readyStack("pz", "1.0")
	h.updateStack("pz", func(s *canopyv1alpha1.Stack) {
		s.Spec.Paused = true
		s.Spec.Version = "2.0"
		s.Spec.Frontend.Replicas = ptr.To[int32](4)
	})
	h.Eventually(func() bool {
		s := h.stack("pz")
		return s.Status.ObservedGeneration == s.Generation && conditions.IsTrue(s, canopyv1alpha1.ConditionPaused)
	}, "paused")
	s := h.stack("pz")
	require.False(t, conditions.IsTrue(s, componentsv1alpha1.ConditionReady))
	require.Equal(t, canopyv1alpha1.ReasonPaused, conditions.Get(s, canopyv1alpha1.ConditionFrontendReady).Reason)
	require.Nil(t, s.Status.Upgrade, "no upgrade starts while paused")
	require.Nil(t, s.Status.Rollout, "no step clock runs while paused")
	require.True(t, conditions.IsTrue(s, canopyv1alpha1.ConditionUpgradeable))
	fe := &componentsv1alpha1.Frontend{}
	require.NoError(t, h.Get(fe, "pz"))
	require.Equal(t, "1.0", fe.Spec.Version)
}

// TestDeletionSetsDataRetentionFirst: with dataRetention Delete, the Database learns it (and its
// controller observes it) before it is deleted; until then data is always retained.
func TestDeletionSetsDataRetentionFirst(t *testing.T) {
	h := start(t)
	h.readyStack("wipe", "1.0", func(s *canopyv1alpha1.Stack) {
		s.Spec.Backup = nil
		s.Spec.DataRetention = &canopyv1alpha1.DataRetention{PersistentVolumeClaims: componentsv1alpha1.Delete}
	})
	db := &componentsv1alpha1.Database{}
	require.NoError(t, h.Get(db, "wipe"))
	require.Equal(t, componentsv1alpha1.Retain, db.Spec.VolumeRetention, "data is retained while the Stack lives")

	require.NoError(t, h.C.Delete(context.Background(), h.stack("wipe")))
	h.Eventually(func() bool { return h.Get(db, "wipe") == nil && db.Spec.VolumeRetention == componentsv1alpha1.Delete },
		"the retention is set before deletion")
	h.Eventually(func() bool {
		ready := conditions.Get(h.stack("wipe"), componentsv1alpha1.ConditionReady)
		return ready != nil && contains(ready.Message, "to observe volumeRetention")
	}, "the deletion waits for the Database controller")
	require.NoError(t, h.Get(db, "wipe"))
	require.True(t, db.DeletionTimestamp.IsZero())

	h.databaseReady("wipe") // the database controller observes the new spec
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&canopyv1alpha1.Stack{}, "wipe")) }, "the Stack is deleted")
}

// TestDeletionReportsAndSkipsAFailedPurge: a Stack deleted with dataRetention.backups: Delete waits
// for its BackupPolicy, which purges the backups; when the purge fails, the Stack's Ready says why,
// and canopy.dev/skip-backup-purge on the Stack (the user never touches the internal kinds) reaches
// the policy, which then lets go.
func TestDeletionReportsAndSkipsAFailedPurge(t *testing.T) {
	h := start(t)
	ctx := context.Background()
	h.readyStack("purge", "1.0", func(s *canopyv1alpha1.Stack) {
		s.Spec.DataRetention = &canopyv1alpha1.DataRetention{Backups: componentsv1alpha1.Delete}
	})
	// The backup controller's finalizer and its report of a failed purge, played by the test.
	const held = "canopy.dev/backups"
	testenv.Mutate(t, h.C, h.Key("purge"), func() *componentsv1alpha1.BackupPolicy { return &componentsv1alpha1.BackupPolicy{} }, false,
		func(bp *componentsv1alpha1.BackupPolicy) { bp.Finalizers = append(bp.Finalizers, held) })
	require.NoError(t, h.C.Delete(ctx, h.stack("purge")))
	bp := &componentsv1alpha1.BackupPolicy{}
	h.Eventually(func() bool { return h.Get(bp, "purge") == nil && bp.Spec.BackupRetention == componentsv1alpha1.Delete }, "backupRetention is set")
	setStatus(h, "purge", func() *componentsv1alpha1.BackupPolicy { return &componentsv1alpha1.BackupPolicy{} }, func(b *componentsv1alpha1.BackupPolicy) {
		b.Status.ObservedGeneration = b.Generation
		conditions.MarkStalled(b, componentsv1alpha1.ReasonPurgeFailed, "the purge Job purge-purge failed: access denied")
	})
	h.Eventually(func() bool {
		ready := conditions.Get(h.stack("purge"), componentsv1alpha1.ConditionReady)
		return ready != nil && contains(ready.Message, "waiting for the BackupPolicy purge to be deleted: the purge Job purge-purge failed: access denied")
	}, "the Stack says what holds its deletion")

	testenv.Mutate(t, h.C, h.Key("purge"), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false, func(s *canopyv1alpha1.Stack) {
		s.Annotations = map[string]string{canopyv1alpha1.AnnotationSkipBackupPurge: "true"}
	})
	h.Eventually(func() bool {
		return h.Get(bp, "purge") == nil && bp.Annotations[canopyv1alpha1.AnnotationSkipBackupPurge] == "true"
	}, "the skip reaches the BackupPolicy being deleted")
	testenv.Mutate(t, h.C, h.Key("purge"), func() *componentsv1alpha1.BackupPolicy { return &componentsv1alpha1.BackupPolicy{} }, false,
		func(bp *componentsv1alpha1.BackupPolicy) { bp.Finalizers = nil })
	h.Eventually(func() bool { return apierrors.IsNotFound(h.Get(&canopyv1alpha1.Stack{}, "purge")) }, "the Stack is deleted")
}

// TestInPlaceRestore: the web tier stops, a safety backup is taken, the Database restores the
// backup, the web tier starts again; the Stack reports each step.
func TestInPlaceRestore(t *testing.T) {
	h := start(t)
	h.readyStack("rq", "1.0")
	h.updateStack("rq", func(s *canopyv1alpha1.Stack) {
		s.Spec.RestoreRequest = &canopyv1alpha1.StackRestoreRequest{ID: "r1", BackupName: "rq-nightly"}
	})
	step := func(want canopyv1alpha1.OperationStep) {
		t.Helper()
		h.Eventually(func() bool { r := h.stack("rq").Status.Restore; return r != nil && r.ID == "r1" && r.Step == want }, "step %s", want)
	}
	fe := &componentsv1alpha1.Frontend{}
	h.Eventually(func() bool { return h.Get(fe, "rq") == nil && fe.Spec.Stopped }, "the web tier is stopped first")
	step(canopyv1alpha1.StepStoppingFrontend)
	require.False(t, conditions.IsTrue(h.stack("rq"), componentsv1alpha1.ConditionReady))
	h.Eventually(func() bool {
		c := conditions.Get(h.stack("rq"), canopyv1alpha1.ConditionUpgradeable)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == canopyv1alpha1.ReasonDataOperationInProgress &&
			contains(c.Message, "restoring rq-nightly")
	}, "the Stack says it is not upgradeable while it restores, as OLM's gate does")
	h.Eventually(func() bool { return h.gate.heldBackBy("Stack " + h.NS + "/rq is restoring rq-nightly in place") },
		"OLM's Upgradeable is false while the restore runs")
	setStatus(h, "rq", func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, func(f *componentsv1alpha1.Frontend) {
		f.Status.ObservedGeneration, f.Status.Replicas, f.Status.ReadyReplicas = f.Generation, 0, 0
	})

	step(canopyv1alpha1.StepSafetyBackup)
	bp := &componentsv1alpha1.BackupPolicy{}
	h.Eventually(func() bool { return h.Get(bp, "rq") == nil && bp.Spec.BackupRequest == restoreToken("r1") }, "a safety backup is requested")
	h.backupReady("rq", &componentsv1alpha1.BackupRequestStatus{ID: restoreToken("r1"), Phase: componentsv1alpha1.PhaseSucceeded, BackupName: "rq-safety"})

	step(canopyv1alpha1.StepRestoring)
	h.Eventually(func() bool {
		return h.Get(bp, "rq") == nil && bp.Spec.Hold != nil && bp.Spec.Hold.Reason == canopyv1alpha1.ReasonRestoring &&
			slices.Equal(bp.Spec.ProtectedBackups, []string{"rq-nightly", "rq-safety"})
	}, "backups wait, and the restored and safety backups are protected")
	db := &componentsv1alpha1.Database{}
	h.Eventually(func() bool { return h.Get(db, "rq") == nil && db.Spec.RestoreRequest != nil }, "the Database is asked to restore")
	require.Equal(t, "r1", db.Spec.RestoreRequest.ID)
	require.Equal(t, "rq-nightly", db.Spec.RestoreRequest.Source.BackupName)
	require.NotNil(t, db.Spec.RestoreRequest.Source.Destination.Volume, "from the Stack's backup destination")
	require.True(t, func() bool { _ = h.Get(fe, "rq"); return fe.Spec.Stopped }(), "the web tier stays stopped while restoring")
	setStatus(h, "rq", func() *componentsv1alpha1.Database { return &componentsv1alpha1.Database{} }, func(d *componentsv1alpha1.Database) {
		d.Status.ObservedGeneration = d.Generation
		d.Status.Restore = &componentsv1alpha1.RestoreStatus{ID: "r1", BackupName: "rq-nightly", Phase: componentsv1alpha1.PhaseSucceeded}
	})

	step(canopyv1alpha1.StepStartingFrontend)
	h.Eventually(func() bool { return h.Get(fe, "rq") == nil && !fe.Spec.Stopped }, "the web tier starts again")
	h.frontendServing("rq", "1.0")
	step(canopyv1alpha1.StepSucceeded)
	// The restore is over: the BackupPolicy's hold is lifted (a new spec), which its controller
	// observes.
	h.Eventually(func() bool {
		return h.Get(bp, "rq") == nil && bp.Spec.Hold == nil && len(bp.Spec.ProtectedBackups) == 0
	}, "backups resume")
	h.backupReady("rq", &componentsv1alpha1.BackupRequestStatus{ID: restoreToken("r1"), Phase: componentsv1alpha1.PhaseSucceeded, BackupName: "rq-safety"})
	h.waitReady("rq")
	// The safety backup's token stays in the BackupPolicy's spec: an answered request is not taken
	// again, while any other token would read as a new one.
	require.NoError(t, h.Get(bp, "rq"))
	require.Equal(t, restoreToken("r1"), bp.Spec.BackupRequest)
	h.WaitEvent(h.stack("rq"), "RestoreSucceeded")
	h.Eventually(func() bool { return h.gate.releasedBy(h.NS + "/rq ") }, "the finished restore no longer holds OLM back")
}

// TestInPlaceRestoreFailureRestartsTheWebTier: a failed restore ends the request and brings the web
// tier back on the data it had.
func TestInPlaceRestoreFailureRestartsTheWebTier(t *testing.T) {
	h := start(t)
	h.readyStack("rf", "1.0", func(s *canopyv1alpha1.Stack) { s.Spec.Backup = nil; s.Spec.Restore = nil })
	h.updateStack("rf", func(s *canopyv1alpha1.Stack) {
		s.Spec.RestoreRequest = &canopyv1alpha1.StackRestoreRequest{ID: "r2", BackupName: "rf-old",
			Destination: &componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{ClaimName: "archive"}}}
	})
	fe := &componentsv1alpha1.Frontend{}
	h.Eventually(func() bool { return h.Get(fe, "rf") == nil && fe.Spec.Stopped }, "stopped")
	setStatus(h, "rf", func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, func(f *componentsv1alpha1.Frontend) {
		f.Status.ObservedGeneration, f.Status.Replicas, f.Status.ReadyReplicas = f.Generation, 0, 0
	})
	db := &componentsv1alpha1.Database{}
	h.Eventually(func() bool { return h.Get(db, "rf") == nil && db.Spec.RestoreRequest != nil }, "no backups configured: straight to the restore")
	setStatus(h, "rf", func() *componentsv1alpha1.Database { return &componentsv1alpha1.Database{} }, func(d *componentsv1alpha1.Database) {
		d.Status.ObservedGeneration = d.Generation
		d.Status.Restore = &componentsv1alpha1.RestoreStatus{ID: "r2", Phase: componentsv1alpha1.PhaseFailed,
			Message: "ChecksumMismatch: dump.pgc does not match its manifest"}
	})
	h.Eventually(func() bool { r := h.stack("rf").Status.Restore; return r != nil && r.Step == canopyv1alpha1.StepFailed }, "the request failed")
	require.Contains(t, h.stack("rf").Status.Restore.Message, "ChecksumMismatch")
	h.Eventually(func() bool { return h.Get(fe, "rf") == nil && !fe.Spec.Stopped }, "the web tier starts again")
	h.WaitEvent(h.stack("rf"), "RestoreFailed")
}

// TestRestoreSourceSurvivesDestinationChange: the Database's bootstrap source is immutable; a later
// change of the backup destination it defaulted from does not wedge the Stack.
func TestRestoreSourceSurvivesDestinationChange(t *testing.T) {
	h := start(t)
	h.readyStack("boot", "1.0", func(s *canopyv1alpha1.Stack) {
		s.Spec.Restore = &canopyv1alpha1.StackRestore{BackupName: "old-stack-20261101"}
	})
	h.updateStack("boot", func(s *canopyv1alpha1.Stack) {
		s.Spec.Backup.Destination = componentsv1alpha1.BackupDestination{S3: &componentsv1alpha1.S3Destination{
			Endpoint: "https://s3.example.com", Bucket: "backups", CredentialsSecret: corev1.LocalObjectReference{Name: "s3"}}}
		s.Spec.Frontend.Replicas = ptr.To[int32](3)
	})
	fe := &componentsv1alpha1.Frontend{}
	h.Eventually(func() bool { return h.Get(fe, "boot") == nil && fe.Spec.Replicas != nil && *fe.Spec.Replicas == 3 }, "later changes still land")
	db := &componentsv1alpha1.Database{}
	require.NoError(t, h.Get(db, "boot"))
	require.NotNil(t, db.Spec.Bootstrap.FromBackup.Destination.Volume, "the bootstrap source is unchanged")
	require.Nil(t, conditions.Get(h.stack("boot"), componentsv1alpha1.ConditionStalled))
}

// TestDatabaseMajorUpgrade: a major change stops the web tier, takes a backup with nothing
// writing, and only then tells the Database to move to the new major with that backup; the web
// tier starts again once the Database has upgraded.
func TestDatabaseMajorUpgrade(t *testing.T) {
	h := start(t)
	h.readyStack("mj", "1.0", func(s *canopyv1alpha1.Stack) {
		s.Spec.Database.Version, s.Spec.Database.AllowMajorVersionUpgrade = "16", true
	})
	h.updateStack("mj", func(s *canopyv1alpha1.Stack) { s.Spec.Database.Version = "17" })
	step := func(want canopyv1alpha1.OperationStep) {
		t.Helper()
		h.Eventually(func() bool { u := h.stack("mj").Status.DatabaseUpgrade; return u != nil && u.Step == want }, "step %s", want)
	}
	fe, db, bp := &componentsv1alpha1.Frontend{}, &componentsv1alpha1.Database{}, &componentsv1alpha1.BackupPolicy{}
	h.Eventually(func() bool { return h.Get(fe, "mj") == nil && fe.Spec.Stopped }, "the web tier is stopped first")
	step(canopyv1alpha1.StepStoppingFrontend)
	require.Equal(t, "16.2", h.stack("mj").Status.DatabaseUpgrade.FromVersion)
	h.Eventually(func() bool {
		c := conditions.Get(h.stack("mj"), canopyv1alpha1.ConditionUpgradeable)
		return c != nil && c.Status == metav1.ConditionFalse && contains(c.Message, "upgrading PostgreSQL from 16.2 to 17")
	}, "the Stack says it is not upgradeable during the major upgrade")
	h.Eventually(func() bool { return h.gate.heldBackBy("Stack " + h.NS + "/mj is upgrading PostgreSQL from 16.2 to 17") },
		"OLM's Upgradeable is false while PostgreSQL upgrades")
	require.NoError(t, h.Get(db, "mj"))
	require.Equal(t, "16", db.Spec.Version, "the Database is not told before the backup exists")
	setStatus(h, "mj", func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, func(f *componentsv1alpha1.Frontend) {
		f.Status.ObservedGeneration, f.Status.Replicas, f.Status.ReadyReplicas = f.Generation, 0, 0
	})

	step(canopyv1alpha1.StepBackup)
	h.Eventually(func() bool { return h.Get(bp, "mj") == nil && bp.Spec.BackupRequest == majorToken("17", 1) }, "a backup is requested")
	require.NoError(t, h.Get(db, "mj"))
	require.Equal(t, "16", db.Spec.Version)
	h.backupReady("mj", &componentsv1alpha1.BackupRequestStatus{ID: majorToken("17", 1), Phase: componentsv1alpha1.PhaseSucceeded, BackupName: "mj-pre-major"})

	step(canopyv1alpha1.StepUpgrading)
	h.Eventually(func() bool { return h.Get(db, "mj") == nil && db.Spec.Version == "17" && db.Spec.MajorUpgrade != nil }, "the Database upgrades")
	require.Equal(t, "mj-pre-major", db.Spec.MajorUpgrade.FromBackup.BackupName)
	require.NotNil(t, db.Spec.MajorUpgrade.FromBackup.Destination.Volume, "from the Stack's backup destination")
	require.NoError(t, h.Get(fe, "mj"))
	require.True(t, fe.Spec.Stopped, "the web tier stays stopped while the data moves")
	c := conditions.Get(h.stack("mj"), componentsv1alpha1.ConditionReconciling)
	require.Equal(t, canopyv1alpha1.ReasonDatabaseUpgrading, c.Reason)
	setStatus(h, "mj", func() *componentsv1alpha1.Database { return &componentsv1alpha1.Database{} }, func(d *componentsv1alpha1.Database) {
		d.Status.ObservedGeneration, d.Status.Version = d.Generation, "17.2"
		d.Status.MajorUpgrade = &componentsv1alpha1.MajorUpgradeStatus{FromVersion: "16.2", ToVersion: "17", BackupName: "mj-pre-major",
			Phase: componentsv1alpha1.PhaseSucceeded}
		d.Status.Conditions = []metav1.Condition{readyCondition(d.Generation)}
	})

	step(canopyv1alpha1.StepStartingFrontend)
	h.Eventually(func() bool { return h.Get(fe, "mj") == nil && !fe.Spec.Stopped }, "the web tier starts again")
	h.frontendServing("mj", "1.0")
	step(canopyv1alpha1.StepSucceeded)
	h.backupReady("mj", &componentsv1alpha1.BackupRequestStatus{ID: majorToken("17", 1), Phase: componentsv1alpha1.PhaseSucceeded, BackupName: "mj-pre-major"})
	h.waitReady("mj")
	require.NoError(t, h.Get(db, "mj"))
	require.Equal(t, "mj-pre-major", db.Spec.MajorUpgrade.FromBackup.BackupName, "the finished request stays")
	h.Eventually(func() bool { return h.gate.releasedBy(h.NS + "/mj ") }, "the finished major upgrade no longer holds OLM back")
}

// TestDatabaseMajorUpgradeBackupFails: when the backup fails, the Database keeps its major and is
// never told; the web tier starts again and the Stack says why.
func TestDatabaseMajorUpgradeBackupFails(t *testing.T) {
	h := start(t)
	h.readyStack("mf", "1.0", func(s *canopyv1alpha1.Stack) {
		s.Spec.Database.Version, s.Spec.Database.AllowMajorVersionUpgrade = "16", true
	})
	h.updateStack("mf", func(s *canopyv1alpha1.Stack) { s.Spec.Database.Version = "17" })
	fe := &componentsv1alpha1.Frontend{}
	h.Eventually(func() bool { return h.Get(fe, "mf") == nil && fe.Spec.Stopped }, "stopped")
	setStatus(h, "mf", func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, func(f *componentsv1alpha1.Frontend) {
		f.Status.ObservedGeneration, f.Status.Replicas, f.Status.ReadyReplicas = f.Generation, 0, 0
	})
	h.Eventually(func() bool {
		bp := &componentsv1alpha1.BackupPolicy{}
		return h.Get(bp, "mf") == nil && bp.Spec.BackupRequest == majorToken("17", 1)
	}, "a backup is requested")
	h.backupReady("mf", &componentsv1alpha1.BackupRequestStatus{ID: majorToken("17", 1), Phase: componentsv1alpha1.PhaseFailed,
		Message: "Unauthorized: the S3 credentials were refused"})
	h.Eventually(func() bool {
		c := conditions.Get(h.stack("mf"), componentsv1alpha1.ConditionStalled)
		return c != nil && c.Reason == canopyv1alpha1.ReasonDatabaseUpgradeFailed && strings.Contains(c.Message, "Unauthorized")
	}, "the failed upgrade is reported")
	h.Eventually(func() bool { return h.Get(fe, "mf") == nil && !fe.Spec.Stopped }, "the web tier starts again")
	db := &componentsv1alpha1.Database{}
	require.NoError(t, h.Get(db, "mf"))
	require.Equal(t, "16", db.Spec.Version)
	require.Nil(t, db.Spec.MajorUpgrade)
	require.Equal(t, int32(1), h.stack("mf").Status.DatabaseUpgrade.Attempt)

	// A new value of the retry annotation starts a second attempt, with its own backup.
	h.updateStack("mf", func(s *canopyv1alpha1.Stack) {
		s.Annotations = map[string]string{canopyv1alpha1.AnnotationRetryDatabaseUpgrade: "after fixing the credentials"}
	})
	h.Eventually(func() bool {
		p := h.stack("mf").Status.DatabaseUpgrade
		return p != nil && p.Attempt == 2 && p.Step != canopyv1alpha1.StepFailed && p.RetryRequest == "after fixing the credentials"
	}, "a second attempt starts")
	h.Eventually(func() bool { return h.Get(fe, "mf") == nil && fe.Spec.Stopped }, "the web tier is stopped again")
	setStatus(h, "mf", func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, func(f *componentsv1alpha1.Frontend) {
		f.Status.ObservedGeneration, f.Status.Replicas, f.Status.ReadyReplicas = f.Generation, 0, 0
	})
	require.NotEqual(t, majorToken("17", 1), majorToken("17", 2))
	h.Eventually(func() bool {
		bp := &componentsv1alpha1.BackupPolicy{}
		return h.Get(bp, "mf") == nil && bp.Spec.BackupRequest == majorToken("17", 2)
	}, "its own backup is requested")
	h.backupReady("mf", &componentsv1alpha1.BackupRequestStatus{ID: majorToken("17", 2), Phase: componentsv1alpha1.PhaseSucceeded, BackupName: "mf-retry"})
	h.Eventually(func() bool {
		return h.Get(db, "mf") == nil && db.Spec.Version == "17" && db.Spec.MajorUpgrade != nil && db.Spec.MajorUpgrade.FromBackup.BackupName == "mf-retry"
	}, "the Database is told to load the new backup")
}
