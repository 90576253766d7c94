//go:build realpods

package real

import (
	"context"
	"encoding/pem"
	"fmt"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/database"
)

// TestRenewedCertificateWithoutRestart: cert-manager renews PostgreSQL's certificate (as `cmctl
// renew` asks it to); once the kubelet has written the renewed Secret into the pod, PostgreSQL
// serves the new certificate to new connections, and its pod was neither restarted nor replaced.
func TestRenewedCertificateWithoutRestart(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "tls", withTLSAndMonitoring)
	waitReady(t, ns, "tls", appVersions[0])
	db := &componentsv1alpha1.Database{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tls"}, db))
	pod := &corev1.Pod{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: database.PodName(db)}, pod))
	first := presentedBy(t, ns, db, true)

	// What cmctl renew does: the Certificate's Issuing condition, which cert-manager acts on.
	cert := &certmanagerv1.Certificate{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: database.TLSName(db)}, cert))
	cert.Status.Conditions = append(cert.Status.Conditions, certmanagerv1.CertificateCondition{Type: certmanagerv1.CertificateConditionIssuing,
		Status: cmmeta.ConditionTrue, Reason: "ManuallyTriggered", Message: "renewal asked for by the test",
		LastTransitionTime: &metav1.Time{Time: time.Now()}})
	require.NoError(t, c.Client.Status().Update(ctx, cert))
	start := time.Now()
	var renewed []byte
	require.True(t, assertEventually(wait, 2*time.Second, func() bool {
		crt := secretData(t, ns, database.TLSName(db))["tls.crt"]
		block, _ := pem.Decode(crt)
		if block == nil || string(block.Bytes) == string(first) {
			return false
		}
		renewed = block.Bytes
		return true
	}), "cert-manager renews the certificate")
	t.Logf("renewed by cert-manager after %s", time.Since(start).Round(100*time.Millisecond))
	require.True(t, assertEventually(wait, 2*time.Second, func() bool { return string(presentedBy(t, ns, db, false)) == string(renewed) }),
		"PostgreSQL serves the renewed certificate")
	t.Logf("served %s after the renewal", time.Since(start).Round(100*time.Millisecond))

	now := &corev1.Pod{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: database.PodName(db)}, now))
	require.Equal(t, pod.UID, now.UID, "the same pod")
	for _, cs := range now.Status.ContainerStatuses {
		require.Zero(t, cs.RestartCount, "container %s was not restarted", cs.Name)
	}
	sts := &appsv1.StatefulSet{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "tls-postgres"}, sts))
	require.Equal(t, int64(1), sts.Generation, "the StatefulSet was not changed for the renewal")
	waitReady(t, ns, "tls", appVersions[0])
	// The credentials follow: their CA (the self-signed issuer's certificate is its own CA) verifies
	// the renewed certificate.
	require.True(t, assertEventually(wait, 2*time.Second, func() bool {
		return string(secretData(t, ns, database.CredentialsName(db))["ca.crt"]) == string(secretData(t, ns, database.TLSName(db))["ca.crt"])
	}), "the credentials carry the renewed CA")
	require.Equal(t, renewed, presentedBy(t, ns, db, true))
}

// presentedBy is the certificate (DER) PostgreSQL presents to a new connection; with verify, the
// connection verifies it against the CA of the credentials Secret, as the application does.
func presentedBy(t *testing.T, ns string, db *componentsv1alpha1.Database, verify bool) []byte {
	t.Helper()
	creds := secretData(t, ns, database.CredentialsName(db))
	mode := "require"
	if verify {
		caFile := t.TempDir() + "/ca.crt"
		require.NoError(t, writeFile(caFile, creds["ca.crt"]))
		mode = "verify-full sslrootcert=" + caFile
	}
	var presented []byte
	pg := connect(t, fmt.Sprintf("host=%s port=5432 dbname=%s user=%s password=%s sslmode=%s",
		creds["host"], creds["dbname"], creds["user"], creds["password"], mode), &presented)
	_ = pg.Close(context.Background())
	return presented
}
