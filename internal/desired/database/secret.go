package database

import (
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// Keys of the credentials Secret that tell clients how to verify the server; present only while
// the server requires TLS (with common.DatabaseCAKey, the CA itself).
const (
	KeySSLMode     = "sslmode"
	KeySSLRootCert = "sslrootcert"
)

// TLSKeys are the keys of the credentials Secret that exist only while clients verify the server.
var TLSKeys = []string{KeySSLMode, KeySSLRootCert, common.DatabaseCAKey}

// Connection is the credentials Secret's data for a password. With the server's CA (ca not empty)
// clients must verify the server: the uri asks for sslmode=verify-full against the CA file that the
// client pods mount from the Secret's ca.crt (common.DatabaseCAFile), and its host, the client
// Service's name, is one of the certificate's DNS names. Without a CA the uri keeps
// sslmode=prefer: a Database without spec.tls serves plain connections, and prefer also lets a
// client written for it connect once TLS is on.
func Connection(db *componentsv1alpha1.Database, password string, ca []byte) map[string]string {
	query := "sslmode=prefer"
	if len(ca) > 0 {
		// Unescaped: a path is valid in a query, and readable in the Secret.
		query = "sslmode=verify-full&sslrootcert=" + common.DatabaseCAFile
	}
	uri := url.URL{Scheme: "postgresql", User: url.UserPassword(AppUser, password), Host: fmt.Sprintf("%s:%d", Host(db), Port),
		Path: "/" + AppDatabase, RawQuery: query}
	data := map[string]string{
		"host": Host(db), "port": fmt.Sprint(Port), "dbname": AppDatabase, "user": AppUser,
		"password": password, "uri": uri.String(),
	}
	if len(ca) > 0 {
		data[KeySSLMode] = "verify-full"
		data[KeySSLRootCert] = common.DatabaseCAFile
		data[common.DatabaseCAKey] = string(ca)
	}
	return data
}

// CredentialsSecret is the application's connection (see Connection). The controller creates it
// once with a generated password and never regenerates it; a rotation writes a new password after
// PostgreSQL accepted it, and the TLS keys follow what the server requires.
func CredentialsSecret(db *componentsv1alpha1.Database, password string, ca []byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: secretMeta(db, CredentialsName(db)),
		Type:       corev1.SecretTypeOpaque,
		StringData: Connection(db, password, ca),
	}
}

// SuperuserSecret holds the superuser's password.
func SuperuserSecret(db *componentsv1alpha1.Database, password string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: secretMeta(db, SuperuserName(db)),
		Type:       corev1.SecretTypeBasicAuth,
		StringData: map[string]string{corev1.BasicAuthUsernameKey: SuperUser, corev1.BasicAuthPasswordKey: password},
	}
}

// secretMeta: the Secrets hold the passwords inside the data volume, so they share its fate. While
// the volume is retained they have no owner and survive the Database; a Database recreated on the
// retained volume finds them again, instead of generating passwords the data does not know.
func secretMeta(db *componentsv1alpha1.Database, name string) metav1.ObjectMeta {
	meta := objectMeta(db, name)
	if db.Spec.VolumeRetention != componentsv1alpha1.Delete {
		meta.OwnerReferences = nil
	}
	return meta
}
