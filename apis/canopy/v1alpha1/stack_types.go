package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// DeletionPolicy says what happens to an application's objects when its Stack is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete removes what Canopy created, except data (see dataRetention).
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves every workload running, without owner references or Canopy's
	// management labels.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// StackSpec is one application: a web tier, its PostgreSQL database and their backups.
// +kubebuilder:validation:XValidation:rule="has(self.restore) == has(oldSelf.restore) && (!has(self.restore) || (self.restore.backupName == oldSelf.restore.backupName && has(self.restore.stack) == has(oldSelf.restore.stack) && (!has(self.restore.stack) || self.restore.stack == oldSelf.restore.stack) && has(self.restore.destination) == has(oldSelf.restore.destination) && (!has(self.restore.destination) || self.restore.destination == oldSelf.restore.destination)))",message="restore can only be set when the Stack is created and cannot be changed or removed afterwards (only restore.overwriteExistingData may be set later)",fieldPath=.restore,reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.restore) || has(self.restore.destination) || has(self.backup)",message="restore needs restore.destination, or spec.backup.destination to find the backup in",fieldPath=.restore,reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.restoreRequest) || has(self.restoreRequest.destination) || has(self.backup)",message="restoreRequest needs restoreRequest.destination, or spec.backup.destination to find the backup in",fieldPath=.restoreRequest,reason=FieldValueRequired
// +kubebuilder:validation:XValidation:rule="!has(self.database) || !has(self.database.allowMajorVersionUpgrade) || !self.database.allowMajorVersionUpgrade || has(self.backup)",message="database.allowMajorVersionUpgrade needs spec.backup: a major upgrade moves the data through a backup",fieldPath=.database.allowMajorVersionUpgrade
// +kubebuilder:validation:XValidation:rule="self.deletionPolicy == 'Delete' || !has(self.dataRetention) || (self.dataRetention.persistentVolumeClaims == 'Retain' && self.dataRetention.backups == 'Retain')",message="dataRetention can delete data only with deletionPolicy: Delete",fieldPath=.dataRetention
type StackSpec struct {
	// version of the application: the image tag of the web tier. Changing it upgrades the Stack:
	// pre-upgrade backup, migration, rollout, and automatic rollback on failure.
	// +required
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9_][A-Za-z0-9_.-]*$')",message="version must be an image tag such as 1.4.2 (letters, digits, '_', '.' and '-', at most 128 characters)"
	Version string `json:"version"`

	// frontend is the application's web tier.
	// +required
	Frontend StackFrontend `json:"frontend"`

	// database is the application's PostgreSQL database.
	// +optional
	// +kubebuilder:default={}
	Database StackDatabase `json:"database,omitzero"`

	// backup schedules backups of the database. Without it no BackupPolicy is created.
	// +optional
	Backup *StackBackup `json:"backup,omitempty"`

	// restore fills the database of a new Stack from a backup before the web tier starts. Set only
	// at creation.
	// +optional
	Restore *StackRestore `json:"restore,omitempty"`

	// restoreRequest restores a backup into this running Stack: the web tier stops, a safety backup
	// is taken, the backup is restored and the web tier starts again. Each new id runs once.
	// +optional
	RestoreRequest *StackRestoreRequest `json:"restoreRequest,omitempty"`

	// tls issues certificates from cert-manager for the database and the ingress host.
	// +optional
	TLS *componentsv1alpha1.TLSSpec `json:"tls,omitempty"`

	// monitoring creates ServiceMonitors and alerting rules for the Prometheus operator.
	// +optional
	Monitoring *componentsv1alpha1.MonitoringSpec `json:"monitoring,omitempty"`

	// deletionPolicy: Delete removes what Canopy created when the Stack is deleted (data is kept
	// unless dataRetention says otherwise); Orphan leaves everything running, unmanaged.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// dataRetention says whether data volumes and backups survive the Stack's deletion; both are
	// kept by default.
	// +optional
	DataRetention *DataRetention `json:"dataRetention,omitempty"`

	// paused stops all changes to the Stack's objects; status says so.
	// +optional
	Paused bool `json:"paused,omitempty"`

	// rollout tunes the ordered rollout.
	// +optional
	// +kubebuilder:default={}
	Rollout RolloutSpec `json:"rollout,omitzero"`
}

// StackFrontend is the web tier of a Stack.
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.autoscaling))",message="frontend: set either replicas or autoscaling, not both: with autoscaling the HorizontalPodAutoscaler owns the replica count",fieldPath=.replicas
type StackFrontend struct {
	// image is the application image repository without a tag, optionally pinned with
	// @sha256:<digest>; the tag is spec.version.
	// +required
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^((([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])([.]([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(:[0-9]+)?/)?[a-z0-9]+(([._]|__|[-]+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|[-]+)[a-z0-9]+)*)*)(@sha256:[a-f0-9]{64})?$')",message="frontend.image must be a repository without a tag, such as ghcr.io/acme/shop, optionally pinned with @sha256:<digest>; the tag comes from spec.version"
	// +kubebuilder:validation:XValidation:rule="self.split('@')[0].size() <= 255",message="frontend.image: the repository name must be at most 255 characters"
	Image string `json:"image"`

	// replicas of the web tier when autoscaling is off (default 2).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Replicas *int32 `json:"replicas,omitempty"`

	// autoscaling hands the replica count to a HorizontalPodAutoscaler.
	// +optional
	Autoscaling *componentsv1alpha1.AutoscalingSpec `json:"autoscaling,omitempty"`

	// port the application listens on (HTTP).
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// env adds environment variables to the application container. DATABASE_URL and the PG*
	// variables are set by Canopy from the credentials Secret.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:XValidation:rule="self.all(e, !has(e.valueFrom) || !has(e.value) || e.value == '')",message="frontend.env: set value or valueFrom, not both"
	// +kubebuilder:validation:XValidation:rule="self.all(e, !has(e.valueFrom) || [has(e.valueFrom.fieldRef), has(e.valueFrom.resourceFieldRef), has(e.valueFrom.configMapKeyRef), has(e.valueFrom.secretKeyRef)].exists_one(b, b))",message="frontend.env: valueFrom must set exactly one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef"
	Env []corev1.EnvVar `json:"env,omitempty"`

	// resources of the application container. Empty: requests of 100m CPU and 128Mi memory, so
	// that the scheduler and autoscaling have something to go by (docs/stack-controller.md).
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.claims) || size(self.claims) == 0",message="frontend.resources.claims cannot be set: Canopy's pods declare no resource claims",fieldPath=.claims
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// readOnlyRootFilesystem: false lets an image that writes outside /tmp run (its container gets
	// a writable root filesystem); every other restriction of the restricted Pod Security Standard
	// stays. Default true.
	// +optional
	ReadOnlyRootFilesystem *bool `json:"readOnlyRootFilesystem,omitempty"`

	// probes are the HTTP health checks of the application.
	// +optional
	Probes *componentsv1alpha1.ProbesSpec `json:"probes,omitempty"`

	// ingress exposes the application on a host name.
	// +optional
	Ingress *componentsv1alpha1.IngressSpec `json:"ingress,omitempty"`

	// migration runs before each version rollout, with the new image.
	// +optional
	Migration *componentsv1alpha1.MigrationSpec `json:"migration,omitempty"`

	// metricsPath of the application's Prometheus endpoint, scraped when monitoring is on.
	// +optional
	// +kubebuilder:default="/metrics"
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="frontend.metricsPath must start with '/'"
	MetricsPath string `json:"metricsPath,omitempty"`

	// progressDeadlineSeconds after which a rollout that has not become available counts as failed
	// and is rolled back.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=30
	// +kubebuilder:validation:Maximum=86400
	ProgressDeadlineSeconds int32 `json:"progressDeadlineSeconds,omitempty"`

	// imagePullSecrets for the application image.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=8
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
}

// StackDatabase is the PostgreSQL database of a Stack.
// +kubebuilder:validation:XValidation:rule="!has(self.version) || !has(oldSelf.version) || int(self.version.split('.')[0]) >= int(oldSelf.version.split('.')[0])",message="database.version: a PostgreSQL major version cannot be downgraded (restore a backup into a new Stack instead)",fieldPath=.version
// +kubebuilder:validation:XValidation:rule="!has(self.version) || !has(oldSelf.version) || int(self.version.split('.')[0]) == int(oldSelf.version.split('.')[0]) || (has(self.allowMajorVersionUpgrade) && self.allowMajorVersionUpgrade)",message="database.version: changing the PostgreSQL major version needs database.allowMajorVersionUpgrade: true (it runs a backup and restore)",fieldPath=.version
type StackDatabase struct {
	// version of PostgreSQL: a major version such as "17" or a major and minor such as "17.2".
	// +optional
	// +kubebuilder:default="17"
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^(1[3-9]|[2-9][0-9])([.][0-9]{1,3})?$')",message="database.version must be a PostgreSQL version such as \"17\" or \"17.2\" (major 13 or later)"
	Version string `json:"version,omitempty"`

	// image overrides the PostgreSQL image; empty uses the operator's default for the version.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^((([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])([.]([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(:[0-9]+)?/)?[a-z0-9]+(([._]|__|[-]+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|[-]+)[a-z0-9]+)*)*)(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$')",message="database.image must be an image reference such as ghcr.io/acme/postgres:17.2, optionally pinned with @sha256:<digest>"
	// +kubebuilder:validation:XValidation:rule="self.split('@')[0].size() <= 255",message="database.image: the repository and tag must be at most 255 characters"
	Image string `json:"image,omitempty"`

	// allowMajorVersionUpgrade permits a change of the major version (backup, new instance,
	// restore; the old data volume is kept).
	// +optional
	AllowMajorVersionUpgrade bool `json:"allowMajorVersionUpgrade,omitempty"`

	// storage of the data volume. It can grow but not shrink; its class is immutable.
	// +optional
	// +kubebuilder:default={}
	Storage componentsv1alpha1.StorageSpec `json:"storage,omitzero"`

	// resources of the PostgreSQL container; the memory drives auto-tuning. Empty: requests of
	// 250m CPU and 512Mi memory with a 512Mi memory limit, the size auto-tuning then tunes for.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.claims) || size(self.claims) == 0",message="database.resources.claims cannot be set: Canopy's pods declare no resource claims",fieldPath=.claims
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// expectedConnections to plan for: sets max_connections and, with the memory, work_mem.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=10000
	ExpectedConnections int32 `json:"expectedConnections,omitempty"`

	// parameters override postgresql.conf settings and win over auto-tuned values.
	// +optional
	// +kubebuilder:validation:MaxProperties=128
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z][a-z0-9_.]*$'))",message="database.parameters: names must be PostgreSQL setting names (lower case letters, digits, '_' and '.')"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['data_directory', 'hba_file', 'ident_file', 'config_file', 'listen_addresses', 'port', 'unix_socket_directories', 'ssl', 'ssl_cert_file', 'ssl_key_file', 'ssl_ca_file', 'external_pid_file']))",message="database.parameters: data_directory, hba_file, ident_file, config_file, listen_addresses, port, unix_socket_directories, external_pid_file and the ssl settings are managed by Canopy and cannot be overridden"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['include', 'include_dir', 'include_if_exists', 'archive_command', 'archive_cleanup_command', 'recovery_end_command', 'restore_command', 'ssl_passphrase_command', 'dynamic_library_path']))",message="database.parameters: include directives, the settings that run shell commands (archive_command, archive_cleanup_command, recovery_end_command, restore_command, ssl_passphrase_command) and dynamic_library_path cannot be set: they would read files or run programs in the database's pod"
	// +kubebuilder:validation:XValidation:rule="['shared_preload_libraries', 'local_preload_libraries', 'session_preload_libraries', 'archive_library', 'jit_provider'].all(k, !(k in self) || !self[k].contains('/'))",message="database.parameters: shared_preload_libraries, local_preload_libraries, session_preload_libraries, archive_library and jit_provider name libraries of the image, not paths: they cannot contain '/'"
	Parameters map[string]string `json:"parameters,omitempty"`

	// credentialsRotation: a new value rotates the database password (inside PostgreSQL and in the
	// credentials Secret). The value is a token with no meaning.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	CredentialsRotation string `json:"credentialsRotation,omitempty"`

	// releaseVolumes names kept data volumes (status.keptVolumes) to delete: an earlier major's
	// after a successful upgrade, a failed attempt's. The volume in use is never deleted.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="database.releaseVolumes must hold claim names"
	ReleaseVolumes []string `json:"releaseVolumes,omitempty"`
}

// StackBackup schedules backups of a Stack's database.
type StackBackup struct {
	// schedule of the backups as a cron expression, such as "0 2 * * *"; empty takes backups only on
	// request.
	// +optional
	Schedule componentsv1alpha1.CronSchedule `json:"schedule,omitempty"`

	// timeZone of the schedule, an IANA name such as Europe/Paris.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9_+-]{0,13}(/[A-Za-z0-9_+-]{1,14})*$') && self.lowerAscii() != 'local'",message="backup.timeZone must be an IANA time zone name such as Europe/Paris (parts of at most 14 characters; not Local)"
	TimeZone *string `json:"timeZone,omitempty"`

	// suspend stops scheduled backups; on-demand and pre-upgrade backups still run.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// destination of the backups: a volume or an S3-compatible bucket.
	// +required
	Destination componentsv1alpha1.BackupDestination `json:"destination"`

	// retention of successful backups.
	// +optional
	// +kubebuilder:default={}
	Retention componentsv1alpha1.RetentionPolicy `json:"retention,omitzero"`

	// beforeUpgrade takes a backup, and waits for it, before each version upgrade.
	// +optional
	// +kubebuilder:default=true
	BeforeUpgrade *bool `json:"beforeUpgrade,omitempty"`

	// timeoutSeconds after which a running backup is stopped and reported as failed.
	// +optional
	// +kubebuilder:default=3600
	// +kubebuilder:validation:Minimum=60
	// +kubebuilder:validation:Maximum=604800
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`

	// scratchSize is the space a backup may use for its dump before storing it; defaults to
	// database.storage.size (a dump is smaller than the data it comes from). A backup whose dump
	// outgrows it fails and is reported.
	// +optional
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="backup.scratchSize must be greater than zero"
	ScratchSize *resource.Quantity `json:"scratchSize,omitempty"`
}

// StackRestore names the backup a new Stack starts from.
type StackRestore struct {
	// backupName of the backup to restore.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="restore.backupName must be a backup name such as shop-20260101-020000 (lower case letters, digits, '-' and '.')"
	BackupName string `json:"backupName"`

	// stack that took the backup: its name, or namespace.name for a Stack of another namespace;
	// defaults to this Stack, as when a deleted Stack is recreated from its own backups.
	// +optional
	// +kubebuilder:validation:MaxLength=127
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?[.])?[a-z]([-a-z0-9]*[a-z0-9])?$')",message="restore.stack must be a Stack name, or namespace.name for a Stack of another namespace"
	// +kubebuilder:validation:XValidation:rule="self.split('.')[0].size() <= 63",message="restore.stack: a namespace name has at most 63 characters"
	Stack string `json:"stack,omitempty"`

	// destination holding the backup; defaults to spec.backup.destination.
	// +optional
	Destination *componentsv1alpha1.BackupDestination `json:"destination,omitempty"`

	// overwriteExistingData confirms that the backup may replace the data on a volume kept from a
	// deleted Stack of the same name (deletionPolicy kept its volumes). Without it that volume is
	// never overwritten: the Stack is Stalled with reason ExistingData and says which volume.
	// +optional
	OverwriteExistingData bool `json:"overwriteExistingData,omitempty"`
}

// StackRestoreRequest asks for one in-place restore.
type StackRestoreRequest struct {
	// id of the request; each new id restores once.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')",message="restoreRequest.id must be letters, digits, '-', '_' and '.'"
	ID string `json:"id"`

	// backupName of the backup to restore.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="restoreRequest.backupName must be a backup name (lower case letters, digits, '-' and '.')"
	BackupName string `json:"backupName"`

	// destination holding the backup; defaults to spec.backup.destination.
	// +optional
	Destination *componentsv1alpha1.BackupDestination `json:"destination,omitempty"`
}

// DataRetention says whether data survives the Stack's deletion.
type DataRetention struct {
	// persistentVolumeClaims of the database and of Canopy-created backup volumes.
	// +optional
	// +kubebuilder:default=Retain
	PersistentVolumeClaims componentsv1alpha1.RetainPolicy `json:"persistentVolumeClaims,omitempty"`

	// backups written by Canopy at the destination.
	// +optional
	// +kubebuilder:default=Retain
	Backups componentsv1alpha1.RetainPolicy `json:"backups,omitempty"`
}

// RolloutSpec tunes the ordered rollout.
type RolloutSpec struct {
	// stepTimeout is how long one step (database, backup, frontend, upgrade backup) may take before
	// the Stack reports it as stuck, as a Go duration such as 15m.
	// +optional
	// +kubebuilder:default="15m"
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(s|m|h))+$') && duration(self) >= duration('30s') && duration(self) <= duration('24h')",message="rollout.stepTimeout must be a duration between 30s and 24h, such as 15m"
	StepTimeout string `json:"stepTimeout,omitempty"`
}

// ComponentStatus summarises one internal object.
type ComponentStatus struct {
	// name of the internal object.
	// +optional
	Name string `json:"name,omitempty"`
	// desiredVersion the Stack asks for.
	// +optional
	DesiredVersion string `json:"desiredVersion,omitempty"`
	// observedVersion the component runs.
	// +optional
	ObservedVersion string `json:"observedVersion,omitempty"`
	// ready mirrors the component's Ready condition.
	// +optional
	Ready bool `json:"ready"`
	// reason of the component's Ready condition.
	// +optional
	Reason string `json:"reason,omitempty"`
	// message of the component's Ready condition.
	// +optional
	Message string `json:"message,omitempty"`
}

// ComponentsStatus summarises every internal object at once.
type ComponentsStatus struct {
	// database is the Database.
	// +optional
	Database *ComponentStatus `json:"database,omitempty"`
	// frontend is the Frontend.
	// +optional
	Frontend *ComponentStatus `json:"frontend,omitempty"`
	// backup is the BackupPolicy.
	// +optional
	Backup *ComponentStatus `json:"backup,omitempty"`
}

// LastBackup points at the newest successful backup.
type LastBackup struct {
	// name of the backup.
	// +optional
	Name string `json:"name,omitempty"`
	// time the backup completed.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
	// location of the dump.
	// +optional
	Location string `json:"location,omitempty"`
}

// UpgradeStatus reports the version upgrade in progress or the last one.
type UpgradeStatus struct {
	// fromVersion that served before the upgrade.
	// +optional
	FromVersion string `json:"fromVersion,omitempty"`
	// toVersion requested.
	// +optional
	ToVersion string `json:"toVersion,omitempty"`
	// phase: BackingUp, RollingOut, Succeeded, Failed (rolled back), or Cancelled (spec.version
	// returned to the serving version; the same version may then be tried again).
	// +optional
	// +kubebuilder:validation:Enum=BackingUp;RollingOut;Succeeded;Failed;Cancelled
	Phase UpgradePhase `json:"phase,omitempty"`
	// backupRequest is the pre-upgrade backup token given to the BackupPolicy.
	// +optional
	BackupRequest string `json:"backupRequest,omitempty"`
	// backupName of the pre-upgrade backup, once taken.
	// +optional
	BackupName string `json:"backupName,omitempty"`
	// startTime of the upgrade.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// message explains a failure.
	// +optional
	Message string `json:"message,omitempty"`
}

// RestoreProgress reports an in-place restore.
type RestoreProgress struct {
	// id of the request.
	// +optional
	ID string `json:"id,omitempty"`
	// backupName restored.
	// +optional
	BackupName string `json:"backupName,omitempty"`
	// step: StoppingFrontend, SafetyBackup, Restoring, StartingFrontend, Succeeded or Failed.
	// +optional
	// +kubebuilder:validation:Enum=StoppingFrontend;SafetyBackup;Restoring;StartingFrontend;Succeeded;Failed
	Step OperationStep `json:"step,omitempty"`
	// message explains a failure.
	// +optional
	Message string `json:"message,omitempty"`
}

// DatabaseUpgradeProgress reports a PostgreSQL major-version upgrade.
type DatabaseUpgradeProgress struct {
	// fromVersion of PostgreSQL before the upgrade.
	// +optional
	FromVersion string `json:"fromVersion,omitempty"`
	// toVersion requested.
	// +optional
	ToVersion string `json:"toVersion,omitempty"`
	// backupName is the backup taken with the web tier stopped and loaded into the new version.
	// +optional
	BackupName string `json:"backupName,omitempty"`
	// step: StoppingFrontend, Backup, Upgrading, StartingFrontend, Succeeded or Failed.
	// +optional
	// +kubebuilder:validation:Enum=StoppingFrontend;Backup;Upgrading;StartingFrontend;Succeeded;Failed
	Step OperationStep `json:"step,omitempty"`
	// message explains a failure.
	// +optional
	Message string `json:"message,omitempty"`
	// attempt counts this Stack's major-upgrade attempts; each one takes its own backup.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempt int32 `json:"attempt,omitempty"`
	// retryRequest is the canopy.dev/retry-database-upgrade value when this attempt started: a
	// failed attempt starts again when the annotation takes another value.
	// +optional
	RetryRequest string `json:"retryRequest,omitempty"`
}

// RolloutProgress reports the step of the ordered rollout in progress.
type RolloutProgress struct {
	// step: Database, Backup, Frontend or Upgrade.
	// +optional
	Step RolloutStep `json:"step,omitempty"`
	// startTime of the step; the step is stuck after spec.rollout.stepTimeout.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
}

// StackStatus is the truthful summary of one application.
type StackStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (always), Reconciling and Stalled (only when true), Degraded, DatabaseReady,
	// FrontendReady, BackupReady, Upgradeable, Paused.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// version of the application actually serving (never the requested one while an upgrade is in
	// flight or after it failed).
	// +optional
	Version string `json:"version,omitempty"`

	// url the application is served on.
	// +optional
	URL string `json:"url,omitempty"`

	// databaseEndpoint is host:port of the database Service.
	// +optional
	DatabaseEndpoint string `json:"databaseEndpoint,omitempty"`

	// credentialsSecretName names the Secret with the database credentials (keys host, port, dbname,
	// user, password, uri).
	// +optional
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`

	// components summarises every internal object, so that every failing one is visible at once.
	// +optional
	Components ComponentsStatus `json:"components,omitzero"`

	// lastBackup is the newest successful backup.
	// +optional
	LastBackup *LastBackup `json:"lastBackup,omitempty"`

	// lastBackupFailure is the newest failed backup.
	// +optional
	LastBackupFailure *componentsv1alpha1.BackupFailure `json:"lastBackupFailure,omitempty"`

	// upgrade reports the version upgrade in progress or the last one.
	// +optional
	Upgrade *UpgradeStatus `json:"upgrade,omitempty"`

	// restore reports the latest in-place restore.
	// +optional
	Restore *RestoreProgress `json:"restore,omitempty"`

	// databaseUpgrade reports the PostgreSQL major-version upgrade in progress or the last one.
	// +optional
	DatabaseUpgrade *DatabaseUpgradeProgress `json:"databaseUpgrade,omitempty"`

	// keptVolumes are data volumes that PostgreSQL no longer runs on (an earlier major's, a failed
	// upgrade attempt's), with their size; spec.database.releaseVolumes deletes them.
	// +optional
	// +listType=map
	// +listMapKey=claimName
	KeptVolumes []componentsv1alpha1.KeptVolume `json:"keptVolumes,omitempty"`

	// rollout reports the step of the ordered rollout in progress.
	// +optional
	Rollout *RolloutProgress `json:"rollout,omitempty"`
}

// Stack is one application run by Canopy: a web tier, its PostgreSQL database and their backups,
// monitored and upgraded safely.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=stk,categories=canopy
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Last backup",type=date,JSONPath=`.status.lastBackup.time`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 40",message="metadata.name must be at most 40 characters: the names of the Stack's objects derive from it",fieldPath=.metadata
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must start with a letter and contain only lower case letters, digits and '-': Service names derive from it",fieldPath=.metadata
type Stack struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired application.
	// +required
	Spec StackSpec `json:"spec"`

	// status is what Canopy observes.
	// +optional
	Status StackStatus `json:"status,omitzero"`
}

// StackList is a list of Stacks.
// +kubebuilder:object:root=true
type StackList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Stack `json:"items"`
}
