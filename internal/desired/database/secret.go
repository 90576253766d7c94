package database

import (
	"fmt"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// CredentialsSecret is the application's connection. The controller creates it once with a
// generated password and never overwrites it; a rotation writes a new password after PostgreSQL
// accepted it.
func CredentialsSecret(db *componentsv1alpha1.Database, password string) *corev1.Secret {
	// prefer: TLS whenever the server offers it, which depends on cert-manager being installed,
	// something a Secret written once cannot follow.
	sslmode := "prefer"
	uri := url.URL{Scheme: "postgresql", User: url.UserPassword(AppUser, password), Host: fmt.Sprintf("%s:%d", Host(db), Port),
		Path: "/" + AppDatabase, RawQuery: "sslmode=" + sslmode}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: secretMeta(db, CredentialsName(db)),
		Type:       corev1.SecretTypeOpaque,
		StringData: map[string]string{
			"host": Host(db), "port": fmt.Sprint(Port), "dbname": AppDatabase, "user": AppUser,
			"password": password, "uri": uri.String(),
		},
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
