// Package backuppolicy holds the backup controller: it turns a BackupPolicy into scheduled and
// on-demand backup Jobs and keeps the catalogue of backups in its status.
package backuppolicy
