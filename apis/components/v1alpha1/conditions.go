package v1alpha1

// Condition types shared by every Canopy kind. They follow kstatus: Ready is always present;
// Reconciling and Stalled are present only while true.
const (
	// ConditionReady is True when the object does what its spec asks.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is working towards the spec.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the controller cannot make progress without a change from a user.
	ConditionStalled = "Stalled"
	// ConditionDegraded is True when the object serves, but not what its spec asks (for example the
	// previous version after a failed upgrade).
	ConditionDegraded = "Degraded"
)

// Condition types of a Database and a Frontend that report optional integrations.
const (
	// ConditionCertificatesAvailable reports whether cert-manager's API can be used.
	ConditionCertificatesAvailable = "CertificatesAvailable"
	// ConditionMonitoringAvailable reports whether the Prometheus operator's API can be used.
	ConditionMonitoringAvailable = "MonitoringAvailable"
	// ConditionStorageResized reports whether the data volume has the requested size.
	ConditionStorageResized = "StorageResized"
)

// Condition types of a BackupPolicy.
const (
	// ConditionHeld is True while spec.hold makes scheduled and annotation-requested backups wait
	// (its reason and message are the hold's); absent otherwise.
	ConditionHeld = "Held"
	// ConditionBackupHealthy is False while the newest finished backup failed (reason: the
	// failure's), True once one succeeds again or before any ran. A failure the schedule retries
	// leaves the policy Ready; only one that needs a person (refused credentials, a destination that
	// does not exist, wrong arguments) makes it Stalled.
	ConditionBackupHealthy = "BackupHealthy"
)

// Reasons used in conditions. Reasons are CamelCase and stable: tools and users match on them.
const (
	// ReasonReconcileError: the controller's last pass failed with an error it retries (an API
	// server that refused or timed out, a quota); the message is the error.
	ReasonReconcileError = "ReconcileError"
	// ReasonReady is used when everything asked for is in place.
	ReasonReady = "Ready"
	// ReasonCRDNotInstalled marks an optional integration whose CRDs are absent from the cluster.
	ReasonCRDNotInstalled = "CRDNotInstalled"
	// ReasonMigrationFailed reports a failed migration Job; the previous version keeps serving.
	ReasonMigrationFailed = "MigrationFailed"
	// ReasonRolloutFailed reports a version whose pods did not become available in time.
	ReasonRolloutFailed = "RolloutFailed"
	// ReasonUpgradeFailed reports a Stack upgrade that was rolled back.
	ReasonUpgradeFailed = "UpgradeFailed"
	// ReasonMajorUpgradeBlocked reports a PostgreSQL major version change that is not allowed or
	// waits for the backup and restore path.
	ReasonMajorUpgradeBlocked = "MajorUpgradeBlocked"

	// ReasonSuperuserSecretLost reports that the Secret holding PostgreSQL's superuser password was
	// deleted while its data exists: the data keeps the old password, which a new Secret would not
	// match, so a person restores the Secret.
	ReasonSuperuserSecretLost = "SuperuserSecretLost"
	// ReasonMajorUpgradeFailed reports a major-version upgrade whose restore failed: the old
	// version runs again on its untouched volume.
	ReasonMajorUpgradeFailed = "MajorUpgradeFailed"
	// ReasonExpansionNotSupported reports a storage class that does not allow volume expansion.
	ReasonExpansionNotSupported = "ExpansionNotSupported"
	// ReasonBackupFailed reports a failed backup Job.
	ReasonBackupFailed = "BackupFailed"
	// ReasonRestoreFailed reports a failed restore Job.
	ReasonRestoreFailed = "RestoreFailed"
	// ReasonInvalidSpec reports a spec the controller refuses although admission accepted it.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonNameConflict reports an existing object, with the name of an object the controller
	// writes, that the controller does not control (someone else's, or orphaned) and that is not
	// labelled canopy.dev/adopt=true: it is never taken over.
	ReasonNameConflict = "NameConflict"
	// ReasonExistingData reports a bootstrap from a backup held back because the data volume already
	// holds data (kept from a deleted Database of the same name) and overwriting it was not confirmed.
	ReasonExistingData = "ExistingData"
	// ReasonPurgeFailed reports that the backups of a BackupPolicy being deleted with
	// backupRetention: Delete could not all be deleted.
	ReasonPurgeFailed = "PurgeFailed"
	// ReasonCertManagerMissing reports a Database that asks for TLS in a cluster without
	// cert-manager's Certificate API and without the certificate's key pair: PostgreSQL does not
	// run without TLS, so it waits (Stalled) until cert-manager is installed.
	ReasonCertManagerMissing = "CertManagerMissing"
	// ReasonCertificateNotReady reports a Database whose server certificate is not usable yet: the
	// Certificate is not issued, its Secret lacks the key pair or the CA clients verify with, or the
	// certificate expired.
	ReasonCertificateNotReady = "CertificateNotReady"
	// ReasonIssuerNotFound reports a Certificate that cert-manager cannot issue because the
	// Issuer or ClusterIssuer that spec.tls.issuerRef names does not exist (Stalled until it is
	// created or issuerRef is corrected).
	ReasonIssuerNotFound = "IssuerNotFound"
	// ReasonSecretNotFound reports a Secret the spec names (the S3 credentials, the backup
	// encryption keys) that does not exist in the object's namespace: what needs it waits
	// (Stalled) until it is created.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretKeyMissing reports a Secret the spec names that lacks a key the spec needs (or
	// holds it empty), such as accessKeyID of the S3 credentials or the encryption keyID.
	ReasonSecretKeyMissing = "SecretKeyMissing"
	// ReasonMajorUpgrade: the Database runs a PostgreSQL major-version upgrade (Reconciling).
	ReasonMajorUpgrade = "MajorUpgrade"
	// ReasonRestoring: the Database loads a backup, at bootstrap or in place (Reconciling).
	ReasonRestoring = "Restoring"
	// ReasonRotationFailed: the credentials rotation did not complete and is retried.
	ReasonRotationFailed = "RotationFailed"
	// ReasonPurging: a BackupPolicy being deleted deletes its backups.
	ReasonPurging = "Purging"
	// ReasonResultUnreadable: a backup Job completed but the agent's result could not be read, so the
	// backup is not recorded.
	ReasonResultUnreadable = "ResultUnreadable"
	// ReasonSecretKeyInvalid reports a Secret key whose value cannot be used as what it is for
	// (an encryption key that is not 32 random bytes or their base64 or hex).
	ReasonSecretKeyInvalid = "SecretKeyInvalid"
)

// RequestPhase is where a backup, restore or major-upgrade request stands.
type RequestPhase string

// Request phases reported for backups, restores and migrations.
const (
	PhasePending   RequestPhase = "Pending"
	PhaseRunning   RequestPhase = "Running"
	PhaseSucceeded RequestPhase = "Succeeded"
	PhaseFailed    RequestPhase = "Failed"
)
