// Package harness holds what the clusters of both end-to-end tiers (e2e/cluster, simulated, and
// e2e/real/cluster, real pods) need alike: programs run as processes with their logs, a lock that
// keeps a second run off what a run uses, and a provisioner for the default StorageClass.
package harness
