package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CronSchedule is a five-field cron expression (minute hour day-of-month month day-of-week) or one of
// the macros @hourly, @daily, @midnight, @weekly, @monthly, @yearly and @annually. Time zones go in
// timeZone, not in the schedule. Admission checks the shape and the value ranges, as the controller's parser
// (robfig/cron ParseStandard) does; an empty schedule takes no scheduled backups.
// +kubebuilder:validation:MaxLength=128
// +kubebuilder:validation:XValidation:rule="self.size() == 0 || self.matches('^@(hourly|daily|midnight|weekly|monthly|yearly|annually)$') || self.matches('^(([*]|[0-9]{1,2}(-[0-9]{1,2})?|[A-Za-z]{3}(-[A-Za-z]{3})?)(/[0-9]{1,2})?)(,(([*]|[0-9]{1,2}(-[0-9]{1,2})?|[A-Za-z]{3}(-[A-Za-z]{3})?)(/[0-9]{1,2})?))*( +(([*]|[0-9]{1,2}(-[0-9]{1,2})?|[A-Za-z]{3}(-[A-Za-z]{3})?)(/[0-9]{1,2})?)(,(([*]|[0-9]{1,2}(-[0-9]{1,2})?|[A-Za-z]{3}(-[A-Za-z]{3})?)(/[0-9]{1,2})?))*){4}$')",message="schedule must be a cron expression with five fields (minute hour day-of-month month day-of-week), such as \"0 2 * * *\", or a macro such as @daily"
// +kubebuilder:validation:XValidation:rule="self.size() == 0 || self.startsWith('@') || self.matches('^([*]|([0-5]?[0-9])(-([0-5]?[0-9]))?)(/(0?[1-9]|[1-9][0-9]))?(,([*]|([0-5]?[0-9])(-([0-5]?[0-9]))?)(/(0?[1-9]|[1-9][0-9]))?)* +([*]|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/(0?[1-9]|[1-9][0-9]))?(,([*]|([01]?[0-9]|2[0-3])(-([01]?[0-9]|2[0-3]))?)(/(0?[1-9]|[1-9][0-9]))?)* +([*]|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/(0?[1-9]|[1-9][0-9]))?(,([*]|(0?[1-9]|[12][0-9]|3[01])(-(0?[1-9]|[12][0-9]|3[01]))?)(/(0?[1-9]|[1-9][0-9]))?)* +([*]|(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(-(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?)(/(0?[1-9]|[1-9][0-9]))?(,([*]|(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec))(-(0?[1-9]|1[0-2]|(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)))?)(/(0?[1-9]|[1-9][0-9]))?)* +([*]|(0?[0-6]|(?i:sun|mon|tue|wed|thu|fri|sat))(-(0?[0-6]|(?i:sun|mon|tue|wed|thu|fri|sat)))?)(/(0?[1-9]|[1-9][0-9]))?(,([*]|(0?[0-6]|(?i:sun|mon|tue|wed|thu|fri|sat))(-(0?[0-6]|(?i:sun|mon|tue|wed|thu|fri|sat)))?)(/(0?[1-9]|[1-9][0-9]))?)*$')",message="schedule: a value is out of range or a step is 0 (minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec, day of week 0-6 or sun-sat)"
type CronSchedule string

// BackupPolicySpec describes scheduled and on-demand backups of one Database.
type BackupPolicySpec struct {
	// databaseName is the Database (same namespace) to back up; its status gives the endpoint,
	// credentials and PostgreSQL image.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	DatabaseName string `json:"databaseName"`

	// stackName is recorded in each backup's manifest.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StackName string `json:"stackName,omitempty"`

	// appVersion is recorded in each backup's manifest: the application version serving when the
	// backup was taken.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	AppVersion string `json:"appVersion,omitempty"`

	// schedule of the backups; empty takes backups only on request.
	// +optional
	Schedule CronSchedule `json:"schedule,omitempty"`

	// timeZone of the schedule, an IANA name such as Europe/Paris; empty uses the controller
	// manager's time zone (usually UTC).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9_+-]{0,13}(/[A-Za-z0-9_+-]{1,14})*$') && self.lowerAscii() != 'local'",message="timeZone must be an IANA time zone name such as Europe/Paris (parts of at most 14 characters; not Local)"
	TimeZone *string `json:"timeZone,omitempty"`

	// suspend stops scheduled backups; on-demand requests still run.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// destination of the backups.
	// +required
	Destination BackupDestination `json:"destination"`

	// retention of successful backups.
	// +optional
	// +kubebuilder:default={}
	Retention RetentionPolicy `json:"retention,omitzero"`

	// backupRequest: each new value starts exactly one backup, also across retries and operator
	// restarts. status.lastRequest reports its outcome.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')",message="backupRequest must be letters, digits, '-', '_' and '.'"
	BackupRequest string `json:"backupRequest,omitempty"`

	// hold, while set, makes scheduled backups and canopy.dev/backup-now requests wait: the CronJob
	// is suspended, and a new annotation request stays Pending (kept, not dropped) until the hold
	// is lifted, then runs. The stack controller sets it while a data operation runs (application
	// upgrade, in-place restore, PostgreSQL major upgrade). spec.backupRequest is not held: it is
	// that operation's own backup, started once no held backup is still running.
	// +optional
	Hold *BackupHold `json:"hold,omitempty"`

	// protectedBackups names backups that retention never deletes, whatever the policy: the ones a
	// data operation in flight reads or may have to go back to. Every backup Job passes them to the
	// agent, and the catalogue in status keeps them.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=255
	ProtectedBackups []string `json:"protectedBackups,omitempty"`

	// backupRetention: Delete removes the backups Canopy wrote (never anything else) when the
	// BackupPolicy is deleted; Retain (the default) keeps them.
	// +optional
	// +kubebuilder:default=Retain
	BackupRetention RetainPolicy `json:"backupRetention,omitempty"`

	// successfulJobsHistoryLimit keeps this many finished backup Jobs for inspection.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`

	// failedJobsHistoryLimit keeps this many failed backup Jobs for inspection.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`

	// timeoutSeconds after which a running backup is stopped and reported as failed.
	// +optional
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=604800
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`

	// scratchSize bounds the space a backup pod's dump may take before it is stored (an emptyDir
	// with this size limit, and the same ephemeral-storage request, so the pod only lands on a node
	// with room for it). The Stack sets it from spec.backup.scratchSize or its database's storage
	// size. Unset: no limit.
	// +optional
	ScratchSize *resource.Quantity `json:"scratchSize,omitempty"`
}

// BackupHold says why scheduled and annotation-requested backups wait.
type BackupHold struct {
	// reason is a CamelCase cause, such as DatabaseUpgrading.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]*$`
	Reason string `json:"reason"`

	// message explains the hold to a person.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// BackupRecord describes one successful backup, as written in its manifest.
type BackupRecord struct {
	// name of the backup, unique within the destination.
	// +required
	Name string `json:"name"`
	// trigger that started it: Scheduled, Request or Annotation.
	// +optional
	Trigger string `json:"trigger,omitempty"`
	// request is the backupRequest token or annotation value that started it, if any.
	// +optional
	Request string `json:"request,omitempty"`
	// startTime of the dump.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// completionTime of the upload.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// sizeBytes of the dump.
	// +optional
	SizeBytes int64 `json:"sizeBytes,omitempty"`
	// sha256 of the dump, hex encoded.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
	// databaseVersion that was dumped.
	// +optional
	DatabaseVersion string `json:"databaseVersion,omitempty"`
	// appVersion serving when the backup was taken.
	// +optional
	AppVersion string `json:"appVersion,omitempty"`
	// location of the dump: a URL such as s3://bucket/prefix/name or pvc://claim/name.
	// +optional
	Location string `json:"location,omitempty"`
	// encrypted is true when the stored dump is encrypted; sizeBytes and sha256 are then those of
	// the encrypted file, as stored.
	// +optional
	Encrypted bool `json:"encrypted,omitempty"`
	// keyID is the id of the key, in the destination's encryption Secret, that encrypted the
	// backup: a restore needs that key.
	// +optional
	KeyID string `json:"keyID,omitempty"`
}

// BackupFailure describes the latest failed backup.
type BackupFailure struct {
	// jobName of the failed Job.
	// +optional
	JobName string `json:"jobName,omitempty"`
	// request that started it, if any.
	// +optional
	Request string `json:"request,omitempty"`
	// time of the failure.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
	// reason is a CamelCase cause.
	// +optional
	Reason string `json:"reason,omitempty"`
	// message from the agent or the Job.
	// +optional
	Message string `json:"message,omitempty"`
}

// BackupRequestStatus reports the outcome of the latest backupRequest or annotation.
type BackupRequestStatus struct {
	// id is the request token.
	// +optional
	ID string `json:"id,omitempty"`
	// phase: Pending, Running, Succeeded or Failed.
	// +optional
	// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
	Phase RequestPhase `json:"phase,omitempty"`
	// jobName of the Job that serves the request.
	// +optional
	JobName string `json:"jobName,omitempty"`
	// backupName produced, once Succeeded.
	// +optional
	BackupName string `json:"backupName,omitempty"`
	// message explains a failure.
	// +optional
	Message string `json:"message,omitempty"`
}

// BackupPolicyStatus is what the backup controller observes.
type BackupPolicyStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled, and Held while spec.hold is set.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// backups is the catalogue of recent successful backups, newest first, bounded in length.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	Backups []BackupRecord `json:"backups,omitempty"`

	// lastSuccessfulBackup is the newest successful backup.
	// +optional
	LastSuccessfulBackup *BackupRecord `json:"lastSuccessfulBackup,omitempty"`

	// lastFailedBackup is the newest failed backup.
	// +optional
	LastFailedBackup *BackupFailure `json:"lastFailedBackup,omitempty"`

	// lastRequest reports the newest on-demand request (spec.backupRequest).
	// +optional
	LastRequest *BackupRequestStatus `json:"lastRequest,omitempty"`

	// lastAnnotationRequest reports the newest request by the canopy.dev/backup-now annotation.
	// +optional
	LastAnnotationRequest *BackupRequestStatus `json:"lastAnnotationRequest,omitempty"`

	// nextScheduledTime of the next scheduled backup.
	// +optional
	NextScheduledTime *metav1.Time `json:"nextScheduledTime,omitempty"`
}

// BackupPolicy schedules and runs the backups of one Database; created by the stack controller.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=cbp,categories=canopy-internal
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Last backup",type=date,JSONPath=`.status.lastSuccessfulBackup.completionTime`
// +kubebuilder:printcolumn:name="Next",type=string,JSONPath=`.status.nextScheduledTime`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BackupPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired backup policy.
	// +required
	Spec BackupPolicySpec `json:"spec"`

	// status is what the backup controller observes.
	// +optional
	Status BackupPolicyStatus `json:"status,omitzero"`
}

// BackupPolicyList is a list of BackupPolicies.
// +kubebuilder:object:root=true
type BackupPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BackupPolicy `json:"items"`
}
