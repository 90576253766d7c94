package v1alpha1

// UpgradePhase is the phase of an application upgrade (status.upgrade.phase).
type UpgradePhase string

// Phases of an application upgrade.
const (
	UpgradeBackingUp  UpgradePhase = "BackingUp"
	UpgradeRollingOut UpgradePhase = "RollingOut"
	UpgradeSucceeded  UpgradePhase = "Succeeded"
	// UpgradeFailed: rolled back to the version that served before.
	UpgradeFailed UpgradePhase = "Failed"
	// UpgradeCancelled: spec.version returned to the serving version.
	UpgradeCancelled UpgradePhase = "Cancelled"
)

// OperationStep is the step of an in-place restore (status.restore.step) or of a PostgreSQL
// major-version upgrade (status.databaseUpgrade.step); the two share their first and last steps.
type OperationStep string

// Steps of the in-place restore and of the major upgrade.
const (
	StepStoppingFrontend OperationStep = "StoppingFrontend"
	// StepSafetyBackup: the restore's backup of the data it is about to overwrite.
	StepSafetyBackup OperationStep = "SafetyBackup"
	// StepBackup: the major upgrade's backup, which the new major loads.
	StepBackup           OperationStep = "Backup"
	StepRestoring        OperationStep = "Restoring"
	StepUpgrading        OperationStep = "Upgrading"
	StepStartingFrontend OperationStep = "StartingFrontend"
	StepSucceeded        OperationStep = "Succeeded"
	StepFailed           OperationStep = "Failed"
)

// RolloutStep is the step of the ordered rollout in progress (status.rollout.step).
type RolloutStep string

// Steps of the ordered rollout, in order.
const (
	RolloutDatabase RolloutStep = "Database"
	RolloutBackup   RolloutStep = "Backup"
	RolloutFrontend RolloutStep = "Frontend"
	RolloutUpgrade  RolloutStep = "Upgrade"
)

// Reasons of the Stack's own conditions (the components' are in components/v1alpha1).
const (
	ReasonProgressing      = "Progressing"
	ReasonUpgrading        = "Upgrading"
	ReasonStepTimeout      = "StepTimeout"
	ReasonPaused           = "Paused"
	ReasonNotCreated       = "NotCreated"
	ReasonWaitingForDB     = "WaitingForDatabase"
	ReasonChildReconciling = "ChildReconciling"
	ReasonNoStatus         = "NoStatus"
	// ReasonUpgradeInProgress, ReasonNoUpgrade: the Stack's Upgradeable condition.
	ReasonUpgradeInProgress = "UpgradeInProgress"
	ReasonNoUpgrade         = "NoUpgradeInProgress"
	ReasonDeleting          = "Deleting"
	ReasonChildRejected     = "ChildRejected"
	ReasonRestoring         = "Restoring"
	// ReasonDatabaseUpgrading: a PostgreSQL major-version upgrade is in progress.
	ReasonDatabaseUpgrading = "DatabaseUpgrading"
	// ReasonDatabaseUpgradeFailed: a PostgreSQL major-version upgrade failed; the old major runs.
	ReasonDatabaseUpgradeFailed = "DatabaseUpgradeFailed"
	// ReasonUpgradeWaiting, ReasonRestoreWaiting, ReasonDatabaseUpgradeWaiting: that operation was
	// asked for and waits for the data operation that runs.
	ReasonUpgradeWaiting         = "UpgradeWaiting"
	ReasonRestoreWaiting         = "RestoreWaiting"
	ReasonDatabaseUpgradeWaiting = "DatabaseUpgradeWaiting"
	// ReasonDataOperationInProgress, ReasonNoDataOperation: OLM's Upgradeable condition, and the
	// Stack's while an operation other than an application upgrade runs.
	ReasonDataOperationInProgress = "DataOperationInProgress"
	ReasonNoDataOperation         = "NoDataOperationInProgress"
)
