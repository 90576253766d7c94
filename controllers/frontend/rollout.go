package frontend

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	desired "github.com/canopy-dev/canopy/internal/desired/frontend"
)

// rollout is what the Deployment says about the version it runs.
type rollout struct {
	exists   bool
	version  string // from the pod template's annotation
	complete bool   // every replica runs the template and is available, as observed for this spec
	failed   bool   // ProgressDeadlineExceeded for the current template
	message  string
	replicas int32 // desired replicas
	ready    int32
}

// observeDeployment reads a Deployment's rollout; nil means absent.
func observeDeployment(dep *appsv1.Deployment) rollout {
	if dep == nil {
		return rollout{}
	}
	ro := rollout{exists: true, version: dep.Spec.Template.Annotations[desired.AnnotationVersion], ready: dep.Status.ReadyReplicas}
	ro.replicas = dep.Status.Replicas
	if dep.Spec.Replicas != nil {
		ro.replicas = *dep.Spec.Replicas
	}
	current := dep.Status.ObservedGeneration >= dep.Generation
	st := dep.Status
	ro.complete = current && st.UpdatedReplicas == ro.replicas && st.AvailableReplicas == ro.replicas && st.Replicas == ro.replicas
	for _, c := range dep.Status.Conditions {
		if current && c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			ro.failed, ro.complete = true, false
			ro.message = c.Message
		}
	}
	return ro
}

// jobState is the state of a migration Job: "" (absent), Running, Succeeded or Failed, with the
// Job's own explanation of a failure.
func jobState(job *batchv1.Job) (componentsv1alpha1.RequestPhase, string) {
	if job == nil {
		return "", ""
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return componentsv1alpha1.PhaseSucceeded, ""
		case batchv1.JobFailed:
			return componentsv1alpha1.PhaseFailed, fmt.Sprintf("%s: %s", c.Reason, c.Message)
		}
	}
	return componentsv1alpha1.PhaseRunning, ""
}

// decision is what the frontend controller does in one reconcile.
type decision struct {
	// deployVersion is the version the Deployment gets; "" leaves the Deployment alone (before the
	// first migration has succeeded).
	deployVersion string
	// createJob creates the migration Job of the spec's version.
	createJob bool
	// migration becomes status.migration.
	migration *componentsv1alpha1.MigrationStatus
	// failedVersion, failReason and failMessage record a failed version (new or already known).
	failedVersion, failReason, failMessage string
	// newFailure is true when this reconcile found the failure (for events and metrics).
	newFailure bool
	// issuerMissing says that the issuer spec.tls.issuerRef names does not exist, so the ingress
	// host's Certificate cannot be issued ("" otherwise); observed, not decided.
	issuerMissing string
}

// decide chooses the version to deploy. A version change with a migration runs the migration Job
// first, with the new image, while the last good version keeps serving; the Deployment moves only
// when the Job succeeded. A failed migration or a rollout past its progress deadline marks the
// version failed and returns the Deployment to the last good version; a failed version is not
// retried until the spec asks for another one. Pure.
func decide(fe *componentsv1alpha1.Frontend, ro rollout, job *batchv1.Job) decision {
	want, lastGood := fe.Spec.Version, fe.Status.LastGoodVersion
	d := decision{migration: fe.Status.Migration.DeepCopy()}
	fallback := lastGood
	if fallback == "" {
		fallback = want // first install: nothing older to return to
	}

	if fe.Status.FailedVersion == want {
		d.failedVersion, d.deployVersion = want, fallback
		d.failReason, d.failMessage = failedReasonOf(fe)
		if lastGood == "" && d.failReason == componentsv1alpha1.ReasonMigrationFailed {
			d.deployVersion = "" // a first install whose migration failed never gets a Deployment
		}
		return d
	}

	d.deployVersion = want
	if fe.Spec.Migration != nil && want != lastGood && ro.version != want {
		state, msg := jobState(job)
		d.migration = &componentsv1alpha1.MigrationStatus{Version: want, JobName: desired.MigrationJobName(fe, want), Phase: state}
		switch state {
		case "":
			d.createJob = true
			d.migration.Phase = componentsv1alpha1.PhasePending
			d.deployVersion = lastGood
		case componentsv1alpha1.PhaseRunning:
			d.deployVersion = lastGood
		case componentsv1alpha1.PhaseFailed:
			d.migration.Message = msg
			d.failedVersion, d.failReason, d.newFailure = want, componentsv1alpha1.ReasonMigrationFailed, true
			d.failMessage = fmt.Sprintf("the migration of version %s failed (%s); version %s keeps serving", want, msg, orNone(lastGood))
			d.deployVersion = lastGood
		}
	}
	if m := d.migration; fe.Spec.Migration != nil && ro.version == want && m != nil && m.Version == want && m.Phase != componentsv1alpha1.PhaseFailed {
		// The Deployment moves to a version only after its migration succeeded; a status that says
		// otherwise was computed before (its write may have lost a race).
		m.Phase = componentsv1alpha1.PhaseSucceeded
	}
	if d.failedVersion == "" && ro.version == want && ro.failed {
		d.failedVersion, d.failReason, d.newFailure = want, componentsv1alpha1.ReasonRolloutFailed, true
		d.failMessage = fmt.Sprintf("version %s did not become available: %s", want, ro.message)
		if lastGood != "" && lastGood != want {
			d.failMessage += "; rolled back to " + lastGood
		}
		d.deployVersion = fallback
	}
	return d
}

func orNone(v string) string {
	if v == "" {
		return "(none)"
	}
	return v
}

// failedReasonOf recovers the reason and message of a failure recorded by an earlier reconcile.
func failedReasonOf(fe *componentsv1alpha1.Frontend) (string, string) {
	for _, c := range fe.Status.Conditions {
		if c.Type == componentsv1alpha1.ConditionDegraded || c.Type == componentsv1alpha1.ConditionStalled {
			return c.Reason, c.Message
		}
	}
	return componentsv1alpha1.ReasonRolloutFailed, "version " + fe.Spec.Version + " failed"
}
