package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types of a Stack, besides the kstatus ones shared with the components.
const (
	// ConditionDatabaseReady mirrors the Database's Ready condition.
	ConditionDatabaseReady = "DatabaseReady"
	// ConditionFrontendReady mirrors the Frontend's Ready condition.
	ConditionFrontendReady = "FrontendReady"
	// ConditionBackupReady mirrors the BackupPolicy's Ready condition.
	ConditionBackupReady = "BackupReady"
	// ConditionBackupHealthy mirrors the BackupPolicy's BackupHealthy condition: False while the
	// newest backup failed, without making the serving Stack not Ready.
	ConditionBackupHealthy = "BackupHealthy"
	// ConditionUpgradeable is False while the Stack is mid-upgrade.
	ConditionUpgradeable = "Upgradeable"
	// ConditionPaused is True while spec.paused stops all changes.
	ConditionPaused = "Paused"
	// ConditionOperationWaiting is True while a data operation (application upgrade, in-place
	// restore, PostgreSQL major upgrade) was asked for and waits for the one that runs.
	ConditionOperationWaiting = "OperationWaiting"
)

// Annotations understood on a Stack.
const (
	// AnnotationBackupNow starts one backup for each new value:
	// kubectl annotate stack NAME canopy.dev/backup-now="$(date +%s)".
	AnnotationBackupNow = "canopy.dev/backup-now"
	// AnnotationRetryDatabaseUpgrade, with a new value, starts a failed PostgreSQL major upgrade
	// again, with a new backup: kubectl annotate stack NAME canopy.dev/retry-database-upgrade="$(date +%s)".
	AnnotationRetryDatabaseUpgrade = "canopy.dev/retry-database-upgrade"
	// AnnotationSkipBackupPurge "true" lets a Stack deleted with dataRetention.backups: Delete go
	// without deleting its backups when the purge cannot run (the backups and their volume are
	// kept). The Stack passes it on to its BackupPolicy.
	AnnotationSkipBackupPurge = "canopy.dev/skip-backup-purge"
	// LabelAdopt on an existing object with the name Canopy would give it lets a Stack adopt it.
	LabelAdopt = "canopy.dev/adopt"
)

// GetConditions returns the Stack's conditions.
func (s *Stack) GetConditions() []metav1.Condition { return s.Status.Conditions }

// GetObservedGeneration returns the generation the status describes.
func (s *Stack) GetObservedGeneration() int64 { return s.Status.ObservedGeneration }

// SetObservedGeneration records the generation the status describes.
func (s *Stack) SetObservedGeneration(g int64) { s.Status.ObservedGeneration = g }

// SetConditions replaces the Stack's conditions.
func (s *Stack) SetConditions(c []metav1.Condition) { s.Status.Conditions = c }

// BackupBeforeUpgrade reports whether upgrades wait for a pre-upgrade backup.
func (s *Stack) BackupBeforeUpgrade() bool {
	b := s.Spec.Backup
	return b != nil && (b.BeforeUpgrade == nil || *b.BeforeUpgrade)
}

// DefaultStepTimeout applies when spec.rollout.stepTimeout is empty.
const DefaultStepTimeout = 15 * time.Minute

// StepTimeout returns how long one rollout step may take.
func (s *Stack) StepTimeout() time.Duration {
	if d, err := time.ParseDuration(s.Spec.Rollout.StepTimeout); err == nil && d > 0 {
		return d
	}
	return DefaultStepTimeout
}
