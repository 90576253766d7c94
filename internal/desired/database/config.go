package database

import (
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/pgtune"
)

// ConfigFile is where the postgresql.conf of the ConfigMap is mounted.
const ConfigFile = "/etc/postgresql/postgresql.conf"

// TLSDir is where the certificate's Secret is mounted.
const TLSDir = "/etc/postgresql/tls"

// Settings computes postgresql.conf: auto-tuned from the container's memory (limit, else request),
// CPUs and the expected connections; spec.parameters win; then the settings Canopy must control.
// tls turns SSL on, with the key pair of the certificate's Secret, which the StatefulSet then
// mounts: PostgreSQL starts only once that Secret exists, never without TLS when it is asked for.
func Settings(db *componentsv1alpha1.Database, tls bool) pgtune.Settings {
	res := db.Spec.Resources
	pick := func(name corev1.ResourceName) (q float64) {
		if v, ok := res.Limits[name]; ok {
			return v.AsApproximateFloat64()
		}
		if v, ok := res.Requests[name]; ok {
			return v.AsApproximateFloat64()
		}
		return 0
	}
	tuned := pgtune.Tune(pgtune.Input{
		MemoryBytes:  int64(pick(corev1.ResourceMemory)),
		CPUs:         math.Floor(pick(corev1.ResourceCPU)*1000) / 1000,
		Connections:  db.Spec.ExpectedConnections,
		StorageBytes: db.Spec.Storage.Size.Value(),
		Version:      db.Spec.Version,
	})
	managed := map[string]string{
		"listen_addresses":        "*",
		"port":                    fmt.Sprint(Port),
		"unix_socket_directories": "/var/run/postgresql",
	}
	if tls {
		managed["ssl"] = "on"
		managed["ssl_cert_file"] = TLSDir + "/tls.crt"
		managed["ssl_key_file"] = TLSDir + "/tls.key"
		// No ssl_ca_file: not every issuer writes ca.crt, and PostgreSQL would not start without it;
		// the server does not verify client certificates.
	}
	// Admission refuses overrides of the managed settings; merging them last keeps that true even
	// for an object that bypassed admission.
	return pgtune.Merge(pgtune.Merge(tuned, db.Spec.Parameters), managed)
}

// ConfigMap holds one configuration, named by its hash; it returns the hash too.
func ConfigMap(db *componentsv1alpha1.Database, tls bool) (*corev1.ConfigMap, string) {
	conf := pgtune.Render(Settings(db, tls))
	hash := pgtune.Hash(conf)
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: objectMeta(db, ConfigName(db, hash)),
		Data:       map[string]string{"postgresql.conf": conf},
	}
	cm.Annotations = map[string]string{AnnotationConfigHash: hash}
	return cm, hash
}

// ServesTLS says whether a rendered configuration (a ConfigMap's postgresql.conf) turns SSL on.
// The controller never returns to a configuration that serves TLS differently from the one it
// wants: going back to one without it would turn TLS off, and to one with it would not start
// without the key.
func ServesTLS(conf string) bool {
	return strings.Contains("\n"+conf, "\nssl = 'on'\n")
}
