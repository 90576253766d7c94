package backuppolicy

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	desired "github.com/canopy-dev/canopy/internal/desired/backup"
)

// CatalogueSize bounds status.backups.
const CatalogueSize = 20

// finishedJob is a backup Job that ended, with what its agent reported.
type finishedJob struct {
	job       *batchv1.Job
	succeeded bool
	result    *agent.Result // nil when the agent wrote nothing (it never ran, or crashed)
	reason    string        // the Job's own failure reason when the agent said nothing
	message   string
	finished  metav1.Time
}

// jobEnded reports whether a Job is Complete or Failed.
func jobEnded(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return true
		}
	}
	return false
}

// jobOutcome reads a Job's final state; ok is false while it runs.
func jobOutcome(job *batchv1.Job, pods []corev1.Pod) (finishedJob, bool) {
	f := finishedJob{job: job}
	done := false
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			f.succeeded, done, f.finished = true, true, c.LastTransitionTime
		case batchv1.JobFailed:
			done, f.finished = true, c.LastTransitionTime
			f.reason, f.message = c.Reason, c.Message
		}
	}
	if !done {
		return f, false
	}
	f.result = agentResult(pods)
	if f.result != nil && !f.result.Succeeded {
		f.succeeded = false
	}
	return f, true
}

// agentResult parses the agent's termination message from the Job's pods (the newest that has one).
func agentResult(pods []corev1.Pod) *agent.Result {
	sort.Slice(pods, func(i, j int) bool { return pods[i].CreationTimestamp.After(pods[j].CreationTimestamp.Time) })
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name != "agent" || cs.State.Terminated == nil || strings.TrimSpace(cs.State.Terminated.Message) == "" {
				continue
			}
			var r agent.Result
			if err := json.Unmarshal([]byte(strings.TrimSpace(cs.State.Terminated.Message)), &r); err == nil {
				return &r
			}
		}
	}
	return nil
}

// backupRecord turns a successful backup into a catalogue entry.
func backupRecord(f finishedJob) componentsv1alpha1.BackupRecord {
	r := f.result
	rec := componentsv1alpha1.BackupRecord{
		Name:            r.Name,
		Trigger:         f.job.Labels[desired.LabelTrigger],
		Request:         f.job.Annotations[desired.AnnotationRequest],
		SizeBytes:       r.SizeBytes,
		SHA256:          r.SHA256,
		DatabaseVersion: r.DatabaseVersion,
		AppVersion:      r.AppVersion,
		Location:        r.Location,
		Encrypted:       r.Encrypted,
		KeyID:           r.KeyID,
	}
	if !r.StartTime.IsZero() {
		rec.StartTime = &metav1.Time{Time: r.StartTime}
	}
	if !r.CompletionTime.IsZero() {
		rec.CompletionTime = &metav1.Time{Time: r.CompletionTime}
	} else {
		rec.CompletionTime = f.finished.DeepCopy()
	}
	return rec
}

// failure describes a failed backup Job.
func failure(f finishedJob) componentsv1alpha1.BackupFailure {
	bf := componentsv1alpha1.BackupFailure{JobName: f.job.Name, Request: f.job.Annotations[desired.AnnotationRequest], Time: f.finished.DeepCopy(),
		Reason: componentsv1alpha1.ReasonBackupFailed, Message: "the backup Job failed"}
	switch {
	case f.result != nil:
		bf.Reason, bf.Message = orDefault(f.result.Reason, componentsv1alpha1.ReasonBackupFailed), orDefault(f.result.Message, bf.Message)
	case f.reason != "":
		// The agent wrote nothing: pg_dump failed, or the Job hit its deadline.
		bf.Reason, bf.Message = f.reason, orDefault(f.message, bf.Message)
	case f.succeeded:
		bf.Reason = componentsv1alpha1.ReasonResultUnreadable
		bf.Message = "the Job completed but the agent's result could not be read (its pod is gone): the backup is not recorded"
	}
	return bf
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// mergeCatalogue adds new records, drops the ones retention deleted, and keeps the newest
// CatalogueSize, newest first, plus the protected ones beyond that bound: a backup a data
// operation in flight references stays listed until it is deleted. Pure.
func mergeCatalogue(current []componentsv1alpha1.BackupRecord, added []componentsv1alpha1.BackupRecord, deleted,
	protected []string) []componentsv1alpha1.BackupRecord {
	gone := map[string]bool{}
	for _, d := range deleted {
		gone[d] = true
	}
	byName := map[string]componentsv1alpha1.BackupRecord{}
	for _, r := range append(append([]componentsv1alpha1.BackupRecord{}, current...), added...) {
		if !gone[r.Name] {
			byName[r.Name] = r
		}
	}
	out := make([]componentsv1alpha1.BackupRecord, 0, len(byName))
	for _, r := range byName {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		ti, tj := completion(out[i]), completion(out[j])
		if !ti.Equal(&tj) {
			return ti.After(tj.Time)
		}
		return out[i].Name > out[j].Name
	})
	if len(out) <= CatalogueSize {
		return out
	}
	kept := out[:CatalogueSize:CatalogueSize]
	for _, r := range out[CatalogueSize:] {
		if slices.Contains(protected, r.Name) {
			kept = append(kept, r)
		}
	}
	return kept
}

func completion(r componentsv1alpha1.BackupRecord) metav1.Time {
	if r.CompletionTime != nil {
		return *r.CompletionTime
	}
	return metav1.Time{}
}

// stored reports whether a Job left a complete backup at the destination: a success, or a failure
// after the upload (retention failed), which still wrote the dump and its manifest.
func stored(f finishedJob) bool {
	r := f.result
	return r != nil && r.Name != "" && r.Location != "" && r.SHA256 != "" && (f.succeeded || r.Reason == agent.ReasonRetentionFailed)
}
