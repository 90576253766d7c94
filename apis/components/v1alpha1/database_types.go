package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DatabaseSpec describes one PostgreSQL instance.
// +kubebuilder:validation:XValidation:rule="!has(self.version) || !has(oldSelf.version) || int(self.version.split('.')[0]) >= int(oldSelf.version.split('.')[0])",message="version: a PostgreSQL major version cannot be downgraded (restore a backup into a new Stack instead)"
// +kubebuilder:validation:XValidation:rule="!has(self.version) || !has(oldSelf.version) || int(self.version.split('.')[0]) == int(oldSelf.version.split('.')[0]) || (has(self.allowMajorVersionUpgrade) && self.allowMajorVersionUpgrade)",message="version: changing the PostgreSQL major version needs allowMajorVersionUpgrade: true (it runs a backup and restore)"
// +kubebuilder:validation:XValidation:rule="!has(self.majorUpgrade) || (has(self.allowMajorVersionUpgrade) && self.allowMajorVersionUpgrade)",message="majorUpgrade needs allowMajorVersionUpgrade: true",fieldPath=.majorUpgrade
// +kubebuilder:validation:XValidation:rule="has(self.bootstrap) == has(oldSelf.bootstrap) && (!has(self.bootstrap) || self.bootstrap.fromBackup == oldSelf.bootstrap.fromBackup)",message="bootstrap can only be set when the object is created and is immutable afterwards (only bootstrap.overwriteExistingData may be set later)",fieldPath=.bootstrap,reason=FieldValueForbidden
type DatabaseSpec struct {
	// version of PostgreSQL: a major version such as "17" or a major and minor such as "17.2".
	// A minor change rolls the pod in place; a major change needs allowMajorVersionUpgrade.
	// +required
	// +kubebuilder:validation:MaxLength=8
	// +kubebuilder:validation:XValidation:rule="self.matches('^(1[3-9]|[2-9][0-9])([.][0-9]{1,3})?$')",message="version must be a PostgreSQL version such as \"17\" or \"17.2\" (major 13 or later)"
	Version string `json:"version"`

	// image overrides the PostgreSQL image; empty uses the operator's default for the version.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// allowMajorVersionUpgrade permits a change of the PostgreSQL major version, performed by
	// backup, a new instance at the new major, and restore; the old data volume is kept.
	// +optional
	AllowMajorVersionUpgrade bool `json:"allowMajorVersionUpgrade,omitempty"`

	// storage of the data volume.
	// +optional
	// +kubebuilder:default={}
	Storage StorageSpec `json:"storage,omitzero"`

	// resources of the PostgreSQL container; the memory limit (or request) drives auto-tuning.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// expectedConnections is the number of client connections to plan for; it sets max_connections
	// and, with the memory, the per-connection work_mem.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=10000
	ExpectedConnections int32 `json:"expectedConnections,omitempty"`

	// parameters override postgresql.conf settings; they win over auto-tuned values. Settings that
	// Canopy must control (paths, listen address, port, TLS files) are refused.
	// +optional
	// +kubebuilder:validation:MaxProperties=128
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z][a-z0-9_.]*$'))",message="parameters: names must be PostgreSQL setting names (lower case letters, digits, '_' and '.')"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['data_directory', 'hba_file', 'ident_file', 'config_file', 'listen_addresses', 'port', 'unix_socket_directories', 'ssl', 'ssl_cert_file', 'ssl_key_file', 'ssl_ca_file', 'external_pid_file']))",message="parameters: data_directory, hba_file, ident_file, config_file, listen_addresses, port, unix_socket_directories, external_pid_file and the ssl settings are managed by Canopy and cannot be overridden"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !(k in ['include', 'include_dir', 'include_if_exists', 'archive_command', 'archive_cleanup_command', 'recovery_end_command', 'restore_command', 'ssl_passphrase_command', 'dynamic_library_path']))",message="parameters: include directives, the settings that run shell commands (archive_command, archive_cleanup_command, recovery_end_command, restore_command, ssl_passphrase_command) and dynamic_library_path cannot be set: they would read files or run programs in the database's pod"
	// +kubebuilder:validation:XValidation:rule="['shared_preload_libraries', 'local_preload_libraries', 'session_preload_libraries', 'archive_library', 'jit_provider'].all(k, !(k in self) || !self[k].contains('/'))",message="parameters: shared_preload_libraries, local_preload_libraries, session_preload_libraries, archive_library and jit_provider name libraries of the image, not paths: they cannot contain '/'"
	Parameters map[string]string `json:"parameters,omitempty"`

	// tls serves PostgreSQL over TLS with a certificate from cert-manager.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`

	// monitoring adds a metrics exporter, a ServiceMonitor and alerting rules.
	// +optional
	Monitoring *DatabaseMonitoringSpec `json:"monitoring,omitempty"`

	// clients select the pods (in the Database's namespace) that may connect to PostgreSQL; the
	// NetworkPolicy admits only these. Empty admits no client pods.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	Clients []metav1.LabelSelector `json:"clients,omitempty"`

	// bootstrap fills a new database from a backup before it reports Ready. Set only at creation.
	// +optional
	Bootstrap *DatabaseBootstrap `json:"bootstrap,omitempty"`

	// restoreRequest asks for an in-place restore of a backup into this running database. Each new
	// id starts exactly one restore; clients should be stopped first.
	// +optional
	RestoreRequest *RestoreRequest `json:"restoreRequest,omitempty"`
	// majorUpgrade carries out a change of the PostgreSQL major version: the running instance is
	// replaced by one at spec.version on a new data volume, filled from this backup of the old
	// major; the old data volume is kept. Set by the Stack once its pre-upgrade backup is taken.
	// +optional
	MajorUpgrade *MajorUpgradeRequest `json:"majorUpgrade,omitempty"`

	// credentialsRotation: a new value generates a new password, sets it inside PostgreSQL and then
	// updates the credentials Secret. The value itself is a token with no meaning.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	CredentialsRotation string `json:"credentialsRotation,omitempty"`

	// volumeRetention: Delete removes the data volume when the Database is deleted; Retain (the
	// default) keeps it.
	// +optional
	// +kubebuilder:default=Retain
	VolumeRetention RetainPolicy `json:"volumeRetention,omitempty"`

	// releaseVolumes names kept data volumes (status.keptVolumes: an earlier major's, a failed
	// upgrade attempt's) to delete. The volume in use is never deleted, nor one of an upgrade in
	// flight, nor a claim that is not one of this Database's data volumes.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="releaseVolumes must hold claim names"
	ReleaseVolumes []string `json:"releaseVolumes,omitempty"`

	// readyTimeoutSeconds after a configuration change: a pod that is not ready by then makes the
	// controller return to the last configuration that was ready.
	// +optional
	// +kubebuilder:default=300
	// +kubebuilder:validation:Minimum=30
	// +kubebuilder:validation:Maximum=86400
	ReadyTimeoutSeconds int32 `json:"readyTimeoutSeconds,omitempty"`
}

// DatabaseMonitoringSpec is the monitoring of a Database.
type DatabaseMonitoringSpec struct {
	MonitoringSpec `json:",inline"`

	// backupMaxAge raises an alert when the newest successful backup is older than this Go duration;
	// the Stack sets it to twice its backup interval. Empty means no backup alert.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(s|m|h))+$')",message="monitoring.backupMaxAge must be a duration such as 48h"
	BackupMaxAge string `json:"backupMaxAge,omitempty"`
}

// DatabaseBootstrap says where a new database gets its first data.
type DatabaseBootstrap struct {
	// fromBackup restores this backup before the database reports Ready.
	// +required
	FromBackup BackupSource `json:"fromBackup"`

	// overwriteExistingData confirms that the backup may replace data already on the data volume:
	// a volume kept from a deleted Database of the same name. Without it such a volume is never
	// overwritten and the Database is Stalled with reason ExistingData.
	// +optional
	OverwriteExistingData bool `json:"overwriteExistingData,omitempty"`
}

// RestoreRequest asks for one restore of a backup.
type RestoreRequest struct {
	// id identifies the request; a new id starts a new restore, the same id never restores twice.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$')",message="restore request id must be letters, digits, '-', '_' and '.'"
	ID string `json:"id"`

	// source is the backup to restore.
	// +required
	Source BackupSource `json:"source"`
}

// DatabaseStatus is what the database controller observes.
type DatabaseStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled, CertificatesAvailable, MonitoringAvailable,
	// StorageResized.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// version of PostgreSQL actually running, read from the running pods (not from the spec).
	// +optional
	Version string `json:"version,omitempty"`

	// image actually running.
	// +optional
	Image string `json:"image,omitempty"`

	// endpoint is host:port of the client Service.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`

	// credentialsSecretName names the Secret with keys host, port, dbname, user, password and uri.
	// +optional
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`

	// credentialsRotation is the last rotation token that was carried out.
	// +optional
	CredentialsRotation string `json:"credentialsRotation,omitempty"`

	// credentialsRecreated is when the credentials Secret, deleted by hand, was made again with a
	// new password that was then set inside PostgreSQL (the web tier restarts with it).
	// +optional
	CredentialsRecreated string `json:"credentialsRecreated,omitempty"`

	// tlsEnabled is true when PostgreSQL serves with a certificate from cert-manager.
	// +optional
	TLSEnabled bool `json:"tlsEnabled,omitempty"`

	// tlsCertificate follows a renewed server certificate into the running PostgreSQL, which
	// reloads it without a restart.
	// +optional
	TLSCertificate *TLSCertificateStatus `json:"tlsCertificate,omitempty"`

	// storageCapacity is the capacity of the data volume as reported by its claim.
	// +optional
	StorageCapacity *resource.Quantity `json:"storageCapacity,omitempty"`

	// configHash identifies the configuration applied to the pod template.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`

	// lastReadyConfigHash identifies the last configuration with which the pod was ready; remediation
	// returns to it.
	// +optional
	LastReadyConfigHash string `json:"lastReadyConfigHash,omitempty"`

	// rejectedConfigHash identifies a configuration with which the pod did not become ready and
	// that was rolled back to lastReadyConfigHash; it is not applied again until the spec changes.
	// +optional
	RejectedConfigHash string `json:"rejectedConfigHash,omitempty"`

	// bootstrap reports the restore that fills a new database.
	// +optional
	Bootstrap *RestoreStatus `json:"bootstrap,omitempty"`

	// restore reports the latest in-place restore request.
	// +optional
	Restore *RestoreStatus `json:"restore,omitempty"`
	// majorUpgrade reports the latest PostgreSQL major-version upgrade.
	// +optional
	MajorUpgrade *MajorUpgradeStatus `json:"majorUpgrade,omitempty"`
	// volumeClaim names the data volume in use.
	// +optional
	VolumeClaim string `json:"volumeClaim,omitempty"`
	// keptVolumes are the Database's data volumes not in use: kept until spec.releaseVolumes names
	// them (or the Database is deleted with volumeRetention: Delete).
	// +optional
	// +listType=map
	// +listMapKey=claimName
	KeptVolumes []KeptVolume `json:"keptVolumes,omitempty"`
}

// Reasons a data volume is kept, in status.keptVolumes.
const (
	// KeptPreviousMajor: the volume of the major version that ran before a successful upgrade.
	KeptPreviousMajor = "PreviousMajor"
	// KeptFailedUpgrade: the volume of a major upgrade attempt that failed, kept for inspection.
	KeptFailedUpgrade = "FailedUpgrade"
	// KeptNotInUse: any other data volume of the Database that PostgreSQL does not run on.
	KeptNotInUse = "NotInUse"
)

// KeptVolume is a data volume of the Database that PostgreSQL does not run on.
type KeptVolume struct {
	// claimName of the PersistentVolumeClaim.
	// +required
	ClaimName string `json:"claimName"`
	// size of the volume: its capacity, or its request while unbound.
	// +optional
	Size *resource.Quantity `json:"size,omitempty"`
	// reason it exists: PreviousMajor, FailedUpgrade or NotInUse.
	// +optional
	Reason string `json:"reason,omitempty"`
}

// MajorUpgradeRequest names the backup a major-version upgrade loads into the new instance.
type MajorUpgradeRequest struct {
	// fromBackup is a backup of the running major version, taken with writes stopped.
	// +required
	FromBackup BackupSource `json:"fromBackup"`
}

// Steps of a major-version upgrade, reported in status.majorUpgrade.step.
const (
	// MajorStepReplacing: the old instance is stopped (its volume kept) and the new one starts.
	MajorStepReplacing = "Replacing"
	// MajorStepRestoring: the backup is loaded into the new instance.
	MajorStepRestoring = "Restoring"
	// MajorStepRollingBack: the restore failed; the old instance starts again on its volume.
	MajorStepRollingBack = "RollingBack"
)

// MajorUpgradeStatus reports one PostgreSQL major-version upgrade.
type MajorUpgradeStatus struct {
	// fromVersion that ran before.
	// +optional
	FromVersion string `json:"fromVersion,omitempty"`
	// fromImage that ran before; a failed upgrade returns to it.
	// +optional
	FromImage string `json:"fromImage,omitempty"`
	// toVersion requested.
	// +optional
	ToVersion string `json:"toVersion,omitempty"`
	// backupName loaded into the new instance.
	// +optional
	BackupName string `json:"backupName,omitempty"`
	// phase: Running, Succeeded or Failed.
	// +optional
	// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
	Phase RequestPhase `json:"phase,omitempty"`
	// step while running: Replacing, Restoring or RollingBack.
	// +optional
	// +kubebuilder:validation:Enum=Replacing;Restoring;RollingBack
	Step string `json:"step,omitempty"`
	// message explains a failure.
	// +optional
	Message string `json:"message,omitempty"`
	// volumeClaim is the new instance's data volume.
	// +optional
	VolumeClaim string `json:"volumeClaim,omitempty"`
	// previousVolumeClaim is the old instance's data volume: never deleted by Canopy; delete it
	// once the new version is trusted.
	// +optional
	PreviousVolumeClaim string `json:"previousVolumeClaim,omitempty"`
	// completionTime of the upgrade.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// RestoreStatus reports one restore.
type RestoreStatus struct {
	// id of the request this status describes (empty for bootstrap).
	// +optional
	ID string `json:"id,omitempty"`
	// backupName restored.
	// +optional
	BackupName string `json:"backupName,omitempty"`
	// phase: Pending, Running, Succeeded or Failed.
	// +optional
	// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
	Phase RequestPhase `json:"phase,omitempty"`
	// message explains a failure.
	// +optional
	Message string `json:"message,omitempty"`
	// completionTime of the restore.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// Database is one PostgreSQL instance managed by Canopy; created by the stack controller.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=cdb,categories=canopy-internal
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpoint`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Database struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired PostgreSQL instance.
	// +required
	Spec DatabaseSpec `json:"spec"`

	// status is what the database controller observes.
	// +optional
	Status DatabaseStatus `json:"status,omitzero"`
}

// DatabaseList is a list of Databases.
// +kubebuilder:object:root=true
type DatabaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Database `json:"items"`
}

// TLSCertificateStatus says which server certificate a running PostgreSQL serves after a reload.
// Certificates are named by a hash of their Secret's tls.crt (public data).
type TLSCertificateStatus struct {
	// served is the certificate the pod named by pod was found presenting to a new connection.
	// +optional
	Served string `json:"served,omitempty"`

	// pod is the UID of the PostgreSQL pod that serves it.
	// +optional
	Pod string `json:"pod,omitempty"`

	// reloadRequested is the certificate PostgreSQL was last asked to reload, at
	// reloadRequestedAt.
	// +optional
	ReloadRequested string `json:"reloadRequested,omitempty"`

	// reloadRequestedAt is when the reload was asked for.
	// +optional
	ReloadRequestedAt *metav1.Time `json:"reloadRequestedAt,omitempty"`
}
