//go:build tools

// Package tools pins the exporter's module for `go build`.
package tools

import _ "github.com/prometheus-community/postgres_exporter/cmd/postgres_exporter"
