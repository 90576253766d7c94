package manager

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestStackTLSFailsClosed runs the four controllers on a cluster without cert-manager. A Stack that
// asks for TLS is not Ready, and says why, from the Database to the Stack; PostgreSQL is configured
// for TLS once its key pair exists (no StatefulSet before) and the web tier is not started. Once the key pair
// exists, the Stack becomes Ready with a web tier that verifies the database: the uri says
// verify-full and the CA it names is mounted.
func TestStackTLSFailsClosed(t *testing.T) {
	e := testenv.Require(t, env)
	h := e.Harness(t)
	startManager(t, Options{MetricsAddr: "0", ProbeAddr: "0", WatchNamespaces: []string{h.NS}})
	ctx := context.Background()
	stack := &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: h.NS, Name: "shop"}, Spec: canopyv1alpha1.StackSpec{
		Version:  "1.0",
		Frontend: canopyv1alpha1.StackFrontend{Image: "ghcr.io/acme/shop"},
		TLS:      &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: "ca", Kind: "ClusterIssuer"}},
	}}
	require.NoError(t, h.C.Create(ctx, stack))

	h.Eventually(func() bool {
		s := &canopyv1alpha1.Stack{}
		if h.Get(s, "shop") != nil {
			return false
		}
		ready, db := conditions.Get(s, componentsv1alpha1.ConditionReady), conditions.Get(s, canopyv1alpha1.ConditionDatabaseReady)
		return ready != nil && ready.Status == metav1.ConditionFalse && ready.Reason == componentsv1alpha1.ReasonCertManagerMissing &&
			db != nil && db.Reason == componentsv1alpha1.ReasonCertManagerMissing && strings.Contains(db.Message, "shop-postgres-tls")
	}, "the Stack is not Ready, because cert-manager is missing")
	require.True(t, apierrors.IsNotFound(h.Get(&appsv1.StatefulSet{}, "shop-postgres")), "PostgreSQL waits for its key pair")
	require.Error(t, h.Get(&appsv1.Deployment{}, "shop-web"), "the web tier waits for the database")

	// The key pair arrives, with the labels the Certificate's secretTemplate gives it.
	db := &componentsv1alpha1.Database{}
	require.NoError(t, h.Get(db, "shop"))
	h.Issue("shop-postgres-tls", desired.Labels(db), []string{"shop-postgres." + h.NS + ".svc"})
	sts := &appsv1.StatefulSet{}
	h.Eventually(func() bool {
		return h.Get(sts, "shop-postgres") == nil && sts.Spec.Template.Annotations["canopy.dev/tls-certificate"] != "" &&
			slices.ContainsFunc(sts.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "tls" })
	}, "PostgreSQL is started with the certificate")
	h.RunStatefulSetPod("shop-postgres")

	dep := &appsv1.Deployment{}
	h.Eventually(func() bool { return h.Get(dep, "shop-web") == nil }, "the web tier starts once the database is Ready")
	creds := &corev1.Secret{}
	require.NoError(t, h.Get(creds, "shop-db-credentials"))
	require.Contains(t, string(creds.Data["uri"]), "sslmode=verify-full&sslrootcert=/etc/canopy/database/ca.crt")
	pod := dep.Spec.Template.Spec
	require.True(t, slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool {
		return v.Secret != nil && v.Secret.SecretName == "shop-db-credentials" && v.Secret.Items[0].Key == "ca.crt"
	}), "the web tier mounts the CA")
	require.True(t, slices.ContainsFunc(pod.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == "/etc/canopy/database" }))
	require.Contains(t, envNames(dep), "PGSSLMODE")
	h.RollOutDeployment("shop-web")
	h.Eventually(func() bool {
		s := &canopyv1alpha1.Stack{}
		return h.Get(s, "shop") == nil && conditions.IsTrue(s, componentsv1alpha1.ConditionReady)
	}, "the Stack is Ready")
}
