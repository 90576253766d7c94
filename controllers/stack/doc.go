// Package stack holds the stack controller, Canopy's meta-controller: it turns one Stack into a
// Database, a Frontend and a BackupPolicy, orders their rollout and upgrades, and aggregates their
// statuses into one truthful Stack status.
package stack
