package database

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
	"github.com/canopy-dev/canopy/internal/images"
)

// DataDir is PGDATA: a subfolder of the volume, since a volume's root may hold lost+found.
const DataDir = "/var/lib/postgresql/data/pgdata"

// StatefulSetInput is what the StatefulSet needs besides the Database.
type StatefulSetInput struct {
	// Image of PostgreSQL (images.Postgres of the version, or the spec's override).
	Image string
	// Version of PostgreSQL the image runs, recorded on the pod template: an image pinned by digest
	// says nothing about its version.
	Version string
	// ExporterImage of the metrics sidecar.
	ExporterImage string
	// ConfigHash names the ConfigMap to mount (the current one, or the last one that worked).
	ConfigHash string
	// VolumeSize of the claim template: the size at creation, since templates are immutable and
	// growth is done on the claims themselves.
	VolumeSize resource.Quantity
	// Monitoring adds the exporter sidecar.
	Monitoring bool
	// TLS mounts the certificate's Secret; the pod does not start before the Secret exists.
	TLS bool
	// Certificate is the CertificateHash of the certificate to serve (empty while none is issued):
	// a new one restarts PostgreSQL, which reads its key pair only at start.
	Certificate string
	// DataVolume names the claim template of the data volume (DefaultDataVolume when empty): a
	// major-version upgrade moves the data to a new volume, and templates are immutable.
	DataVolume string
	// KeepVolume keeps the volume when the StatefulSet is deleted, whatever the Database's
	// volumeRetention: a major-version upgrade replaces the StatefulSet and keeps the old data.
	KeepVolume bool
}

// TLSVolume is the pod volume of the certificate's Secret: a template with it serves TLS.
const TLSVolume = "tls"

// DefaultDataVolume is the claim template of a Database's first data volume.
const DefaultDataVolume = "data"

// MajorDataVolume is the claim template of the data volume that a major-version upgrade to major,
// loading backupName, creates: each attempt gets a fresh volume, so that a retry never starts
// on what a failed attempt left.
func MajorDataVolume(major, backupName string) string {
	sum := sha256.Sum256([]byte(backupName))
	return DefaultDataVolume + "-pg" + major + "-" + hex.EncodeToString(sum[:3])
}

// DataVolumeOfClaim returns the claim template of one of the Database's data claims ("" when the
// claim is not one).
func DataVolumeOfClaim(db *componentsv1alpha1.Database, claim string) string {
	suffix := "-" + PodName(db)
	if len(claim) <= len(suffix) || claim[len(claim)-len(suffix):] != suffix {
		return ""
	}
	return claim[:len(claim)-len(suffix)]
}

// Image returns the PostgreSQL image a Database runs.
func Image(db *componentsv1alpha1.Database, getenv func(string) string) string {
	if db.Spec.Image != "" {
		return db.Spec.Image
	}
	return images.Postgres(db.Spec.Version, getenv)
}

func secretEnv(name, secret, key string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}}}
}

// pgIsReady checks that the server accepts connections on its socket.
func pgIsReady(period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"pg_isready", "-h", "/var/run/postgresql", "-p", fmt.Sprint(Port),
			"-U", SuperUser}}},
		PeriodSeconds:    period,
		TimeoutSeconds:   5,
		FailureThreshold: failures,
	}
}

// StatefulSet runs one PostgreSQL instance with its data on a claim from the template.
func StatefulSet(db *componentsv1alpha1.Database, in StatefulSetInput) *appsv1.StatefulSet {
	dataVolume := in.DataVolume
	if dataVolume == "" {
		dataVolume = DefaultDataVolume
	}
	postgres := corev1.Container{
		Name:  "postgres",
		Image: in.Image,
		Args:  []string{"-c", "config_file=" + ConfigFile},
		Env: []corev1.EnvVar{
			{Name: "PGDATA", Value: DataDir},
			{Name: "POSTGRES_USER", Value: SuperUser},
			secretEnv("POSTGRES_PASSWORD", SuperuserName(db), corev1.BasicAuthPasswordKey),
			// Read by the first-start script that creates the application's role and database.
			{Name: "APP_USER", Value: AppUser},
			{Name: "APP_DATABASE", Value: AppDatabase},
			secretEnv("APP_PASSWORD", CredentialsName(db), "password"),
		},
		Ports:     []corev1.ContainerPort{{Name: "postgresql", ContainerPort: Port, Protocol: corev1.ProtocolTCP}},
		Resources: db.Spec.Resources,
		// Initialisation and crash recovery can take long: the startup probe allows 10 minutes
		// before liveness applies.
		StartupProbe:   pgIsReady(10, 60),
		ReadinessProbe: pgIsReady(10, 3),
		LivenessProbe:  pgIsReady(20, 6),
		VolumeMounts: []corev1.VolumeMount{
			{Name: dataVolume, MountPath: "/var/lib/postgresql/data"},
			{Name: "config", MountPath: "/etc/postgresql", ReadOnly: true},
			{Name: "run", MountPath: "/var/run/postgresql"},
			{Name: "init", MountPath: "/docker-entrypoint-initdb.d", ReadOnly: true},
		},
	}
	volumes := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ConfigName(db, in.ConfigHash)}}}},
		{Name: "run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "init", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: InitName(db)}, DefaultMode: ptr.To[int32](0o555)}}},
	}
	if in.TLS {
		postgres.VolumeMounts = append(postgres.VolumeMounts, corev1.VolumeMount{Name: TLSVolume, MountPath: TLSDir, ReadOnly: true})
		// The key must be readable by the postgres user only. Not optional: without its key pair
		// the pod waits, it never starts PostgreSQL without TLS.
		volumes = append(volumes, corev1.Volume{Name: TLSVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: TLSName(db), DefaultMode: ptr.To[int32](0o600)}}})
	}
	containers := []corev1.Container{postgres}
	if in.Monitoring {
		containers = append(containers, corev1.Container{
			Name:  "exporter",
			Image: in.ExporterImage,
			Env: []corev1.EnvVar{
				{Name: "DATA_SOURCE_URI", Value: fmt.Sprintf("127.0.0.1:%d/postgres?sslmode=disable", Port)},
				{Name: "DATA_SOURCE_USER", Value: SuperUser},
				secretEnv("DATA_SOURCE_PASS", SuperuserName(db), corev1.BasicAuthPasswordKey),
			},
			Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: ExporterPort, Protocol: corev1.ProtocolTCP}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
			},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("metrics")}}},
		})
	}
	pod := corev1.PodSpec{Containers: containers, Volumes: volumes, TerminationGracePeriodSeconds: ptr.To[int64](60)}
	common.RestrictPod(&pod, ptr.To(PostgresUID))

	whenDeleted := appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	if db.Spec.VolumeRetention == componentsv1alpha1.Delete && !in.KeepVolume {
		whenDeleted = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	claimLabels := Labels(db)
	annotations := map[string]string{AnnotationConfigHash: in.ConfigHash, AnnotationVersion: in.Version}
	if in.TLS && in.Certificate != "" {
		annotations[AnnotationCertificate] = in.Certificate
	}
	return &appsv1.StatefulSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
		ObjectMeta: objectMeta(db, Name(db)),
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To[int32](1),
			ServiceName: HeadlessName(db),
			// OrderedReady never replaces a pod that is not Running and Ready, so a pod broken by a
			// bad configuration or image would stay broken after Canopy reverts the template.
			// With one replica, Parallel costs nothing.
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: SelectorLabels(db)},
			// The volume is deleted with the StatefulSet only when the Database says so.
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: whenDeleted, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: Labels(db), Annotations: annotations},
				Spec:       pod,
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: dataVolume, Labels: claimLabels},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: db.Spec.Storage.StorageClassName,
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: in.VolumeSize}},
				},
			}},
		},
	}
}

// LabelCurrentData marks the data claim that holds the Database's data now ("true" on exactly one
// claim of a Database). Database.status remembers it too, but a claim label survives the
// Database: a Database deleted and recreated by its Stack after a major upgrade must mount the
// new major's claim, not the first one or a fresh empty one.
const LabelCurrentData = "canopy.dev/current-data"

// LabelDataMajor on a data claim is the PostgreSQL major version whose data it holds, written with
// LabelCurrentData: a Database recreated on the claim starts that major, not the one its spec asks
// for, which could not read the data (its upgrade then starts from there).
const LabelDataMajor = "canopy.dev/data-major"

// ClaimName is the claim of the StatefulSet's only pod from the claim template dataVolume.
func ClaimName(db *componentsv1alpha1.Database, dataVolume string) string {
	return dataVolume + "-" + PodName(db)
}

// PodName is the StatefulSet's only pod.
func PodName(db *componentsv1alpha1.Database) string { return Name(db) + "-0" }
