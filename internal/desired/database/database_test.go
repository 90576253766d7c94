package database

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/golden"
	"github.com/canopy-dev/canopy/internal/podsecurity"
)

// full is a Database with every feature on, as the stack controller writes it for the full sample.
func full() *componentsv1alpha1.Database {
	return &componentsv1alpha1.Database{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "apps", UID: "0b1c2d3e-0000-4000-8000-000000000003",
			Labels: map[string]string{"canopy.dev/stack": "shop"}},
		Spec: componentsv1alpha1.DatabaseSpec{
			Version: "17",
			Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("5Gi"), StorageClassName: ptr.To("fast")},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			},
			ExpectedConnections: 100,
			Parameters:          map[string]string{"log_min_duration_statement": "500"},
			TLS: &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: "ca", Kind: "ClusterIssuer",
				Group: "cert-manager.io"}},
			Monitoring: &componentsv1alpha1.DatabaseMonitoringSpec{MonitoringSpec: componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true), Interval: "30s",
				Labels: map[string]string{"release": "prometheus"}, PrometheusNamespace: "monitoring"}, BackupMaxAge: "48h"},
			Clients: []metav1.LabelSelector{
				{MatchLabels: map[string]string{"canopy.dev/stack": "shop", "app.kubernetes.io/component": "frontend"}},
				{MatchLabels: map[string]string{"canopy.dev/stack": "shop", "app.kubernetes.io/component": "backup"}},
			},
			VolumeRetention: componentsv1alpha1.Retain,
		},
	}
}

func input(db *componentsv1alpha1.Database) StatefulSetInput {
	_, hash := ConfigMap(db, db.Spec.TLS != nil)
	return StatefulSetInput{Image: Image(db, func(string) string { return "" }), ExporterImage: "quay.io/prometheuscommunity/postgres-exporter:v0.17.1",
		ConfigHash: hash, VolumeSize: db.Spec.Storage.Size, Monitoring: monitoringOn(db), TLS: db.Spec.TLS != nil,
		Certificate: CertificateHash([]byte("<the issued certificate>"))}
}

func TestGoldens(t *testing.T) {
	db := full()
	cm, _ := ConfigMap(db, true)
	golden.YAML(t, "statefulset", StatefulSet(db, input(db)))
	golden.YAML(t, "services", ClientService(db, true), HeadlessService(db))
	// The shape of the Secrets, with a placeholder where the generated password goes.
	golden.YAML(t, "secrets", CredentialsSecret(db, "<generated>", nil), SuperuserSecret(db, "<generated>"))
	golden.YAML(t, "secrets-tls", CredentialsSecret(db, "<generated>", []byte("<the issuer's CA certificate>")))
	golden.YAML(t, "configmap", cm)
	golden.YAML(t, "certificate", Certificate(db))
	golden.YAML(t, "servicemonitor", ServiceMonitor(db))
	golden.YAML(t, "prometheusrule", PrometheusRule(db))
	golden.YAML(t, "networkpolicy", NetworkPolicy(db, "canopy-system"))
	golden.YAML(t, "init", InitConfigMap(db))
	golden.YAML(t, "pdb", PodDisruptionBudget(db))
}

func TestPodTemplatesAreRestricted(t *testing.T) {
	for _, db := range []*componentsv1alpha1.Database{full(), {ObjectMeta: metav1.ObjectMeta{Name: "min"},
		Spec: componentsv1alpha1.DatabaseSpec{Version: "16"}}} {
		sts := StatefulSet(db, input(db))
		require.NoError(t, podsecurity.CheckRestricted(&sts.Spec.Template.ObjectMeta, &sts.Spec.Template.Spec))
	}
}

func TestConfiguration(t *testing.T) {
	db := full()
	s := Settings(db, true)
	get := func(name string) string { v, _ := s.Get(name); return v }
	require.Equal(t, "100", get("max_connections"))
	require.Equal(t, "256MB", get("shared_buffers"), "a quarter of the 1Gi limit")
	require.Equal(t, "500", get("log_min_duration_statement"), "spec.parameters reach the file")
	require.Equal(t, "on", get("ssl"))
	require.Equal(t, "*", get("listen_addresses"))

	db.Spec.Parameters = map[string]string{"shared_buffers": "128MB", "port": "6543"}
	s = Settings(db, true)
	require.Equal(t, "128MB", get2(s, "shared_buffers"), "overrides win over tuning")
	require.Equal(t, "5432", get2(s, "port"), "Canopy's settings win over everything")

	_, h1 := ConfigMap(full(), true)
	changed := full()
	changed.Spec.ExpectedConnections = 200
	cm2, h2 := ConfigMap(changed, true)
	require.NotEqual(t, h1, h2, "a new configuration is a new ConfigMap")
	require.True(t, strings.HasSuffix(cm2.Name, h2[:10]))
	_, h3 := ConfigMap(full(), true)
	require.Equal(t, h1, h3, "the same spec gives the same configuration")
}

func get2(s interface{ Get(string) (string, bool) }, name string) string {
	v, _ := s.Get(name)
	return v
}

// TestTLSPodTemplate: with TLS the pod mounts the certificate's Secret, without which it does not
// start, and a new certificate is a new template (PostgreSQL reads its key pair only at start).
func TestTLSPodTemplate(t *testing.T) {
	db := full()
	in := input(db)
	sts := StatefulSet(db, in)
	var secret *corev1.SecretVolumeSource
	for _, v := range sts.Spec.Template.Spec.Volumes {
		if v.Name == "tls" {
			secret = v.Secret
		}
	}
	require.NotNil(t, secret)
	require.Equal(t, "shop-postgres-tls", secret.SecretName)
	require.Nil(t, secret.Optional, "PostgreSQL waits for its key pair rather than start without TLS")
	require.Equal(t, in.Certificate, sts.Spec.Template.Annotations[AnnotationCertificate])
	renewed := in
	renewed.Certificate = CertificateHash([]byte("<the renewed certificate>"))
	require.NotEqual(t, sts.Spec.Template.Annotations, StatefulSet(db, renewed).Spec.Template.Annotations, "a renewal restarts PostgreSQL")
	require.NotEqual(t, in.Certificate, renewed.Certificate)

	in.Certificate = ""
	require.NotContains(t, StatefulSet(db, in).Spec.Template.Annotations, AnnotationCertificate, "nothing issued yet")
	db.Spec.TLS = nil
	require.NotContains(t, StatefulSet(db, input(db)).Spec.Template.Annotations, AnnotationCertificate)
}

func TestMonitoringAndTLSAreOptional(t *testing.T) {
	db := full()
	db.Spec.Monitoring = nil
	db.Spec.TLS = nil
	require.Nil(t, ServiceMonitor(db))
	require.Nil(t, PrometheusRule(db))
	require.Nil(t, Certificate(db))
	sts := StatefulSet(db, input(db))
	require.Len(t, sts.Spec.Template.Spec.Containers, 1, "no exporter without monitoring")
	require.Len(t, ClientService(db, false).Spec.Ports, 1)
	np := NetworkPolicy(db, "")
	require.Len(t, np.Spec.Ingress, 1, "only the clients, no scraper")
	_, hasSSL := Settings(db, false).Get("ssl")
	require.False(t, hasSSL)

	db.Spec.Clients = nil
	require.Empty(t, NetworkPolicy(db, "").Spec.Ingress, "no clients: nothing may connect")
}

func TestAlertsHaveRunbooks(t *testing.T) {
	root, err := os.Getwd()
	require.NoError(t, err)
	pr := PrometheusRule(full())
	require.Len(t, pr.Spec.Groups[0].Rules, 4)
	for _, r := range pr.Spec.Groups[0].Rules {
		url := r.Annotations["runbook_url"]
		require.True(t, strings.HasPrefix(url, RunbookBase), r.Alert)
		page := filepath.Join(root, "..", "..", "..", "docs", "runbooks", strings.TrimPrefix(url, RunbookBase))
		_, err := os.Stat(page)
		require.NoError(t, err, "alert %s links a runbook that does not exist", r.Alert)
	}
	db := full()
	db.Spec.Monitoring.BackupMaxAge = ""
	require.Len(t, PrometheusRule(db).Spec.Groups[0].Rules, 3, "no backup alert without a backup schedule")
}

func TestVolumeRetention(t *testing.T) {
	db := full()
	require.Equal(t, "Retain", string(StatefulSet(db, input(db)).Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted))
	db.Spec.VolumeRetention = componentsv1alpha1.Delete
	require.Equal(t, "Delete", string(StatefulSet(db, input(db)).Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted))
}

func TestCredentialsURIEscapesThePassword(t *testing.T) {
	s := CredentialsSecret(full(), "p@ss/w:rd?", nil)
	require.Equal(t, "postgresql://app:p%40ss%2Fw%3Ard%3F@shop-postgres.apps.svc:5432/app?sslmode=prefer", s.StringData["uri"])
}

// TestCredentialsVerifyTheServerWithTLS: with the server's CA, the uri works as it is for a client
// pod that mounts the Secret's ca.crt: verify-full against that file, for a host the certificate
// names. Without it nothing about TLS is in the Secret.
func TestCredentialsVerifyTheServerWithTLS(t *testing.T) {
	db := full()
	s := CredentialsSecret(db, "pw", []byte("CA"))
	u, err := url.Parse(s.StringData["uri"])
	require.NoError(t, err)
	require.Equal(t, "verify-full", u.Query().Get("sslmode"))
	require.Equal(t, "/etc/canopy/database/ca.crt", u.Query().Get("sslrootcert"))
	require.Contains(t, DNSNames(db), u.Hostname(), "verify-full checks the host against the certificate")
	require.Contains(t, DNSNames(db), s.StringData["host"])
	require.Equal(t, "CA", s.StringData["ca.crt"])
	require.Equal(t, "verify-full", s.StringData[KeySSLMode])
	require.Equal(t, u.Query().Get("sslrootcert"), s.StringData[KeySSLRootCert])

	plain := CredentialsSecret(db, "pw", nil).StringData
	for _, k := range TLSKeys {
		require.NotContains(t, plain, k)
	}
	require.True(t, strings.HasSuffix(plain["uri"], "?sslmode=prefer"))
}

// TestServesTLS: the controller tells a configuration that serves TLS from one that does not by
// its rendered text.
func TestServesTLS(t *testing.T) {
	on, _ := ConfigMap(full(), true)
	off, _ := ConfigMap(full(), false)
	require.True(t, ServesTLS(on.Data["postgresql.conf"]))
	require.False(t, ServesTLS(off.Data["postgresql.conf"]))
	require.False(t, ServesTLS(""))
}

func restoreInput(dest componentsv1alpha1.BackupDestination) RestoreInput {
	return RestoreInput{AgentImage: "ghcr.io/canopy-dev/canopy:v0.1.0", PostgresImage: "docker.io/library/postgres:17.2",
		Source: componentsv1alpha1.BackupSource{BackupName: "shop-20261101-020000", Destination: dest}}
}

func TestRestoreJob(t *testing.T) {
	db := full()
	vol := componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{}}
	s3 := componentsv1alpha1.BackupDestination{S3: &componentsv1alpha1.S3Destination{Endpoint: "https://s3.example.com", Bucket: "b",
		CredentialsSecret: corev1.LocalObjectReference{Name: "s3"}, ForcePathStyle: ptr.To(true)}}
	golden.YAML(t, "restore-job", RestoreJob(db, restoreInput(vol), "bootstrap"), RestoreJob(db, restoreInput(s3), "r1"))
	for _, d := range []componentsv1alpha1.BackupDestination{vol, s3} {
		job := RestoreJob(db, restoreInput(d), "x")
		require.NoError(t, podsecurity.CheckRestricted(&job.Spec.Template.ObjectMeta, &job.Spec.Template.Spec))
		require.Equal(t, "backup", job.Spec.Template.Labels["app.kubernetes.io/component"], "the NetworkPolicy admits restore pods")
	}
	require.Equal(t, RestoreJobName(db, "a"), RestoreJobName(db, "a"))
	require.NotEqual(t, RestoreJobName(db, "a"), RestoreJobName(db, "b"))
}

// TestRestoreJobDecrypts: with an encrypted destination the agent gets the encryption Secret as a
// read-only volume and the flag naming its folder; the key is never an environment variable or
// an argument, and the pod stays restricted.
func TestRestoreJobDecrypts(t *testing.T) {
	db := full()
	enc := componentsv1alpha1.BackupDestination{S3: &componentsv1alpha1.S3Destination{Endpoint: "https://s3.example.com", Bucket: "b",
		CredentialsSecret: corev1.LocalObjectReference{Name: "s3"}, ForcePathStyle: ptr.To(true)},
		Encryption: &componentsv1alpha1.BackupEncryption{KeySecret: corev1.LocalObjectReference{Name: "shop-backup-keys"}, KeyID: "2026-02"}}
	job := RestoreJob(db, restoreInput(enc), "r1")
	golden.YAML(t, "restore-job-encrypted", job)
	require.NoError(t, podsecurity.CheckRestricted(&job.Spec.Template.ObjectMeta, &job.Spec.Template.Spec))
	fetch := job.Spec.Template.Spec.InitContainers[0]
	require.Contains(t, fetch.Args, "--encryption-key-dir=/etc/canopy/backup-keys")
	for _, a := range fetch.Args {
		require.NotContains(t, a, "--encryption-key-id", "a restore uses the key each backup names")
	}
	for _, c := range append(job.Spec.Template.Spec.InitContainers, job.Spec.Template.Spec.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				require.NotEqual(t, "shop-backup-keys", e.ValueFrom.SecretKeyRef.Name, "keys are files, never env")
			}
		}
	}
	var vol *corev1.Volume
	for i, v := range job.Spec.Template.Spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "shop-backup-keys" {
			vol = &job.Spec.Template.Spec.Volumes[i]
		}
	}
	require.NotNil(t, vol)
	require.Equal(t, int32(0o440), *vol.Secret.DefaultMode)
}

// TestMajorUpgradeVolume: the StatefulSet of a major upgrade mounts a new claim template, keeps
// its volume whatever volumeRetention says, and its claim name maps back to the template.
func TestMajorUpgradeVolume(t *testing.T) {
	db := full()
	db.Spec.VolumeRetention = componentsv1alpha1.Delete
	in := input(db)
	require.Equal(t, appsv1.DeletePersistentVolumeClaimRetentionPolicyType, StatefulSet(db, in).Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted)

	in.DataVolume, in.KeepVolume = MajorDataVolume("17", "shop-20260101-020000"), true
	require.Equal(t, "data-pg17-"+in.DataVolume[len("data-pg17-"):], in.DataVolume)
	require.NotEqual(t, in.DataVolume, MajorDataVolume("17", "shop-20260102-020000"), "each attempt gets its own volume")
	sts := StatefulSet(db, in)
	require.Equal(t, appsv1.RetainPersistentVolumeClaimRetentionPolicyType, sts.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted)
	require.Equal(t, in.DataVolume, sts.Spec.VolumeClaimTemplates[0].Name)
	require.Equal(t, in.DataVolume, sts.Spec.Template.Spec.Containers[0].VolumeMounts[0].Name)
	claim := ClaimName(db, in.DataVolume)
	require.Equal(t, in.DataVolume+"-shop-postgres-0", claim)
	require.Equal(t, in.DataVolume, DataVolumeOfClaim(db, claim))
	require.Equal(t, DefaultDataVolume, DataVolumeOfClaim(db, ClaimName(db, DefaultDataVolume)))
	require.Empty(t, DataVolumeOfClaim(db, "data-other-postgres-0"))
	require.Regexp(t, `persistentvolumeclaim=~"data\(-pg\[0-9\]\+-\[0-9a-f\]\+\)\?-shop-postgres-0"`, PrometheusRule(db).Spec.Groups[0].Rules[2].Expr.String(),
		"the volume alert follows the data to its new volume")
}
