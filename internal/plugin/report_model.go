package plugin

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// StackReport is what `status` shows: the Stack, its three internal objects and their workloads,
// the operations in flight, the newest backups, and what is wrong with the next step for each.
// `status -o json|yaml` prints it as it is, for scripts.
type StackReport struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Ready, Reason and Message are the Stack's Ready condition.
	Ready   bool   `json:"ready"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Version serves now; DesiredVersion is spec.version.
	Version          string `json:"version,omitempty"`
	DesiredVersion   string `json:"desiredVersion"`
	URL              string `json:"url,omitempty"`
	DatabaseEndpoint string `json:"databaseEndpoint,omitempty"`
	// CredentialsSecretName names the Secret; its content is never read.
	CredentialsSecretName string             `json:"credentialsSecretName,omitempty"`
	Paused                bool               `json:"paused,omitempty"`
	Deleting              bool               `json:"deleting,omitempty"`
	Conditions            []metav1.Condition `json:"conditions,omitempty"`
	Components            []Component        `json:"components"`
	Operations            []Operation        `json:"operations,omitempty"`
	// Backups are the newest backups of the catalogue, newest first.
	Backups           []componentsv1alpha1.BackupRecord `json:"backups,omitempty"`
	BackupsTotal      int                               `json:"backupsTotal"`
	LastBackupFailure *componentsv1alpha1.BackupFailure `json:"lastBackupFailure,omitempty"`
	Problems          []Problem                         `json:"problems,omitempty"`
	// Hidden names what the user's permissions did not let the plugin read.
	Hidden []string `json:"hidden,omitempty"`
}

// Component is one internal object (Database, Frontend, BackupPolicy).
type Component struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Found is false when the object does not exist (not created yet, or no spec.backup).
	Found   bool   `json:"found"`
	Ready   bool   `json:"ready"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Summary is one line of facts: versions, replicas, endpoint, schedule.
	Summary    string             `json:"summary,omitempty"`
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	Workloads  []Workload         `json:"workloads,omitempty"`
}

// Workload is a Kubernetes object a component runs: StatefulSet, Deployment, CronJob, Job.
type Workload struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Healthy bool   `json:"healthy"`
	// Failed is true for a Job that failed; a workload neither healthy nor failed is waiting.
	Failed  bool   `json:"failed,omitempty"`
	Summary string `json:"summary"`
}

// Operation is a data operation or rollout step: running, or the last one when it failed.
type Operation struct {
	// Kind: Rollout, Upgrade, Restore or DatabaseUpgrade.
	Kind string `json:"kind"`
	// Step or phase, as the Stack's status names it.
	Step    string       `json:"step"`
	Detail  string       `json:"detail"`
	Since   *metav1.Time `json:"since,omitempty"`
	Running bool         `json:"running"`
	Message string       `json:"message,omitempty"`
}

// Problem is something wrong, on which object, and what to do next.
type Problem struct {
	Object  string `json:"object"`
	Message string `json:"message"`
	Next    string `json:"next,omitempty"`
}
