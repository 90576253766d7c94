package common

// The database server's CA certificate, as its clients get it. When the database requires TLS, the
// credentials Secret holds the CA under DatabaseCAKey and its uri verifies the server against
// DatabaseCAFile (sslmode=verify-full); the pods that read the Secret's uri (the web tier, the
// migration Job) mount that key there. Both sides use these names, so the uri works as it is.
const (
	DatabaseCAKey  = "ca.crt"
	DatabaseCADir  = "/etc/canopy/database"
	DatabaseCAFile = DatabaseCADir + "/" + DatabaseCAKey
)
