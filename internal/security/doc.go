// Package security holds the tests of Canopy's security claims that span the repository: the RBAC
// that config/rbac, the OLM bundle and the namespaced install grant, checked against what the code
// uses and against the table in docs/security.md.
package security
