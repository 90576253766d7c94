package stack

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/controllers/backuppolicy"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// startWithBackups runs the stack controller and the real backup controller together: the
// contract between them (the BackupPolicy's spec) is what is under test. The test plays the
// database and frontend controllers and Kubernetes' Job controller.
func startWithBackups(t *testing.T) *harness {
	t.Helper()
	e := testenv.Require(t, env)
	h := &harness{Harness: e.Harness(t), gate: &fakeGate{}}
	h.mgr = e.StartManager(t, func(mgr ctrl.Manager) error {
		h.r = &Reconciler{Client: mgr.GetClient(), UpgradeGate: h.gate}
		if err := h.r.SetupWithManager(mgr); err != nil {
			return err
		}
		return (&backuppolicy.Reconciler{Client: mgr.GetClient(), Getenv: func(string) string { return "" }}).SetupWithManager(mgr)
	})
	return h
}

// TestBackupsWaitForMajorUpgrade: a scheduled backup due in the middle of a PostgreSQL major
// upgrade does not run until the upgrade ends (the CronJob is suspended meanwhile, and resumed
// after), an on-demand request made meanwhile is queued and runs after, and the backup the upgrade
// loads is protected from retention while the upgrade runs.
func TestBackupsWaitForMajorUpgrade(t *testing.T) {
	h := startWithBackups(t)
	ctx := context.Background()
	const name = "held"
	h.newStack(name, "1.0", func(s *canopyv1alpha1.Stack) {
		s.Spec.Database.Version, s.Spec.Database.AllowMajorVersionUpgrade = "16", true
		s.Spec.Backup.Retention.KeepLast = ptr.To[int32](1)
		s.Spec.Backup.Destination.Volume.Storage.Size = resource.MustParse("1Gi")
	})
	h.Eventually(func() bool { return h.Get(&componentsv1alpha1.Database{}, name) == nil }, "the Database is created")
	dbReady := func() {
		setStatus(h, name, func() *componentsv1alpha1.Database { return &componentsv1alpha1.Database{} }, func(d *componentsv1alpha1.Database) {
			d.Status.ObservedGeneration, d.Status.Version, d.Status.Image = d.Generation, d.Spec.Version+".2", "postgres:"+d.Spec.Version+".2"
			d.Status.Endpoint, d.Status.CredentialsSecretName = name+"-postgres."+h.NS+".svc:5432", name+"-db-credentials"
			d.Status.Conditions = []metav1.Condition{readyCondition(d.Generation)}
		})
	}
	dbReady()
	h.Eventually(func() bool { return h.Get(&componentsv1alpha1.Frontend{}, name) == nil }, "the Frontend is created")
	h.frontendServing(name, "1.0")
	cj := &batchv1.CronJob{}
	suspended := func() bool { return h.Get(cj, name+"-backup") == nil && cj.Spec.Suspend != nil && *cj.Spec.Suspend }
	h.Eventually(func() bool { return h.Get(cj, name+"-backup") == nil && !suspended() }, "the schedule runs")
	h.waitReady(name)

	jobs := func(prefix string) []batchv1.Job {
		var list batchv1.JobList
		require.NoError(t, h.C.List(ctx, &list, client.InNamespace(h.NS)))
		var out []batchv1.Job
		for _, j := range list.Items {
			if strings.HasPrefix(j.Name, prefix) {
				out = append(out, j)
			}
		}
		return out
	}
	annotationRequest := func() *componentsv1alpha1.BackupRequestStatus {
		bp := &componentsv1alpha1.BackupPolicy{}
		require.NoError(t, h.Get(bp, name))
		return bp.Status.LastAnnotationRequest
	}
	keeps := func(args []string, backup string) bool { return slices.Contains(args, agent.FlagKeep+"="+backup) }

	// The major upgrade starts: from now on the schedule waits.
	h.updateStack(name, func(s *canopyv1alpha1.Stack) { s.Spec.Database.Version = "17" })
	h.Eventually(suspended, "the CronJob is suspended while PostgreSQL is upgraded")

	// A user asks for a backup meanwhile: the request is kept, reported, and not run.
	h.updateStack(name, func(s *canopyv1alpha1.Stack) {
		s.Annotations = map[string]string{canopyv1alpha1.AnnotationBackupNow: "during-upgrade"}
	})
	h.Eventually(func() bool {
		r := annotationRequest()
		return r != nil && r.ID == "during-upgrade" && r.Phase == componentsv1alpha1.PhasePending &&
			strings.Contains(r.Message, canopyv1alpha1.ReasonDatabaseUpgrading)
	}, "the on-demand request is queued, with the reason")
	require.Empty(t, jobs(name+"-now-"), "no on-demand backup while the data is replaced")

	// The upgrade's own backup runs (the web tier is stopped first).
	setStatus(h, name, func() *componentsv1alpha1.Frontend { return &componentsv1alpha1.Frontend{} }, func(f *componentsv1alpha1.Frontend) {
		f.Status.ObservedGeneration, f.Status.Replicas, f.Status.ReadyReplicas = f.Generation, 0, 0
	})
	h.Eventually(func() bool { return len(jobs(name+"-req-")) == 1 }, "the upgrade's backup Job starts")
	preMajor := jobs(name + "-req-")[0].Name
	done := time.Now().UTC().Truncate(time.Second)
	result, err := json.Marshal(agent.Result{Operation: agent.OperationBackup, Succeeded: true, Name: preMajor, SizeBytes: 4096, SHA256: "ab",
		Location: "pvc:///" + name + "/" + preMajor + "/dump.pgc", DatabaseVersion: "16.2", AppVersion: "1.0", StartTime: done.Add(-time.Second),
		CompletionTime: done})
	require.NoError(t, err)
	h.CompleteJob(preMajor, "agent", string(result))

	// PostgreSQL 17 loads that backup: it is protected from every retention run, and nothing else
	// runs.
	h.Eventually(func() bool {
		u := h.stack(name).Status.DatabaseUpgrade
		return u != nil && u.Step == canopyv1alpha1.StepUpgrading
	}, "the Database upgrades")
	h.Eventually(func() bool {
		return h.Get(cj, name+"-backup") == nil && keeps(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, preMajor)
	}, "scheduled backups keep the backup being loaded")
	require.True(t, suspended(), "still suspended while the backup is loaded")
	require.Empty(t, jobs(name+"-now-"))
	db := &componentsv1alpha1.Database{}
	require.NoError(t, h.Get(db, name))
	require.Equal(t, preMajor, db.Spec.MajorUpgrade.FromBackup.BackupName)
	setStatus(h, name, func() *componentsv1alpha1.Database { return &componentsv1alpha1.Database{} }, func(d *componentsv1alpha1.Database) {
		d.Status.ObservedGeneration, d.Status.Version, d.Status.Image = d.Generation, "17.2", "postgres:17.2"
		d.Status.MajorUpgrade = &componentsv1alpha1.MajorUpgradeStatus{FromVersion: "16.2", ToVersion: "17", BackupName: preMajor,
			Phase: componentsv1alpha1.PhaseSucceeded}
		d.Status.Conditions = []metav1.Condition{readyCondition(d.Generation)}
	})
	h.Eventually(func() bool {
		u := h.stack(name).Status.DatabaseUpgrade
		return u != nil && u.Step == canopyv1alpha1.StepStartingFrontend
	}, "the web tier starts again")
	require.True(t, suspended(), "held until the upgrade has ended")
	require.Empty(t, jobs(name+"-now-"))
	fe := &componentsv1alpha1.Frontend{}
	h.Eventually(func() bool { return h.Get(fe, name) == nil && !fe.Spec.Stopped }, "the web tier is asked to start")
	h.frontendServing(name, "1.0")

	// The upgrade is over: the schedule resumes, the queued request runs, on PostgreSQL 17.
	h.Eventually(func() bool {
		u := h.stack(name).Status.DatabaseUpgrade
		return u != nil && u.Step == canopyv1alpha1.StepSucceeded
	}, "the upgrade succeeds")
	h.Eventually(func() bool { return h.Get(cj, name+"-backup") == nil && !suspended() }, "the schedule resumes")
	require.False(t, keeps(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, preMajor), "the upgrade's backup is released")
	h.Eventually(func() bool { return len(jobs(name+"-now-")) == 1 }, "the queued on-demand backup runs")
	now := jobs(name + "-now-")[0]
	require.Equal(t, "during-upgrade", now.Annotations["canopy.dev/backup-request"])
	require.Equal(t, "postgres:17.2", now.Spec.Template.Spec.InitContainers[0].Image, "it dumps the upgraded database")
	h.Eventually(func() bool { r := annotationRequest(); return r != nil && r.Phase != componentsv1alpha1.PhasePending }, "the request is running")
}
