// Package stack computes, from a Stack alone, the specs of its three internal objects: Database,
// Frontend and BackupPolicy. The functions are pure (no client) and tested with golden files; the
// stack controller applies what they return.
package stack

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// Standard labels on every object the stack controller creates (shared with the other builders).
const (
	LabelName      = common.LabelName
	LabelInstance  = common.LabelInstance
	LabelComponent = common.LabelComponent
	LabelPartOf    = common.LabelPartOf
	LabelManagedBy = common.LabelManagedBy
	LabelVersion   = common.LabelVersion
	// LabelStack names the owning Stack; selectors (NetworkPolicy clients) use it.
	LabelStack = common.LabelStack

	// ManagedBy is the value of app.kubernetes.io/managed-by.
	ManagedBy = common.ManagedBy

	ComponentDatabase = "database"
	ComponentFrontend = "frontend"
	ComponentBackup   = "backup"
)

// Labels returns the labels of a Stack's child of the given component.
func Labels(s *canopyv1alpha1.Stack, component string) map[string]string {
	return map[string]string{
		LabelName:      s.Name,
		LabelInstance:  s.Name,
		LabelComponent: component,
		LabelPartOf:    "canopy",
		LabelManagedBy: ManagedBy,
		LabelStack:     s.Name,
	}
}

// Name is the name of every child of a Stack: the kinds differ, so the Stack's own name is free.
func Name(s *canopyv1alpha1.Stack) string { return s.Name }

func objectMeta(s *canopyv1alpha1.Stack, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            Name(s),
		Namespace:       s.Namespace,
		Labels:          Labels(s, component),
		OwnerReferences: []metav1.OwnerReference{common.ControllerRef(canopyv1alpha1.GroupVersion.String(), "Stack", s)},
	}
}

// Database returns the desired Database of a Stack.
func Database(s *canopyv1alpha1.Stack) *componentsv1alpha1.Database {
	d := s.Spec.Database
	db := &componentsv1alpha1.Database{
		TypeMeta:   metav1.TypeMeta{APIVersion: componentsv1alpha1.GroupVersion.String(), Kind: "Database"},
		ObjectMeta: objectMeta(s, ComponentDatabase),
		Spec: componentsv1alpha1.DatabaseSpec{
			Version:                  d.Version,
			Image:                    d.Image,
			AllowMajorVersionUpgrade: d.AllowMajorVersionUpgrade,
			Storage:                  d.Storage,
			Resources:                defaultResources(d.Resources, databaseRequests, databaseLimits),
			ExpectedConnections:      d.ExpectedConnections,
			Parameters:               d.Parameters,
			CredentialsRotation:      d.CredentialsRotation,
			ReleaseVolumes:           d.ReleaseVolumes,
			TLS:                      s.Spec.TLS,
			// Only this Stack's web tier and backup jobs may connect.
			Clients: []metav1.LabelSelector{
				{MatchLabels: map[string]string{LabelStack: s.Name, LabelComponent: ComponentFrontend}},
				{MatchLabels: map[string]string{LabelStack: s.Name, LabelComponent: ComponentBackup}},
			},
			// Data is retained while the Stack lives; the deletion path sets what dataRetention asks
			// just before deleting (see DeletionRetention), so that no other delete can lose data.
			VolumeRetention: componentsv1alpha1.Retain,
		},
	}
	if s.Spec.Monitoring != nil {
		db.Spec.Monitoring = &componentsv1alpha1.DatabaseMonitoringSpec{MonitoringSpec: *s.Spec.Monitoring}
		if s.Spec.Backup != nil && !s.Spec.Backup.Suspend {
			// The database's alerts include "no successful backup in twice the schedule".
			db.Spec.Monitoring.BackupMaxAge = BackupMaxAge(string(s.Spec.Backup.Schedule))
		}
	}
	if r := s.Spec.Restore; r != nil {
		db.Spec.Bootstrap = &componentsv1alpha1.DatabaseBootstrap{FromBackup: componentsv1alpha1.BackupSource{
			BackupName:  r.BackupName,
			Stack:       r.Stack,
			Destination: restoreDestination(s, r.Destination),
		}, OverwriteExistingData: r.OverwriteExistingData}
	}
	return db
}

// FrontendInput is what the Frontend's spec needs besides the Stack: the version to run (chosen by
// the upgrade orchestration) and the database's credentials Secret (from the Database's status).
type FrontendInput struct {
	Version               string
	CredentialsSecretName string
	// CredentialsRevision is the Database's last completed credentials rotation.
	CredentialsRevision string
	// DatabaseTLS: the credentials verify the server, so the web tier mounts the database's CA.
	DatabaseTLS bool
	// Stopped scales the web tier to zero (during an in-place restore).
	Stopped bool
}

// Frontend returns the desired Frontend of a Stack.
func Frontend(s *canopyv1alpha1.Stack, in FrontendInput) *componentsv1alpha1.Frontend {
	f := s.Spec.Frontend
	fe := &componentsv1alpha1.Frontend{
		TypeMeta:   metav1.TypeMeta{APIVersion: componentsv1alpha1.GroupVersion.String(), Kind: "Frontend"},
		ObjectMeta: objectMeta(s, ComponentFrontend),
		Spec: componentsv1alpha1.FrontendSpec{
			Image:                   f.Image,
			Version:                 in.Version,
			Replicas:                f.Replicas,
			Autoscaling:             f.Autoscaling,
			Port:                    f.Port,
			Env:                     f.Env,
			Resources:               defaultResources(f.Resources, frontendRequests, nil),
			ReadOnlyRootFilesystem:  f.ReadOnlyRootFilesystem,
			Probes:                  f.Probes,
			Ingress:                 f.Ingress,
			Migration:               f.Migration,
			ProgressDeadlineSeconds: f.ProgressDeadlineSeconds,
			ImagePullSecrets:        f.ImagePullSecrets,
			Stopped:                 in.Stopped,
		},
	}
	if f.Ingress != nil {
		fe.Spec.TLS = s.Spec.TLS
	}
	if s.Spec.Monitoring != nil {
		fe.Spec.Monitoring = &componentsv1alpha1.FrontendMonitoringSpec{MonitoringSpec: *s.Spec.Monitoring, Path: f.MetricsPath}
	}
	if in.CredentialsSecretName != "" {
		fe.Spec.Database = &componentsv1alpha1.DatabaseConnection{CredentialsSecretName: in.CredentialsSecretName, CredentialsRevision: in.CredentialsRevision,
			TLS: in.DatabaseTLS}
	}
	return fe
}

// BackupInput is what the BackupPolicy's spec needs besides the Stack: the version serving (written
// into each backup's manifest), the token of the on-demand backup the orchestration requests, and
// what the data operation in flight asks of backups.
type BackupInput struct {
	AppVersion    string
	BackupRequest string
	// Hold, while a data operation runs, makes scheduled and annotation-requested backups wait.
	Hold *componentsv1alpha1.BackupHold
	// ProtectedBackups are the backups the operations in flight reference: retention keeps them.
	ProtectedBackups []string
}

// BackupPolicy returns the desired BackupPolicy of a Stack, or nil when the Stack takes no backups.
// The canopy.dev/backup-now annotation of the Stack is passed on, so that its backup controller
// sees a user's request without reading the Stack.
func BackupPolicy(s *canopyv1alpha1.Stack, in BackupInput) *componentsv1alpha1.BackupPolicy {
	b := s.Spec.Backup
	if b == nil {
		return nil
	}
	bp := &componentsv1alpha1.BackupPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: componentsv1alpha1.GroupVersion.String(), Kind: "BackupPolicy"},
		ObjectMeta: objectMeta(s, ComponentBackup),
		Spec: componentsv1alpha1.BackupPolicySpec{
			DatabaseName:     Name(s),
			StackName:        s.Name,
			AppVersion:       in.AppVersion,
			Schedule:         b.Schedule,
			TimeZone:         b.TimeZone,
			Suspend:          b.Suspend,
			Destination:      b.Destination,
			Retention:        b.Retention,
			BackupRequest:    in.BackupRequest,
			Hold:             in.Hold,
			ProtectedBackups: in.ProtectedBackups,
			TimeoutSeconds:   b.TimeoutSeconds,
			ScratchSize:      scratchSize(s),
			BackupRetention:  componentsv1alpha1.Retain,
		},
	}
	if v, ok := s.Annotations[canopyv1alpha1.AnnotationBackupNow]; ok {
		bp.Annotations = map[string]string{canopyv1alpha1.AnnotationBackupNow: v}
	}
	return bp
}

// DeletionRetention is what happens to the data volumes and backups when the Stack is deleted now:
// what spec.dataRetention asks with deletionPolicy Delete, and always Retain with Orphan.
func DeletionRetention(s *canopyv1alpha1.Stack) canopyv1alpha1.DataRetention {
	r := canopyv1alpha1.DataRetention{PersistentVolumeClaims: componentsv1alpha1.Retain, Backups: componentsv1alpha1.Retain}
	if d := s.Spec.DataRetention; d != nil && s.Spec.DeletionPolicy != canopyv1alpha1.DeletionPolicyOrphan {
		if d.PersistentVolumeClaims != "" {
			r.PersistentVolumeClaims = d.PersistentVolumeClaims
		}
		if d.Backups != "" {
			r.Backups = d.Backups
		}
	}
	return r
}

func restoreDestination(s *canopyv1alpha1.Stack, explicit *componentsv1alpha1.BackupDestination) componentsv1alpha1.BackupDestination {
	if explicit != nil {
		return *explicit
	}
	if s.Spec.Backup != nil {
		return s.Spec.Backup.Destination
	}
	return componentsv1alpha1.BackupDestination{}
}

// scratchSize is the space a backup's dump may take: spec.backup.scratchSize, else the database's
// storage size (a dump is smaller than the data it comes from), else none.
func scratchSize(s *canopyv1alpha1.Stack) *resource.Quantity {
	if b := s.Spec.Backup; b != nil && b.ScratchSize != nil {
		return ptr.To(b.ScratchSize.DeepCopy())
	}
	if size := s.Spec.Database.Storage.Size; !size.IsZero() {
		return ptr.To(size.DeepCopy())
	}
	return nil
}

// Resources a Stack gets when it names none: production-sane requests, so that the scheduler places
// the pods by what they use, and for PostgreSQL a memory limit equal to what auto-tuning assumes
// (pgtune.DefaultMemoryBytes), so the tuned shared_buffers and work_mem fit the container.
var (
	databaseRequests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")}
	databaseLimits   = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}
	frontendRequests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
)

// defaultResources returns r, or the defaults when r names no request and no limit.
func defaultResources(r corev1.ResourceRequirements, requests, limits corev1.ResourceList) corev1.ResourceRequirements {
	if len(r.Requests) > 0 || len(r.Limits) > 0 || len(r.Claims) > 0 {
		return r
	}
	return corev1.ResourceRequirements{Requests: requests.DeepCopy(), Limits: limits.DeepCopy()}
}
