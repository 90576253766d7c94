package frontend

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/golden"
	"github.com/canopy-dev/canopy/internal/podsecurity"
)

// full is a Frontend with every feature on, as the stack controller writes it for the full sample.
func full() *componentsv1alpha1.Frontend {
	return &componentsv1alpha1.Frontend{
		ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "apps", UID: "0b1c2d3e-0000-4000-8000-000000000002",
			Labels: map[string]string{labelStack: "shop"}},
		Spec: componentsv1alpha1.FrontendSpec{
			Image:   "ghcr.io/acme/shop",
			Version: "1.4.2",
			Port:    8080,
			Env:     []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			},
			Autoscaling: &componentsv1alpha1.AutoscalingSpec{MinReplicas: 2, MaxReplicas: 6, TargetCPUUtilizationPercentage: ptr.To[int32](70),
				TargetMemoryUtilizationPercentage: ptr.To[int32](80)},
			Probes: &componentsv1alpha1.ProbesSpec{
				Readiness: &componentsv1alpha1.HTTPProbe{Path: "/healthz", PeriodSeconds: 10, FailureThreshold: 3},
				Liveness:  &componentsv1alpha1.HTTPProbe{Path: "/livez", InitialDelaySeconds: 5, PeriodSeconds: 20, FailureThreshold: 3},
			},
			Ingress: &componentsv1alpha1.IngressSpec{Host: "shop.example.com", ClassName: ptr.To("nginx"),
				Annotations: map[string]string{"nginx.ingress.kubernetes.io/proxy-body-size": "8m"}},
			TLS: &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: "letsencrypt", Kind: "ClusterIssuer",
				Group: "cert-manager.io"}},
			Monitoring: &componentsv1alpha1.FrontendMonitoringSpec{MonitoringSpec: componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true), Interval: "30s",
				Labels: map[string]string{"release": "prometheus"}}, Path: "/metrics"},
			Migration: &componentsv1alpha1.MigrationSpec{Command: []string{"/app/shop", "migrate"}, Args: []string{"--verbose"},
				TimeoutSeconds: 600},
			Database:                &componentsv1alpha1.DatabaseConnection{CredentialsSecretName: "shop-db-credentials", TLS: true},
			ProgressDeadlineSeconds: 600,
			ImagePullSecrets:        []corev1.LocalObjectReference{{Name: "ghcr"}},
		},
	}
}

func TestGoldens(t *testing.T) {
	fe := full()
	golden.YAML(t, "deployment", Deployment(fe, "1.4.2"))
	golden.YAML(t, "service", Service(fe))
	golden.YAML(t, "ingress", Ingress(fe, true))
	golden.YAML(t, "certificate", Certificate(fe))
	golden.YAML(t, "hpa", HorizontalPodAutoscaler(fe))
	golden.YAML(t, "pdb", PodDisruptionBudget(fe))
	golden.YAML(t, "servicemonitor", ServiceMonitor(fe))
	golden.YAML(t, "migration-job", MigrationJob(fe, "1.5.0"))
}

// TestPodTemplatesAreRestricted runs every pod template through the upstream Pod Security admission
// code at level restricted, also with the writable root filesystem a Stack may ask for.
func TestPodTemplatesAreRestricted(t *testing.T) {
	for _, fe := range []*componentsv1alpha1.Frontend{full(), {ObjectMeta: metav1.ObjectMeta{Name: "min"},
		Spec: componentsv1alpha1.FrontendSpec{Image: "x", Version: "1", Port: 8080, Migration: &componentsv1alpha1.MigrationSpec{Command: []string{"m"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "writable"}, Spec: componentsv1alpha1.FrontendSpec{Image: "x", Version: "1", Port: 8080,
			ReadOnlyRootFilesystem: ptr.To(false), Migration: &componentsv1alpha1.MigrationSpec{Command: []string{"m"}}}}} {
		dep := Deployment(fe, fe.Spec.Version)
		job := MigrationJob(fe, fe.Spec.Version)
		writable := fe.Spec.ReadOnlyRootFilesystem != nil && !*fe.Spec.ReadOnlyRootFilesystem
		for _, c := range append(dep.Spec.Template.Spec.Containers, job.Spec.Template.Spec.Containers...) {
			require.Equal(t, !writable, *c.SecurityContext.ReadOnlyRootFilesystem, "%s: a read-only root unless the Stack relaxes it", fe.Name)
		}
		require.NoError(t, podsecurity.CheckRestricted(&dep.Spec.Template.ObjectMeta, &dep.Spec.Template.Spec), "Deployment")
		require.NoError(t, podsecurity.CheckRestricted(&job.Spec.Template.ObjectMeta, &job.Spec.Template.Spec), "migration Job")
	}
}

func TestImageRef(t *testing.T) {
	digest := "ghcr.io/acme/shop@sha256:" + string(bytes.Repeat([]byte("a"), 64))
	for _, tc := range []struct{ image, version, want string }{
		{"ghcr.io/acme/shop", "1.4.2", "ghcr.io/acme/shop:1.4.2"},
		{"localhost:5000/shop", "v2", "localhost:5000/shop:v2"},
		{digest, "1.4.2", digest},
	} {
		require.Equal(t, tc.want, ImageRef(tc.image, tc.version))
	}
}

func TestReplicasAndOptionalObjects(t *testing.T) {
	fe := full()
	require.Nil(t, DesiredReplicas(fe), "the autoscaler owns the count")
	require.NotNil(t, HorizontalPodAutoscaler(fe))
	require.NotNil(t, PodDisruptionBudget(fe), "minReplicas 2 allows a budget")

	fe.Spec.Stopped = true
	require.Equal(t, int32(0), *DesiredReplicas(fe))
	require.Nil(t, HorizontalPodAutoscaler(fe), "a stopped web tier has no autoscaler")
	require.Nil(t, PodDisruptionBudget(fe))

	fe = full()
	fe.Spec.Autoscaling = nil
	require.Equal(t, DefaultReplicas, *DesiredReplicas(fe))
	fe.Spec.Replicas = ptr.To[int32](1)
	require.Nil(t, PodDisruptionBudget(fe), "one replica: a budget would block node drains")
	require.Nil(t, HorizontalPodAutoscaler(fe))

	fe.Spec.Ingress = nil
	require.Nil(t, Ingress(fe, true))
	require.Nil(t, Certificate(fe), "no host, no certificate")
	require.Equal(t, "http://shop-web.apps.svc", URL(fe, true))
	fe = full()
	require.Equal(t, "https://shop.example.com", URL(fe, true))
	require.Equal(t, "http://shop.example.com", URL(fe, false))
	require.Empty(t, Ingress(fe, false).Spec.TLS, "without cert-manager the ingress serves plain HTTP")

	fe.Spec.Monitoring.Enabled = ptr.To(false)
	require.Nil(t, ServiceMonitor(fe))
	fe.Spec.Migration = nil
	require.Nil(t, MigrationJob(fe, "1"))
}

func TestEnvReferencesTheSecret(t *testing.T) {
	fe := full()
	fe.Spec.Env = append(fe.Spec.Env, corev1.EnvVar{Name: "PGHOST", Value: "pgbouncer"})
	env := appContainer(fe, "1").Env
	names := map[string]int{}
	for _, e := range env {
		names[e.Name]++
		if e.Name == "PGPASSWORD" || e.Name == "DATABASE_URL" {
			require.Empty(t, e.Value, "credentials are referenced, never copied")
			require.Equal(t, "shop-db-credentials", e.ValueFrom.SecretKeyRef.Name)
		}
	}
	require.Equal(t, 1, names["PGHOST"], "a user variable replaces Canopy's")
	for _, e := range env {
		if e.Name == "PGHOST" {
			require.Equal(t, "pgbouncer", e.Value)
		}
	}
}

// TestDatabaseCAIsMountedWhereTheURIPoints: when the credentials require TLS, the web tier and the
// migration mount the Secret's CA exactly where the database's uri looks for it (sslrootcert), and
// get libpq's TLS variables; otherwise their pods are as before, so that an operator upgrade rolls
// no web tier.
func TestDatabaseCAIsMountedWhereTheURIPoints(t *testing.T) {
	fe := full()
	u, err := url.Parse(database.Connection(&componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "apps"}},
		"pw", []byte("CA"))["uri"])
	require.NoError(t, err)
	rootCert := u.Query().Get("sslrootcert")
	for _, pod := range []corev1.PodSpec{Deployment(fe, "1").Spec.Template.Spec, MigrationJob(fe, "1").Spec.Template.Spec} {
		var vol *corev1.Volume
		for i := range pod.Volumes {
			if pod.Volumes[i].Name == "database-ca" {
				vol = &pod.Volumes[i]
			}
		}
		require.NotNil(t, vol)
		require.Equal(t, "shop-db-credentials", vol.Secret.SecretName)
		require.Equal(t, []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}, vol.Secret.Items, "only the CA reaches the file system")
		for _, c := range pod.Containers {
			mounted := false
			for _, m := range c.VolumeMounts {
				if m.Name == "database-ca" {
					mounted = m.MountPath+"/"+vol.Secret.Items[0].Path == rootCert && m.ReadOnly
				}
			}
			require.True(t, mounted, "%s mounts the CA at %s", c.Name, rootCert)
			vars := map[string]string{}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					vars[e.Name] = e.ValueFrom.SecretKeyRef.Key
				}
			}
			require.Equal(t, "sslmode", vars["PGSSLMODE"])
			require.Equal(t, "sslrootcert", vars["PGSSLROOTCERT"])
		}
	}

	plain := full()
	plain.Spec.Database.TLS = false
	for _, pod := range []corev1.PodSpec{Deployment(plain, "1").Spec.Template.Spec, MigrationJob(plain, "1").Spec.Template.Spec} {
		for _, v := range pod.Volumes {
			require.NotEqual(t, "database-ca", v.Name)
		}
		for _, e := range pod.Containers[0].Env {
			require.NotContains(t, []string{"PGSSLMODE", "PGSSLROOTCERT"}, e.Name)
		}
	}
}

func TestMigrationJobNameIsStablePerVersion(t *testing.T) {
	fe := full()
	a, b := MigrationJobName(fe, "1.5.0"), MigrationJobName(fe, "1.5.0")
	require.Equal(t, a, b)
	require.NotEqual(t, a, MigrationJobName(fe, "1.5.1"))
	require.LessOrEqual(t, len(MigrationJobName(fe, string(bytes.Repeat([]byte("v"), 128)))), 63)
	// The longest Stack name admission allows (40 characters) with a long version: the fuzz target
	// found names of 76 characters, which the API server refuses for a Job.
	fe.Name = strings.Repeat("s", 40)
	long := MigrationJobName(fe, strings.Repeat("v", 128))
	require.LessOrEqual(t, len(long), 63)
	require.NotEqual(t, long, MigrationJobName(fe, strings.Repeat("v", 127)))
	require.True(t, strings.HasPrefix(a, "shop-migrate-1-5-0-"), "a name that fits keeps its tag: %s", a)
}

func TestCredentialRotationRollsThePods(t *testing.T) {
	fe := full()
	before := Deployment(fe, "1").Spec.Template.Annotations
	require.NotContains(t, before, AnnotationCredentials)
	fe.Spec.Database.CredentialsRevision = "2026-11-26"
	require.Equal(t, "2026-11-26", Deployment(fe, "1").Spec.Template.Annotations[AnnotationCredentials], "a new revision changes the template")
}

// TestMigrationPodsAreNotWebPods: the web tier's selector (Deployment, Service, PDB) does not
// select the migration Job's pods.
func TestMigrationPodsAreNotWebPods(t *testing.T) {
	fe := full()
	sel := labels.SelectorFromSet(Deployment(fe, "1.5.0").Spec.Selector.MatchLabels)
	job := MigrationJob(fe, "1.5.0")
	require.False(t, sel.Matches(labels.Set(job.Spec.Template.Labels)), "migration pods are outside the web tier's selector")
	require.True(t, sel.Matches(labels.Set(Deployment(fe, "1.5.0").Spec.Template.Labels)))
	require.Equal(t, "frontend", job.Spec.Template.Labels["app.kubernetes.io/component"], "the database's NetworkPolicy still admits them")
}
