// Package agent is Canopy's backup agent: a subcommand of the canopy binary ("canopy agent backup",
// "canopy agent restore") that runs inside backup and restore Jobs, beside PostgreSQL's own
// pg_dump and pg_restore. This file is the contract between the Jobs the backup controller builds,
// the agent, and the controller that reads the agent's results.
package agent

import "time"

// Paths and names shared by the Job builders and the agent.
const (
	// WorkDir is the emptyDir shared by pg_dump / pg_restore and the agent.
	WorkDir = "/work"
	// DumpFile is the custom-format dump inside WorkDir (and inside each backup at the destination).
	DumpFile = "dump.pgc"
	// ManifestFile describes one backup at the destination. It is written last: a backup without a
	// manifest (an interrupted upload) does not exist for listing, restore or retention.
	ManifestFile = "manifest.json"
	// VolumeMount is where a volume destination is mounted in the agent's container.
	VolumeMount = "/backups"
	// TerminationLog is where the agent writes its Result (the container's terminationMessagePath).
	TerminationLog = "/dev/termination-log"

	// EnvAccessKeyID and EnvSecretAccessKey carry S3 credentials from the destination's Secret.
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY" //nolint:gosec // G101: the name of a variable, not a credential
	// SecretKeyAccessKeyID and SecretKeySecretAccessKey are the keys of that Secret.
	SecretKeyAccessKeyID     = "accessKeyID"
	SecretKeySecretAccessKey = "secretAccessKey" //nolint:gosec // G101: the name of a Secret key, not a credential

	// EncryptionKeyMount is where the destination's encryption Secret is mounted, read-only, in
	// the agent's container: one file per key, named by the key's id.
	EncryptionKeyMount = "/etc/canopy/backup-keys"

	// WrittenBy marks manifests Canopy wrote; retention never touches anything else.
	WrittenBy = "canopy"
	// ManifestFormat is the manifest's format version of an unencrypted backup.
	ManifestFormat = 1
	// ManifestFormatEncrypted is the format of an encrypted backup's manifest: an agent that
	// knows only format 1 (older than encryption) ignores such a backup rather than restore its
	// ciphertext.
	ManifestFormatEncrypted = 2
)

// Layout at a destination: <prefix>/<stack>/<backup name>/{dump.pgc,manifest.json}; the prefix is
// the S3 prefix or the volume's root.

// Manifest is stored beside each dump.
type Manifest struct {
	Format          int       `json:"format"`
	WrittenBy       string    `json:"writtenBy"`
	Stack           string    `json:"stack"`
	Name            string    `json:"name"`
	DatabaseVersion string    `json:"databaseVersion"`
	AppVersion      string    `json:"appVersion"`
	StartTime       time.Time `json:"startTime"`
	CompletionTime  time.Time `json:"completionTime"`
	// SizeBytes and SHA256 are those of the stored dump.pgc: for an encrypted backup, of the
	// encrypted file, so that `sha256sum dump.pgc` checks what is stored.
	SizeBytes int64  `json:"sizeBytes"`
	SHA256    string `json:"sha256"`
	// Encryption is set on an encrypted backup (format 2).
	Encryption *ManifestEncryption `json:"encryption,omitempty"`
}

// ManifestEncryption says how a backup's dump is encrypted: never the key, only its id in the
// destination's encryption Secret.
type ManifestEncryption struct {
	// Scheme is EncryptionScheme.
	Scheme string `json:"scheme"`
	// KeyID is the key of the encryption Secret that encrypted the dump.
	KeyID string `json:"keyID"`
}

// Operations.
const (
	OperationBackup  = "backup"
	OperationRestore = "restore"
	// OperationPurge deletes every backup of a stack (dataRetention.backups: Delete).
	OperationPurge = "purge"
)

// Result is what the agent writes, as one line of JSON, to TerminationLog (Kubernetes keeps at most
// 4096 bytes of it): the controller reads backups and failures from it.
type Result struct {
	Operation       string    `json:"operation"`
	Succeeded       bool      `json:"succeeded"`
	Name            string    `json:"name,omitempty"`
	Reason          string    `json:"reason,omitempty"` // CamelCase cause of a failure
	Message         string    `json:"message,omitempty"`
	SizeBytes       int64     `json:"sizeBytes,omitempty"`
	SHA256          string    `json:"sha256,omitempty"`
	Location        string    `json:"location,omitempty"`
	DatabaseVersion string    `json:"databaseVersion,omitempty"`
	AppVersion      string    `json:"appVersion,omitempty"`
	StartTime       time.Time `json:"startTime,omitzero"`
	CompletionTime  time.Time `json:"completionTime,omitzero"`
	// Deleted names the backups retention removed.
	Deleted []string `json:"deleted,omitempty"`
	// Encrypted says the backup's dump is encrypted, with the key KeyID of the destination's
	// encryption Secret (its id, never the key).
	Encrypted bool   `json:"encrypted,omitempty"`
	KeyID     string `json:"keyID,omitempty"`
}

// Failure reasons.
const (
	ReasonDumpMissing      = "DumpMissing"
	ReasonUploadFailed     = "UploadFailed"
	ReasonUnauthorized     = "Unauthorized"
	ReasonNotFound         = "NotFound"
	ReasonChecksumMismatch = "ChecksumMismatch"
	ReasonRetentionFailed  = "RetentionFailed"
	ReasonInvalidArguments = "InvalidArguments"
	// ReasonEncryptionKeyMissing: the key a backup is to be encrypted with, or an encrypted
	// backup names, is not in the encryption Secret, or is not a 256-bit key.
	ReasonEncryptionKeyMissing = "EncryptionKeyMissing"
	// ReasonWrongEncryptionKey: the Secret's key of the id an encrypted backup names is not the
	// key it was encrypted with (the key was replaced rather than added under a new id).
	ReasonWrongEncryptionKey = "WrongEncryptionKey"
)

// Flags of "canopy agent backup" and "canopy agent restore", as the Job builders write them.
const (
	FlagWorkDir         = "--work-dir"
	FlagName            = "--name"
	FlagStack           = "--stack"
	FlagDatabaseVersion = "--database-version"
	FlagAppVersion      = "--app-version"
	FlagVolumePath      = "--volume-path"
	FlagS3Endpoint      = "--s3-endpoint"
	FlagS3Bucket        = "--s3-bucket"
	FlagS3Prefix        = "--s3-prefix"
	FlagS3Region        = "--s3-region"
	FlagS3PathStyle     = "--s3-path-style"
	FlagKeepLast        = "--keep-last"
	FlagMaxAge          = "--max-age"
	// FlagKeep names a backup that retention must not delete (repeatable): one that a data
	// operation in flight reads or may have to go back to.
	FlagKeep           = "--keep"
	FlagTerminationLog = "--termination-log"
	// FlagEncryptionKeyDir is the folder of the mounted encryption Secret; a restore reads the
	// key an encrypted backup names from it.
	FlagEncryptionKeyDir = "--encryption-key-dir"
	// FlagEncryptionKeyID makes a backup encrypted, with that key of FlagEncryptionKeyDir.
	FlagEncryptionKeyID = "--encryption-key-id"
)
