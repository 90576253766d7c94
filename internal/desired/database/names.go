// Package database computes, from a Database alone, the objects of one PostgreSQL instance:
// StatefulSet, Services, credentials Secret, tuned configuration, Certificate, ServiceMonitor,
// PrometheusRule, NetworkPolicy and PodDisruptionBudget. The functions are pure (secrets are passed
// in, never generated here) and tested with golden files.
package database

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// Fixed facts about the PostgreSQL pods.
const (
	// PostgresUID is the postgres user of the official image (Debian and Alpine alike).
	PostgresUID int64 = 999
	// Port is PostgreSQL's port.
	Port = 5432
	// ExporterPort serves the exporter's metrics.
	ExporterPort = 9187
	// AppUser and AppDatabase are the role and database the application uses.
	AppUser     = "app"
	AppDatabase = "app"
	// SuperUser is the role Canopy itself uses for administration (password rotation).
	SuperUser = "postgres"

	// AnnotationConfigHash on the pod template rolls the pod when the configuration changes.
	AnnotationConfigHash = "canopy.dev/config-hash"
	// AnnotationVersion on the pod template records the PostgreSQL version it runs.
	AnnotationVersion = "canopy.dev/postgres-version"
	// AnnotationCredentials on the pod template of a client rolls it when credentials rotate.
	AnnotationCredentials = "canopy.dev/credentials-revision" //nolint:gosec // G101: an annotation name, not a credential
)

// Name of the StatefulSet, the client Service and the other per-instance objects.
func Name(db *componentsv1alpha1.Database) string { return db.Name + "-postgres" }

// HeadlessName is the headless Service that gives the pod its stable DNS name.
func HeadlessName(db *componentsv1alpha1.Database) string { return db.Name + "-postgres-hl" }

// CredentialsName is the Secret with the application's connection (host, port, dbname, user,
// password, uri).
func CredentialsName(db *componentsv1alpha1.Database) string { return db.Name + "-db-credentials" }

// SuperuserName is the Secret with the superuser's password, which only Canopy uses.
func SuperuserName(db *componentsv1alpha1.Database) string { return db.Name + "-db-superuser" }

// TLSName is the Certificate and its Secret.
func TLSName(db *componentsv1alpha1.Database) string { return db.Name + "-postgres-tls" }

// ConfigName is the ConfigMap holding one configuration: named by its hash, so that a new
// configuration is a new ConfigMap and the last one that worked stays for remediation.
func ConfigName(db *componentsv1alpha1.Database, hash string) string {
	if len(hash) > 10 {
		hash = hash[:10]
	}
	return db.Name + "-postgres-config-" + hash
}

// Host is the client Service's DNS name.
func Host(db *componentsv1alpha1.Database) string {
	return Name(db) + "." + db.Namespace + ".svc"
}

// SelectorLabels select the PostgreSQL pod; they never change for a given Database.
func SelectorLabels(db *componentsv1alpha1.Database) map[string]string {
	return map[string]string{common.LabelName: Name(db), common.LabelComponent: "database"}
}

// Labels of every object built for a Database.
func Labels(db *componentsv1alpha1.Database) map[string]string {
	return map[string]string{
		common.LabelName:      Name(db),
		common.LabelInstance:  common.StackName(db),
		common.LabelComponent: "database",
		common.LabelManagedBy: common.ManagedBy,
		common.LabelStack:     common.StackName(db),
	}
}

func objectMeta(db *componentsv1alpha1.Database, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       db.Namespace,
		Labels:          Labels(db),
		OwnerReferences: []metav1.OwnerReference{common.ControllerRef(componentsv1alpha1.GroupVersion.String(), "Database", db)},
	}
}
