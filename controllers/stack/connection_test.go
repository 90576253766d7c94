package stack

import (
	"testing"

	"github.com/stretchr/testify/require"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// TestDatabaseTLS: the web tier mounts the database's CA as the Database reports its TLS, and keeps
// what it has while a recreated Database has not reported yet.
func TestDatabaseTLS(t *testing.T) {
	db := func(secret string, tls bool) *componentsv1alpha1.Database {
		d := &componentsv1alpha1.Database{}
		d.Status.CredentialsSecretName, d.Status.TLSEnabled = secret, tls
		return d
	}
	fe := func(tls bool) *componentsv1alpha1.Frontend {
		return &componentsv1alpha1.Frontend{Spec: componentsv1alpha1.FrontendSpec{
			Database: &componentsv1alpha1.DatabaseConnection{CredentialsSecretName: "c", TLS: tls}}}
	}
	for _, tc := range []struct {
		name string
		o    observed
		want bool
	}{
		{"nothing yet", observed{}, false},
		{"the Database serves TLS", observed{db: db("c", true), fe: fe(false)}, true},
		{"the Database serves without TLS", observed{db: db("c", false), fe: fe(true)}, false},
		{"a recreated Database has not reported", observed{db: db("", false), fe: fe(true)}, true},
	} {
		require.Equal(t, tc.want, databaseTLS(tc.o), tc.name)
	}
}
