package frontend

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// databaseEnv maps environment variables to keys of the database credentials Secret. The values are
// referenced, never copied: they do not appear in the Deployment.
var databaseEnv = []struct{ name, key string }{
	{"DATABASE_URL", "uri"},
	{"PGHOST", "host"},
	{"PGPORT", "port"},
	{"PGDATABASE", "dbname"},
	{"PGUSER", "user"},
	{"PGPASSWORD", "password"},
}

// databaseTLSEnv tells libpq to verify the server, for clients that use the separate variables
// rather than the uri; only while the Secret's uri does. The keys are optional: they leave the
// Secret before the pods roll when TLS is switched off, and a missing key must not stop a pod.
var databaseTLSEnv = []struct{ name, key string }{
	{"PGSSLMODE", "sslmode"},
	{"PGSSLROOTCERT", "sslrootcert"},
}

// env is the container environment: the database connection, then the user's variables; a user
// variable of the same name wins.
func env(fe *componentsv1alpha1.Frontend) []corev1.EnvVar {
	user := map[string]bool{}
	for _, e := range fe.Spec.Env {
		user[e.Name] = true
	}
	var out []corev1.EnvVar
	add := func(secret, name, key string, optional bool) {
		if user[name] {
			return
		}
		ref := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}
		if optional {
			ref.Optional = ptr.To(true)
		}
		out = append(out, corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: ref}})
	}
	if db := fe.Spec.Database; db != nil {
		for _, v := range databaseEnv {
			add(db.CredentialsSecretName, v.name, v.key, false)
		}
		if db.TLS {
			for _, v := range databaseTLSEnv {
				add(db.CredentialsSecretName, v.name, v.key, true)
			}
		}
	}
	return append(out, fe.Spec.Env...)
}

// mountDatabaseCA mounts the database's CA certificate from the credentials Secret where the
// Secret's uri expects it (sslrootcert), when the uri verifies the server. Optional for the same
// reason as the TLS variables: without the file, a verify-full connection fails, it does not
// fall back to an unverified one.
func mountDatabaseCA(fe *componentsv1alpha1.Frontend, spec *corev1.PodSpec) {
	db := fe.Spec.Database
	if db == nil || !db.TLS {
		return
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "database-ca", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: db.CredentialsSecretName, Optional: ptr.To(true),
		// Only the CA: the password stays out of the file system.
		Items: []corev1.KeyToPath{{Key: common.DatabaseCAKey, Path: common.DatabaseCAKey}},
	}}})
	for i := range spec.Containers {
		spec.Containers[i].VolumeMounts = append(spec.Containers[i].VolumeMounts,
			corev1.VolumeMount{Name: "database-ca", MountPath: common.DatabaseCADir, ReadOnly: true})
	}
}

// restrictedPod applies the restricted Pod Security Standard; the application image chooses its user.
func restrictedPod(fe *componentsv1alpha1.Frontend, spec *corev1.PodSpec) {
	common.RestrictPod(spec, nil)
	if ro := fe.Spec.ReadOnlyRootFilesystem; ro != nil && !*ro {
		for i := range spec.Containers { // the image writes outside /tmp; the rest stays restricted
			spec.Containers[i].SecurityContext.ReadOnlyRootFilesystem = ptr.To(false)
		}
	}
}

func httpProbe(p *componentsv1alpha1.HTTPProbe) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: p.Path, Port: intstr.FromString("http")}},
		InitialDelaySeconds: p.InitialDelaySeconds,
		PeriodSeconds:       p.PeriodSeconds,
		FailureThreshold:    p.FailureThreshold,
	}
}

// appContainer is the application container at a version.
func appContainer(fe *componentsv1alpha1.Frontend, version string) corev1.Container {
	c := corev1.Container{
		Name:      "app",
		Image:     ImageRef(fe.Spec.Image, version),
		Env:       env(fe),
		Resources: fe.Spec.Resources,
		Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: fe.Spec.Port, Protocol: corev1.ProtocolTCP}},
	}
	// Without a readiness path, a pod is ready once its port accepts connections.
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}, PeriodSeconds: 10}
	if p := fe.Spec.Probes; p != nil {
		if p.Readiness != nil {
			c.ReadinessProbe = httpProbe(p.Readiness)
		}
		if p.Liveness != nil {
			c.LivenessProbe = httpProbe(p.Liveness)
		}
	}
	return c
}
