//go:build realpods

package real

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/e2e/real/cluster"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/desired/database"
)

// withS3Backups stores the Stack's backups in the harness's versitygw (bucket cluster.S3Bucket, a
// prefix per namespace), with a credentials Secret it creates.
func withS3Backups(t *testing.T, ns string) func(*canopyv1alpha1.Stack) {
	t.Helper()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "s3-credentials"},
		StringData: map[string]string{agent.SecretKeyAccessKeyID: cluster.S3AccessKey, agent.SecretKeySecretAccessKey: cluster.S3SecretKey}}
	require.NoError(t, c.Client.Create(context.Background(), secret))
	return func(s *canopyv1alpha1.Stack) {
		s.Spec.Backup = &canopyv1alpha1.StackBackup{BeforeUpgrade: ptr.To(true),
			Destination: componentsv1alpha1.BackupDestination{S3: &componentsv1alpha1.S3Destination{
				Endpoint: cluster.S3Endpoint, Bucket: cluster.S3Bucket, Prefix: ns, Region: "us-east-1", ForcePathStyle: ptr.To(true),
				CredentialsSecret: corev1.LocalObjectReference{Name: secret.Name}}}}
	}
}

func secretData(t *testing.T, ns, name string) map[string][]byte {
	t.Helper()
	s := &corev1.Secret{}
	require.NoError(t, c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s))
	return s.Data
}

// connect opens a connection from the harness with the connection string conn; verify, when set,
// receives the certificate the server presented.
func connect(t *testing.T, conn string, presented *[]byte) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(conn)
	require.NoError(t, err)
	if presented != nil {
		require.NotNil(t, cfg.TLSConfig, "the connection string asks for TLS")
		cfg.TLSConfig.VerifyConnection = func(cs tls.ConnectionState) error {
			*presented = cs.PeerCertificates[0].Raw
			return nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pg, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Close(context.Background()) })
	return pg
}

// TestStackWithTLSMonitoringBackups (scenario 1): a Stack with TLS, monitoring and backups becomes
// Ready, and each claim is checked on what really runs: PostgreSQL serves the certificate
// cert-manager issued and a client verifying it against the CA in the credentials Secret connects
// (sslmode=verify-full by the Service's name); the web pods, through their Service, read the
// database over a verified TLS connection of their own; the migration Job created the schema; the
// exporter beside PostgreSQL reports pg_up 1.
func TestStackWithTLSMonitoringBackups(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "shop", withTLSAndMonitoring, withS3Backups(t, ns))
	t.Logf("Stack to Ready: %s", waitReady(t, ns, "shop", appVersions[0]))
	requireStartedOnce(t, ns, "shop-postgres")
	s := stack(t, ns, "shop")
	for _, cond := range []string{"DatabaseReady", "FrontendReady", "BackupReady"} {
		require.True(t, conditions.IsTrue(s, cond), "%s", cond)
	}
	db := &componentsv1alpha1.Database{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, db))

	// The harness verifies the server as the application would, with the Secret's CA.
	creds := secretData(t, ns, database.CredentialsName(db))
	require.Contains(t, string(creds["uri"]), "sslmode=verify-full")
	caFile := t.TempDir() + "/ca.crt"
	require.NoError(t, writeFile(caFile, creds["ca.crt"]))
	var presented []byte
	conn := fmt.Sprintf("host=%s port=5432 dbname=%s user=%s password=%s sslmode=verify-full sslrootcert=%s",
		creds["host"], creds["dbname"], creds["user"], creds["password"], caFile)
	pg := connect(t, conn, &presented)
	served := secretData(t, ns, database.TLSName(db))["tls.crt"]
	block, _ := pem.Decode(served)
	require.NotNil(t, block)
	require.Equal(t, block.Bytes, presented, "PostgreSQL serves the certificate of the Secret cert-manager wrote")
	cert, err := x509.ParseCertificate(presented)
	require.NoError(t, err)
	require.Contains(t, cert.DNSNames, string(creds["host"]))

	// A plain connection is refused? Not asked for: the server allows it (pg_hba's "host"), the
	// clients Canopy configures never use it. The migration Job's schema:
	var version string
	require.NoError(t, pg.QueryRow(ctx, "SELECT version FROM schema_migrations").Scan(&version))
	t.Logf("schema migrated (schema_migrations: %s)", version)

	// The web tier, through its Service, over its own verified connection.
	url := fmt.Sprintf("http://shop-web.%s.svc", ns)
	code, body, err := get(url + "/db")
	require.NoError(t, err)
	require.Equal(t, 200, code, body)
	var info struct {
		SSL           bool   `json:"ssl"`
		ServerVersion string `json:"serverVersion"`
		User          string `json:"user"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &info))
	require.True(t, info.SSL, "the web tier's connection uses TLS: %s", body)
	require.True(t, strings.HasPrefix(info.ServerVersion, "15."), body)
	require.Equal(t, database.AppUser, info.User)

	// The exporter, scraped at the pod's address as Prometheus would.
	pod := &corev1.Pod{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: database.PodName(db)}, pod))
	var metrics string
	require.True(t, assertEventually(time.Minute, time.Second, func() bool {
		_, metrics, err = get(fmt.Sprintf("http://%s:%d/metrics", pod.Status.PodIP, database.ExporterPort))
		return err == nil && strings.Contains(metrics, "\npg_up 1\n")
	}), "the exporter reports pg_up 1: %v\n%s", err, tail(metrics, 20))
	// The series the Grafana dashboard reads from the exporter (test/dashboard's exported list):
	// evidence that the names are this exporter version's, with its default collectors.
	for _, name := range []string{"pg_stat_activity_count", "pg_settings_max_connections"} {
		require.Regexp(t, `(?m)^`+name+`[{ ]`, metrics, "the exporter reports %s, which the dashboard queries", name)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// requireStartedOnce checks that the StatefulSet's pod was created once on the way to Ready, and
// prints its events: a PostgreSQL started twice costs time (a TLS instance used to be rolled for
// its certificate just after it started).
func requireStartedOnce(t *testing.T, ns, statefulSet string) {
	t.Helper()
	events := &corev1.EventList{}
	require.NoError(t, c.Client.List(context.Background(), events, client.InNamespace(ns)))
	var lines []string
	creates := int32(0)
	for _, e := range events.Items {
		if (e.InvolvedObject.Name == statefulSet && e.InvolvedObject.Kind == "StatefulSet") ||
			(e.InvolvedObject.Name == statefulSet+"-0" && (e.Reason == "Killing" || e.Reason == "Started")) {
			lines = append(lines, fmt.Sprintf("%s %s %s (%d): %s", e.LastTimestamp.Format(time.TimeOnly), e.InvolvedObject.Kind, e.Reason, e.Count, e.Message))
		}
		if e.InvolvedObject.Kind == "StatefulSet" && e.InvolvedObject.Name == statefulSet && e.Reason == "SuccessfulCreate" &&
			strings.HasPrefix(strings.ToLower(e.Message), "create pod "+statefulSet+"-0 ") {
			creates += max(e.Count, 1)
		}
	}
	t.Logf("%s events:\n  %s", statefulSet, strings.Join(lines, "\n  "))
	sts := &appsv1.StatefulSet{}
	require.NoError(t, c.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: statefulSet}, sts))
	require.Equal(t, int32(1), creates, "the pod was created once")
	require.Equal(t, int64(1), sts.Generation, "the StatefulSet was not changed on the way to Ready")
}
