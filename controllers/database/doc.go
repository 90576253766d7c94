// Package database holds the database controller: it turns a Database into a PostgreSQL StatefulSet
// with its Services, credentials, tuned configuration, TLS, monitoring and network policy.
package database
