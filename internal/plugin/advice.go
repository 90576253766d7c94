package plugin

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
)

// operations lists the rollout step and the data operations that run, and the last one of each
// kind when it failed.
func operations(o *observedStack) []Operation {
	st := o.stack.Status
	var out []Operation
	if r := st.Rollout; r != nil && r.Step != "" {
		out = append(out, Operation{Kind: "Rollout", Step: string(r.Step), Running: true, Since: r.StartTime,
			Detail: "ordered rollout, step " + string(r.Step)})
	}
	if u := st.Upgrade; u != nil && (u.Phase == canopyv1alpha1.UpgradeBackingUp ||
		u.Phase == canopyv1alpha1.UpgradeRollingOut || u.Phase == canopyv1alpha1.UpgradeFailed) {
		op := Operation{Kind: "Upgrade", Step: string(u.Phase), Since: u.StartTime, Message: u.Message,
			Running: u.Phase != canopyv1alpha1.UpgradeFailed, Detail: fmt.Sprintf("application %s → %s", u.FromVersion, u.ToVersion)}
		if u.BackupName != "" {
			op.Detail += ", pre-upgrade backup " + u.BackupName
		}
		out = append(out, op)
	}
	if r := st.Restore; r != nil && r.Step != canopyv1alpha1.StepSucceeded {
		out = append(out, Operation{Kind: "Restore", Step: string(r.Step), Message: r.Message, Running: r.Step != canopyv1alpha1.StepFailed,
			Detail: fmt.Sprintf("in-place restore %s of backup %s", r.ID, r.BackupName)})
	}
	if d := st.DatabaseUpgrade; d != nil && d.Step != canopyv1alpha1.StepSucceeded {
		op := Operation{Kind: "DatabaseUpgrade", Step: string(d.Step), Message: d.Message, Running: d.Step != canopyv1alpha1.StepFailed,
			Detail: fmt.Sprintf("PostgreSQL %s → %s, attempt %d", d.FromVersion, d.ToVersion, max(d.Attempt, 1))}
		if d.BackupName != "" {
			op.Detail += ", backup " + d.BackupName
		}
		out = append(out, op)
	}
	return out
}

// problems says what is wrong and, for each, the next step. The Stack's own failures come first,
// then each component's; a failure already explained by an operation is not repeated.
func problems(o *observedStack, r *StackReport) []Problem {
	name := o.stack.Name
	stackObj := "Stack " + o.stack.Namespace + "/" + name
	var out []Problem
	if r.Paused {
		out = append(out, Problem{Object: stackObj, Message: "paused: no change reaches its objects, and no upgrade or restore starts",
			Next: "kubectl canopy resume " + name})
	}
	failedUpgrade := false
	for _, op := range r.Operations {
		if op.Running || op.Step != string(canopyv1alpha1.StepFailed) {
			continue
		}
		switch op.Kind {
		case "Upgrade":
			failedUpgrade = true
			u := o.stack.Status.Upgrade
			out = append(out, Problem{Object: stackObj,
				Message: fmt.Sprintf("the upgrade to %s failed and %s serves again: %s", u.ToVersion, u.FromVersion, op.Message),
				Next: fmt.Sprintf("fix the cause, then kubectl canopy retry-upgrade %s to try %s again, "+
					"or kubectl canopy upgrade %s --version <another>", name, u.ToVersion, name)})
		case "DatabaseUpgrade":
			out = append(out, Problem{Object: stackObj, Message: "the PostgreSQL major upgrade failed; the old version runs on its kept volume: " + op.Message,
				Next: fmt.Sprintf("fix the cause, then kubectl canopy retry-upgrade %s (a new attempt with a new backup)", name)})
		case "Restore":
			rs := o.stack.Status.Restore
			out = append(out, Problem{Object: stackObj, Message: "the in-place restore failed; the data is as it was: " + op.Message,
				Next: fmt.Sprintf("fix the cause, then kubectl canopy restore %s --backup %s", name, rs.BackupName)})
		}
	}
	if c := conditions.Get(o.stack, componentsv1alpha1.ConditionStalled); c != nil && c.Status == metav1.ConditionTrue {
		switch c.Reason {
		case componentsv1alpha1.ReasonUpgradeFailed, "DatabaseUpgradeFailed":
			// said above, with the operation
		default:
			out = append(out, Problem{Object: stackObj, Message: c.Reason + ": " + c.Message, Next: nextStep(c.Reason, name)})
		}
	}
	// A Stack that serves but not as asked (the ingress certificate's issuer is missing); a failed
	// upgrade is said above, with the operation.
	if c := conditions.Get(o.stack, componentsv1alpha1.ConditionDegraded); c != nil && c.Status == metav1.ConditionTrue &&
		c.Reason != componentsv1alpha1.ReasonUpgradeFailed {
		out = append(out, Problem{Object: stackObj, Message: "degraded, " + c.Reason + ": " + c.Message, Next: nextStep(c.Reason, name)})
	}
	for _, comp := range r.Components {
		if !comp.Found || comp.Ready || !needsAttention(comp) {
			continue
		}
		if failedUpgrade && (comp.Reason == componentsv1alpha1.ReasonMigrationFailed || comp.Reason == componentsv1alpha1.ReasonRolloutFailed) {
			continue
		}
		out = append(out, Problem{Object: comp.Kind + " " + o.stack.Namespace + "/" + comp.Name,
			Message: comp.Reason + ": " + comp.Message, Next: nextStep(comp.Reason, name)})
	}
	if bp := o.bp; bp != nil {
		if c := conditions.Get(bp, componentsv1alpha1.ConditionBackupHealthy); c != nil && c.Status == metav1.ConditionFalse {
			next := "kubectl canopy backup " + name + " tries again"
			if f := bp.Status.LastFailedBackup; f != nil && f.JobName != "" {
				next = fmt.Sprintf("kubectl logs -n %s job/%s shows why; then kubectl canopy backup %s tries again", bp.Namespace, f.JobName, name)
			}
			out = append(out, Problem{Object: "BackupPolicy " + bp.Namespace + "/" + bp.Name,
				Message: "the latest backup failed (" + c.Reason + "): " + c.Message, Next: next})
		}
	}
	return out
}

// needsAttention reports whether a component that is not Ready waits for a person rather than
// for time: Stalled, or a reason that only a change fixes.
func needsAttention(c Component) bool {
	for _, cond := range c.Conditions {
		if cond.Type == componentsv1alpha1.ConditionStalled && cond.Status == metav1.ConditionTrue {
			return true
		}
	}
	_, known := nextSteps[c.Reason]
	return known
}

// nextSteps are what to do about a reason; %[1]s is the Stack's name.
var nextSteps = map[string]string{
	componentsv1alpha1.ReasonNameConflict: "an object with the name Canopy needs belongs to someone else: " +
		"delete or rename it, or label it canopy.dev/adopt=true to let the Stack take it over",
	componentsv1alpha1.ReasonCRDNotInstalled: "install the CRD named in the message (Canopy's bundle, or the integration's operator)",
	componentsv1alpha1.ReasonExistingData: "a kept data volume holds data: " +
		"set spec.restore.overwriteExistingData: true to replace it with the backup (docs/data-safety.md)",
	componentsv1alpha1.ReasonExpansionNotSupported: "the StorageClass cannot grow volumes: " +
		"set spec.database.storage.size back, or use a class with allowVolumeExpansion",
	componentsv1alpha1.ReasonMigrationFailed: "the migration Job failed: kubectl logs -n <namespace> job/<migration job>; " +
		"fix the version, then kubectl canopy upgrade %[1]s --version <fixed>",
	componentsv1alpha1.ReasonRolloutFailed: "the new pods did not become available: kubectl describe pods; " +
		"fix the version, then kubectl canopy upgrade %[1]s --version <fixed>",
	componentsv1alpha1.ReasonMajorUpgradeFailed: "kubectl canopy retry-upgrade %[1]s starts a new attempt once the cause is fixed",
	componentsv1alpha1.ReasonInvalidSpec:        "fix the field the message names: kubectl edit stack %[1]s",
	componentsv1alpha1.ReasonPurgeFailed: "fix access to the backup destination, " +
		"or annotate the Stack canopy.dev/skip-backup-purge=true to keep the backups",
	componentsv1alpha1.ReasonRestoreFailed: "the restore Job failed: kubectl get jobs -l canopy.dev/restore shows it; the data is as it was",
	componentsv1alpha1.ReasonSecretNotFound: "create the Secret the message names in the Stack's namespace, with the keys it lists; " +
		"the backup, restore or purge that waits starts once Canopy sees it (it looks again within 5 minutes)",
	componentsv1alpha1.ReasonSecretKeyMissing: "add the key the message names to the Secret, or point the Stack at a key it holds",
	componentsv1alpha1.ReasonSecretKeyInvalid: "replace the key with 32 random bytes or their base64: " +
		"kubectl create secret generic <name> --from-literal=<keyID>=\"$(openssl rand -base64 32)\" (a new keyID keeps old backups readable)",
	componentsv1alpha1.ReasonSuperuserSecretLost: "recreate the Secret the message names with PostgreSQL's superuser password " +
		"(from your backup of it); a new password would not match the data. Or restore the Stack from a backup into a new one",
	componentsv1alpha1.ReasonIssuerNotFound: "create the Issuer (in the Stack's namespace) or ClusterIssuer the message names, " +
		"or fix spec.tls.issuerRef (the database's and the ingress host's certificates): kubectl edit stack %[1]s",
	agent.ReasonUploadFailed: "the backup could not reach or write the destination: check the endpoint, bucket and network " +
		"the message names; the next scheduled backup retries",
	canopyv1alpha1.ReasonChildRejected: "the API server refused the Stack's change to a component: change the Stack as the message says",
	canopyv1alpha1.ReasonStepTimeout:   "the step waits longer than spec.rollout.stepTimeout: the component below says what it waits for",
	agent.ReasonUnauthorized:           "the backup destination refused the credentials: fix the Secret named in spec.backup.destination",
	agent.ReasonNotFound:               "the backup destination does not exist: create it or fix spec.backup.destination",
}

func nextStep(reason, stack string) string {
	if n, ok := nextSteps[reason]; ok {
		return strings.ReplaceAll(n, "%[1]s", stack)
	}
	return "kubectl describe stack " + stack + " shows the events"
}
