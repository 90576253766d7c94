package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FrontendSpec describes the application's web tier.
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.autoscaling))",message="set either replicas or autoscaling, not both: with autoscaling the HorizontalPodAutoscaler owns the replica count"
type FrontendSpec struct {
	// image is the application image repository without a tag, optionally pinned with
	// @sha256:<digest>; the tag is version.
	// +required
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-]+[a-z0-9]+)*)*(@sha256:[a-f0-9]{64})?$')",message="image must be a repository without a tag, such as ghcr.io/acme/shop, optionally pinned with @sha256:<digest>; the tag comes from the version"
	Image string `json:"image"`

	// version of the application: the image tag. Changing it runs the migration and then rolls the
	// Deployment; a failure returns to the last good version.
	// +required
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9_][A-Za-z0-9_.-]*$')",message="version must be an image tag such as 1.4.2 (letters, digits, '_', '.' and '-', at most 128 characters)"
	Version string `json:"version"`

	// replicas of the web tier when autoscaling is off (default 2). Zero stops the web tier.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	Replicas *int32 `json:"replicas,omitempty"`

	// autoscaling hands the replica count to a HorizontalPodAutoscaler.
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`

	// stopped scales the web tier to zero and removes its autoscaler, for example while data is
	// restored; the Stack sets it.
	// +optional
	Stopped bool `json:"stopped,omitempty"`

	// port the application listens on (HTTP).
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// env adds environment variables to the application container.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	Env []corev1.EnvVar `json:"env,omitempty"`

	// resources of the application container.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitzero"`

	// readOnlyRootFilesystem: false gives the application container a writable root filesystem.
	// Default true.
	// +optional
	ReadOnlyRootFilesystem *bool `json:"readOnlyRootFilesystem,omitempty"`

	// probes are the HTTP health checks of the application.
	// +optional
	Probes *ProbesSpec `json:"probes,omitempty"`

	// ingress exposes the application on a host name.
	// +optional
	Ingress *IngressSpec `json:"ingress,omitempty"`

	// tls serves the ingress host with a certificate from cert-manager.
	// +optional
	TLS *TLSSpec `json:"tls,omitempty"`

	// monitoring creates a ServiceMonitor for the application's metrics endpoint.
	// +optional
	Monitoring *FrontendMonitoringSpec `json:"monitoring,omitempty"`

	// migration runs before each version change, with the new image.
	// +optional
	Migration *MigrationSpec `json:"migration,omitempty"`

	// database is the connection the application receives as environment variables taken from the
	// credentials Secret by reference.
	// +optional
	Database *DatabaseConnection `json:"database,omitempty"`

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

// FrontendMonitoringSpec is the monitoring of the web tier.
type FrontendMonitoringSpec struct {
	MonitoringSpec `json:",inline"`

	// path of the application's Prometheus metrics endpoint on its port.
	// +optional
	// +kubebuilder:default="/metrics"
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="monitoring.path must start with '/'"
	Path string `json:"path,omitempty"`
}

// DatabaseConnection points the application at its database.
type DatabaseConnection struct {
	// credentialsSecretName names the Secret with keys host, port, dbname, user, password and uri.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	CredentialsSecretName string `json:"credentialsSecretName"`

	// credentialsRevision changes when the database's credentials were rotated: the web tier rolls
	// so that its pods read the new password (environment variables are read at start).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	CredentialsRevision string `json:"credentialsRevision,omitempty"`

	// tls is true when the credentials Secret's uri verifies the server (sslmode=verify-full): the
	// pods mount the Secret's ca.crt at /etc/canopy/database/ca.crt, where the uri's sslrootcert
	// points, and get PGSSLMODE and PGSSLROOTCERT from the Secret.
	// +optional
	TLS bool `json:"tls,omitempty"`
}

// FrontendStatus is what the frontend controller observes.
type FrontendStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Degraded, CertificatesAvailable, MonitoringAvailable.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// desiredVersion is the version the spec asks for.
	// +optional
	DesiredVersion string `json:"desiredVersion,omitempty"`

	// version serving now: every available pod runs it.
	// +optional
	Version string `json:"version,omitempty"`

	// lastGoodVersion is the last version that completed a rollout; rollbacks return to it.
	// +optional
	LastGoodVersion string `json:"lastGoodVersion,omitempty"`

	// failedVersion is the last version whose migration or rollout failed; it is not retried until
	// the spec asks for another version.
	// +optional
	FailedVersion string `json:"failedVersion,omitempty"`

	// replicas desired by the Deployment (or the autoscaler).
	// +optional
	Replicas int32 `json:"replicas,omitempty"`

	// readyReplicas of the Deployment.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`

	// url the application is served on.
	// +optional
	URL string `json:"url,omitempty"`

	// migration reports the migration of the latest version change.
	// +optional
	Migration *MigrationStatus `json:"migration,omitempty"`
}

// MigrationStatus reports one migration Job.
type MigrationStatus struct {
	// version the migration runs for.
	// +optional
	Version string `json:"version,omitempty"`
	// jobName of the migration Job.
	// +optional
	JobName string `json:"jobName,omitempty"`
	// phase: Pending, Running, Succeeded or Failed.
	// +optional
	// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed
	Phase RequestPhase `json:"phase,omitempty"`
	// message explains a failure, from the Job's own condition.
	// +optional
	Message string `json:"message,omitempty"`
}

// Frontend is the web tier of one application; created by the stack controller.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=cfe,categories=canopy-internal
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Desired",type=string,JSONPath=`.status.desiredVersion`
// +kubebuilder:printcolumn:name="Replicas",type=string,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Frontend struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired web tier.
	// +required
	Spec FrontendSpec `json:"spec"`

	// status is what the frontend controller observes.
	// +optional
	Status FrontendStatus `json:"status,omitzero"`
}

// FrontendList is a list of Frontends.
// +kubebuilder:object:root=true
type FrontendList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Frontend `json:"items"`
}
