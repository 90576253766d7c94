package database

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/apply"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/destsecrets"
	"github.com/canopy-dev/canopy/internal/images"
)

// bootstrapID names the restore Job of spec.bootstrap.
const bootstrapID = "bootstrap"

// bootstrap fills a new database from spec.bootstrap.fromBackup: once PostgreSQL runs (empty, with
// the application's role and database), a restore Job fetches the backup, verifies its checksum and
// loads it. The Database is not Ready before that succeeded, so the web tier never starts on an
// empty database. It returns nil without a bootstrap.
//
// A data volume older than the Database was kept from a deleted Database of the same name (a
// Stack deleted with its volumes retained, then created again): restoring would run pg_restore
// --clean over that data. It is held back (blocked says why) unless the spec confirms the
// overwrite.
func (r *Reconciler) bootstrap(ctx context.Context, db *componentsv1alpha1.Database, pod podState, postgresImage string,
	pvc *corev1.PersistentVolumeClaim) (st *componentsv1alpha1.RestoreStatus, blocked string, secrets *destsecrets.Problem, err error) {
	b := db.Spec.Bootstrap
	if b == nil {
		return nil, "", nil, nil
	}
	prev := db.Status.Bootstrap
	started := prev != nil && prev.Phase != componentsv1alpha1.PhasePending
	if !started && !b.OverwriteExistingData && pvc != nil && pvc.CreationTimestamp.Before(&db.CreationTimestamp) {
		return &componentsv1alpha1.RestoreStatus{BackupName: b.FromBackup.BackupName, Phase: componentsv1alpha1.PhasePending,
				Message: "waiting for confirmation to overwrite the existing data"},
			fmt.Sprintf("the data volume %s holds data from before this Database (kept from a deleted Database or Stack of the same name); "+
				"restoring %s would overwrite it. Confirm with restore.overwriteExistingData: true, or remove the Stack's restore to keep that data",
				pvc.Name, b.FromBackup.BackupName), nil, nil
	}
	use := restoreUse("restore destination", "the restore of "+b.FromBackup.BackupName+" into the new database waits")
	st, secrets, err = r.restore(ctx, db, pod, postgresImage, bootstrapID, b.FromBackup, prev, use)
	return st, "", secrets, err
}

// restoreUse is what a restore needs of its source's Secrets: the S3 credentials, and the
// encryption key Secret (whose keys each backup's manifest names), for messages naming field.
func restoreUse(field, waits string) destsecrets.Use {
	return destsecrets.Use{Field: field, Waits: waits, Keys: destsecrets.KeysRead}
}

// restoreInPlace carries out spec.restoreRequest: each new id restores its backup once into the
// running database (the Stack stops the web tier first). It returns the status of the latest
// request, or the previous one without a request.
func (r *Reconciler) restoreInPlace(ctx context.Context, db *componentsv1alpha1.Database, pod podState,
	postgresImage string) (*componentsv1alpha1.RestoreStatus, *destsecrets.Problem, error) {
	req := db.Spec.RestoreRequest
	if req == nil {
		return db.Status.Restore, nil, nil
	}
	prev := db.Status.Restore
	if prev != nil && prev.ID != req.ID {
		prev = nil
	}
	use := restoreUse("restoreRequest destination", "the restore request "+req.ID+" of "+req.Source.BackupName+" waits")
	st, secrets, err := r.restore(ctx, db, pod, postgresImage, "request-"+req.ID, req.Source, prev, use)
	if st != nil {
		st.ID = req.ID
	}
	return st, secrets, err
}

// restore runs the restore Job of one request (named after id, so it runs once) and reports it;
// prev is the request's status so far (a finished request is not run again).
//
// Before the Job is created, the Secrets its source names are read (use says what for): a Job whose
// pod refers to a missing Secret would wait, not started, until its deadline (six hours). While one
// is missing or incomplete the request stays Pending saying why, and secrets is the problem: the
// Database is Stalled and looks again with a backoff (the Secrets are not watched).
func (r *Reconciler) restore(ctx context.Context, db *componentsv1alpha1.Database, pod podState, postgresImage, id string,
	source componentsv1alpha1.BackupSource, prev *componentsv1alpha1.RestoreStatus,
	use destsecrets.Use) (st *componentsv1alpha1.RestoreStatus, secrets *destsecrets.Problem, err error) {
	if prev != nil && (prev.Phase == componentsv1alpha1.PhaseSucceeded || prev.Phase == componentsv1alpha1.PhaseFailed) {
		return prev, nil, nil
	}
	st = &componentsv1alpha1.RestoreStatus{BackupName: source.BackupName, Phase: componentsv1alpha1.PhasePending,
		Message: "waiting for PostgreSQL to run before restoring " + source.BackupName}
	job := &batchv1.Job{}
	name := desired.RestoreJobName(db, id)
	switch err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: name}, job); {
	case apierrors.IsNotFound(err):
		problem, err := destsecrets.Check(ctx, r.APIReader, db.Namespace, source.Destination, use)
		if err != nil {
			return nil, nil, err
		}
		if problem != nil {
			st.Message = problem.Message
			return st, problem, nil
		}
		if !pod.ready {
			return st, nil, nil
		}
		want := desired.RestoreJob(db, desired.RestoreInput{AgentImage: images.Resolve(images.Canopy, r.Getenv), PostgresImage: postgresImage,
			Source: source}, id)
		if _, err := apply.Create(ctx, r.Client, r.APIReader, want); err != nil {
			return nil, nil, fmt.Errorf("starting the restore Job: %w", err)
		}
		st.Phase, st.Message = componentsv1alpha1.PhaseRunning, "restoring "+source.BackupName
		return st, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("reading the restore Job: %w", err)
	case !pod.ready:
		return st, nil, nil
	}
	st.Phase, st.Message = componentsv1alpha1.PhaseRunning, "restoring "+source.BackupName
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			st.Phase, st.Message = componentsv1alpha1.PhaseSucceeded, ""
			st.CompletionTime = c.LastTransitionTime.DeepCopy()
		case batchv1.JobFailed:
			st.Phase, st.Message = componentsv1alpha1.PhaseFailed, r.restoreFailure(ctx, job, c)
		}
	}
	return st, nil, nil
}

// restoreFailure explains a failed restore: the agent's own result (a checksum mismatch, a missing
// backup), else pg_restore's exit, else the Job's condition.
func (r *Reconciler) restoreFailure(ctx context.Context, job *batchv1.Job, cond batchv1.JobCondition) string {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(job.Namespace), client.MatchingLabels{"job-name": job.Name}); err == nil {
		for _, p := range pods.Items {
			for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
				t := cs.State.Terminated
				if t == nil || t.ExitCode == 0 {
					continue
				}
				var res agent.Result
				if cs.Name == "fetch" && json.Unmarshal([]byte(strings.TrimSpace(t.Message)), &res) == nil && res.Message != "" {
					return fmt.Sprintf("%s: %s", res.Reason, res.Message)
				}
				return fmt.Sprintf("%s exited with code %d: %s", cs.Name, t.ExitCode, strings.TrimSpace(t.Message))
			}
		}
	}
	return fmt.Sprintf("%s: %s", cond.Reason, cond.Message)
}
