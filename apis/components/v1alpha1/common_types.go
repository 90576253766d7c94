package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The building blocks below appear both in the public Stack spec and in the internal component specs,
// so the validation a user meets on a Stack is the same one the components enforce.

// RetainPolicy says whether data survives the deletion of the object that holds it.
// +kubebuilder:validation:Enum=Retain;Delete
type RetainPolicy string

const (
	// Retain keeps the data.
	Retain RetainPolicy = "Retain"
	// Delete removes the data.
	Delete RetainPolicy = "Delete"
)

// IssuerReference names a cert-manager issuer that signs Canopy's certificates.
// +kubebuilder:validation:XValidation:rule="!has(self.group) || self.group != 'cert-manager.io' || !has(self.kind) || self.kind in ['Issuer', 'ClusterIssuer']",message="issuerRef.kind must be Issuer or ClusterIssuer for group cert-manager.io; an external issuer names its own group",fieldPath=.kind
type IssuerReference struct {
	// name of the Issuer or ClusterIssuer.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="issuerRef.name must be a valid Kubernetes object name (lower case letters, digits, '-' and '.')"
	Name string `json:"name"`

	// kind of the issuer: Issuer (in the same namespace) or ClusterIssuer for cert-manager's own
	// issuers; an external issuer's kind (such as AWSPCAClusterIssuer) with its group.
	// +optional
	// +kubebuilder:default=Issuer
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Z][A-Za-z0-9]*$')",message="issuerRef.kind must be a resource kind such as ClusterIssuer (a capital letter, then letters and digits)"
	Kind string `json:"kind,omitempty"`

	// group of the issuer resource; cert-manager's own issuers use cert-manager.io.
	// +optional
	// +kubebuilder:default=cert-manager.io
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="issuerRef.group must be an API group such as cert-manager.io (a lower case DNS name)"
	Group string `json:"group,omitempty"`
}

// TLSSpec asks for certificates issued by cert-manager.
type TLSSpec struct {
	// issuerRef names the cert-manager issuer that signs the certificates.
	// +required
	IssuerRef IssuerReference `json:"issuerRef"`
}

// MonitoringSpec turns on Prometheus-operator integration (ServiceMonitor, PrometheusRule).
type MonitoringSpec struct {
	// enabled creates the monitoring objects when the Prometheus operator's CRDs are installed.
	// +optional
	// +kubebuilder:default=true
	Enabled *bool `json:"enabled,omitempty"`

	// interval between scrapes, as a Prometheus duration such as 30s or 1m.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]+(ms|s|m|h)$')",message="monitoring.interval must be a Prometheus duration such as 30s or 1m"
	Interval string `json:"interval,omitempty"`

	// labels added to the ServiceMonitor and PrometheusRule so that a Prometheus selects them.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="self.all(k, !format.qualifiedName().validate(k).hasValue())",message="monitoring.labels: keys must be label keys such as release or example.com/team (an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' and '.')"
	Labels map[string]string `json:"labels,omitempty"`

	// prometheusNamespace is the namespace of the Prometheus that scrapes Canopy's metrics endpoints;
	// the NetworkPolicies admit it. Empty admits scrapers from any namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="monitoring.prometheusNamespace must be a valid namespace name"
	PrometheusNamespace string `json:"prometheusNamespace,omitempty"`
}

// StorageSpec describes a persistent volume.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.size) || !has(self.size) || quantity(string(self.size)).compareTo(quantity(string(oldSelf.size))) >= 0",messageExpression="'storage.size cannot shrink from ' + string(oldSelf.size) + ' to ' + string(self.size) + ': a volume cannot be made smaller without losing data'",fieldPath=.size,reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="has(self.storageClassName) == has(oldSelf.storageClassName) && (!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",message="storage.storageClassName is immutable: moving data to another storage class needs a backup and restore",fieldPath=.storageClassName,reason=FieldValueForbidden
type StorageSpec struct {
	// size of the volume, for example 10Gi. Increasing it expands the volume when the storage class
	// allows expansion; shrinking is refused.
	// +optional
	// +kubebuilder:default="1Gi"
	// +kubebuilder:validation:XValidation:rule="quantity(string(self)).isGreaterThan(quantity('0'))",message="storage.size must be greater than zero"
	Size resource.Quantity `json:"size,omitzero"`

	// storageClassName of the volume; empty uses the cluster's default class. Immutable.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == '' || !format.dns1123Subdomain().validate(self).hasValue()",message="storage.storageClassName must be a StorageClass name (lower case letters, digits, '-' and '.')"
	StorageClassName *string `json:"storageClassName,omitempty"`
}

// BackupDestination is where backups are stored: exactly one of volume or s3.
// +kubebuilder:validation:XValidation:rule="has(self.volume) != has(self.s3)",message="destination must set exactly one of volume or s3"
type BackupDestination struct {
	// volume stores backups on a PersistentVolumeClaim in the Stack's namespace.
	// +optional
	Volume *VolumeDestination `json:"volume,omitempty"`

	// s3 stores backups in an S3-compatible bucket.
	// +optional
	S3 *S3Destination `json:"s3,omitempty"`

	// encryption encrypts new backups before they leave the backup pod, with a key from a Secret;
	// a restore decrypts a backup with the key it names. Without it backups are stored as
	// pg_dump wrote them; encrypted and unencrypted backups can be restored alike.
	// +optional
	Encryption *BackupEncryption `json:"encryption,omitempty"`
}

// BackupEncryption encrypts backups (AES-256-GCM, in authenticated chunks) with keys kept in a
// Secret. The Secret reaches the backup agent as a mounted file per key, never as an environment
// variable or an argument, and no status, event or log holds a key: only its id.
// +kubebuilder:validation:XValidation:rule="self.keySecret.name.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$') && size(self.keySecret.name) <= 253",message="encryption.keySecret.name must be a valid Secret name (lower case letters, digits, '-' and '.')",fieldPath=.keySecret.name
type BackupEncryption struct {
	// keySecret names a Secret in the same namespace whose every data key is an encryption key:
	// the data key is the key's id, its value 32 random bytes or their base64 or hex, such as
	// the output of `openssl rand -base64 32`. Each backup records the id of the key that
	// encrypted it: keep a key in the Secret for as long as a backup encrypted with it may be
	// restored.
	// +required
	KeySecret corev1.LocalObjectReference `json:"keySecret"`

	// keyID is the data key of keySecret that encrypts new backups. To rotate, add a new key under
	// a new id and set keyID to it; older backups stay readable with the keys they name. Never
	// change the value of an id that encrypted a backup.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-._A-Za-z0-9]*[A-Za-z0-9])?$')",message="encryption.keyID must be a Secret data key: letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
	KeyID string `json:"keyID"`
}

// VolumeDestination stores backups on a PersistentVolumeClaim.
type VolumeDestination struct {
	// claimName names an existing PersistentVolumeClaim to write to. Empty lets Canopy create one,
	// which is kept when the Stack is deleted unless its spec asks otherwise.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="volume.claimName must be a valid PersistentVolumeClaim name"
	ClaimName string `json:"claimName,omitempty"`

	// storage of the claim Canopy creates when claimName is empty.
	// +optional
	// +kubebuilder:default={}
	Storage StorageSpec `json:"storage,omitzero"`
}

// S3Destination stores backups in an S3-compatible bucket.
// +kubebuilder:validation:XValidation:rule="has(self.credentialsSecret.name) && self.credentialsSecret.name.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$') && size(self.credentialsSecret.name) <= 253",message="s3.credentialsSecret.name must be a Secret name (lower case letters, digits, '-' and '.')",fieldPath=.credentialsSecret.name
type S3Destination struct {
	// endpoint URL of the S3 service, for example https://s3.eu-west-1.amazonaws.com or
	// http://minio.storage:9000.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="self.matches('^https?://([A-Za-z0-9.-]+|[[][0-9A-Fa-f:.]+[]])(:[0-9]{1,5})?(/[^?#$ ]*)?$')",message="s3.endpoint must be an http:// or https:// URL"
	Endpoint string `json:"endpoint"`

	// bucket name.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9][a-z0-9.-]*[a-z0-9]$')",message="s3.bucket must be a valid bucket name: 3-63 lower case letters, digits, '.' and '-'"
	Bucket string `json:"bucket"`

	// prefix under which this Stack's backups are written, without leading or trailing slash.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('/') && !self.endsWith('/')",message="s3.prefix must not start or end with '/'"
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9/._=+@,:!*()-]*$')",message="s3.prefix may hold only letters, digits and / . _ - = + @ , : ! * ( )"
	Prefix string `json:"prefix,omitempty"`

	// region of the bucket.
	// +optional
	// +kubebuilder:default=us-east-1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9_-]*$')",message="s3.region may hold only letters, digits, '-' and '_'"
	Region string `json:"region,omitempty"`

	// credentialsSecret names a Secret in the same namespace with keys accessKeyID and
	// secretAccessKey.
	// +required
	CredentialsSecret corev1.LocalObjectReference `json:"credentialsSecret"`

	// forcePathStyle addresses the bucket as endpoint/bucket instead of bucket.endpoint, as most
	// self-hosted S3 servers require.
	// +optional
	// +kubebuilder:default=true
	ForcePathStyle *bool `json:"forcePathStyle,omitempty"`
}

// RetentionPolicy says which backups to keep. The newest successful backup is always kept and
// nothing that Canopy did not write is ever deleted.
type RetentionPolicy struct {
	// keepLast keeps at most this many successful backups.
	// +optional
	// +kubebuilder:default=7
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	KeepLast *int32 `json:"keepLast,omitempty"`

	// maxAge deletes backups older than this Go duration, for example 720h for 30 days.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(s|m|h))+$') && duration(self) >= duration('1h')",message="retention.maxAge must be a duration of at least 1h such as 720h (units s, m, h)"
	MaxAge string `json:"maxAge,omitempty"`
}

// AutoscalingSpec configures a HorizontalPodAutoscaler for the web tier.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="autoscaling.minReplicas must be less than or equal to autoscaling.maxReplicas",fieldPath=.minReplicas
// +kubebuilder:validation:XValidation:rule="has(self.targetCPUUtilizationPercentage) || has(self.targetMemoryUtilizationPercentage)",message="autoscaling needs at least one target: targetCPUUtilizationPercentage or targetMemoryUtilizationPercentage"
type AutoscalingSpec struct {
	// minReplicas is the lower bound of the autoscaler.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MinReplicas int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the upper bound of the autoscaler.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxReplicas int32 `json:"maxReplicas"`

	// targetCPUUtilizationPercentage of the requested CPU that the autoscaler aims for.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	TargetCPUUtilizationPercentage *int32 `json:"targetCPUUtilizationPercentage,omitempty"`

	// targetMemoryUtilizationPercentage of the requested memory that the autoscaler aims for.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	TargetMemoryUtilizationPercentage *int32 `json:"targetMemoryUtilizationPercentage,omitempty"`
}

// IngressSpec exposes the web tier through an Ingress.
type IngressSpec struct {
	// host is the DNS name the application is served on.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?([.][a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$') && !isIP(self)",message="ingress.host must be a lower case DNS name such as shop.example.com (labels of at most 63 characters, not an IP address)"
	Host string `json:"host"`

	// className selects the IngressClass; empty uses the cluster's default.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == '' || !format.dns1123Subdomain().validate(self).hasValue()",message="ingress.className must be an IngressClass name (lower case letters, digits, '-' and '.')"
	ClassName *string `json:"className,omitempty"`

	// annotations added to the Ingress, for controller-specific settings.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !format.qualifiedName().validate(k).hasValue())",message="ingress.annotations: keys must be annotation keys such as nginx.ingress.kubernetes.io/proxy-body-size (an optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' and '.')"
	Annotations map[string]string `json:"annotations,omitempty"`
}

// MigrationSpec is the database migration run with the new image before each version rollout.
type MigrationSpec struct {
	// command run in the application image, for example ["./manage", "migrate"].
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=4096
	Command []string `json:"command"`

	// args passed to the command.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	Args []string `json:"args,omitempty"`

	// timeoutSeconds after which a running migration is stopped and reported as failed.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=86400
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`

	// backoffLimit is the number of retries before the migration counts as failed.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	BackoffLimit int32 `json:"backoffLimit,omitempty"`
}

// HTTPProbe checks the application over HTTP on its port.
type HTTPProbe struct {
	// path requested; any 2xx or 3xx answer counts as success.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="probe path must start with '/'"
	Path string `json:"path"`

	// initialDelaySeconds before the first check.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`

	// periodSeconds between checks.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=3600
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`

	// failureThreshold is the number of consecutive failures that count as a failure.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

// ProbesSpec configures the web tier's health checks.
type ProbesSpec struct {
	// readiness decides when a pod receives traffic.
	// +optional
	Readiness *HTTPProbe `json:"readiness,omitempty"`

	// liveness decides when a pod is restarted.
	// +optional
	Liveness *HTTPProbe `json:"liveness,omitempty"`
}

// BackupSource names one backup and where it is stored.
type BackupSource struct {
	// backupName is the name of the backup as listed in the BackupPolicy's catalogue and in the
	// backup's manifest.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$')",message="backupName must be a backup name such as shop-20260101-020000 (lower case letters, digits, '-' and '.')"
	BackupName string `json:"backupName"`

	// stack whose backups hold it: backups are stored under "<namespace>.<stack>" of the Stack that
	// took them. A bare name means a Stack of this namespace; empty means the restoring Stack.
	// +optional
	// +kubebuilder:validation:MaxLength=127
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?[.])?[a-z]([-a-z0-9]*[a-z0-9])?$')",message="stack must be a Stack name, or namespace.name for a Stack of another namespace"
	Stack string `json:"stack,omitempty"`

	// destination holds the backup.
	// +required
	Destination BackupDestination `json:"destination"`
}
