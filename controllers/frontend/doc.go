// Package frontend holds the frontend controller: it turns a Frontend into the web tier's Deployment,
// Service, Ingress, autoscaler and migration Jobs, and rolls back failed versions.
package frontend
