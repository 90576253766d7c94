package agent

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// defaultRegion is the S3 region when --s3-region is empty, as in the BackupPolicy's default.
const defaultRegion = "us-east-1"

// Options are the parsed flags and environment of one agent run.
type Options struct {
	// Operation is OperationBackup or OperationRestore.
	Operation string
	// WorkDir holds dump.pgc: read by backup, written by restore.
	WorkDir string
	// Name of the backup; empty for a backup means DefaultName.
	Name string
	// Stack whose backups these are; the folder under the destination's root.
	Stack string
	// DatabaseVersion and AppVersion are recorded in the manifest of a backup.
	DatabaseVersion string
	AppVersion      string
	// VolumePath is the root of a volume destination; empty for S3.
	VolumePath string
	// S3 is the S3 destination; nil for a volume.
	S3 *S3Options
	// Retention applied after a backup.
	Retention Retention
	// Keep names backups that retention never deletes, whatever the policy (--keep, repeatable).
	Keep []string
	// TerminationLog receives the Result.
	TerminationLog string
	// EncryptionKeyDir is the mounted encryption Secret (one file per key); empty: none.
	EncryptionKeyDir string
	// EncryptionKeyID encrypts a backup with that key of EncryptionKeyDir; empty: unencrypted.
	EncryptionKeyID string
}

// S3Options say how to reach an S3-compatible bucket.
type S3Options struct {
	// Endpoint is an http:// or https:// URL without a path.
	Endpoint string
	Bucket   string
	// Prefix is the key prefix without leading or trailing '/'; may be empty.
	Prefix string
	Region string
	// PathStyle addresses the bucket as endpoint/bucket rather than bucket.endpoint.
	PathStyle bool
	// AccessKeyID and SecretAccessKey come from the environment, never from flags (flags show
	// in the pod spec and in process listings).
	AccessKeyID     string
	SecretAccessKey string
}

// String keeps the secret out of any log line that prints the options.
func (o S3Options) String() string {
	return fmt.Sprintf("{endpoint:%s bucket:%s prefix:%s region:%s pathStyle:%t}",
		o.Endpoint, o.Bucket, o.Prefix, o.Region, o.PathStyle)
}

// ParseOptions reads the flags (contract.go) of operation from args and the S3 credentials from
// getenv. Errors carry ReasonInvalidArguments. The returned Options hold the termination log path
// even on error, so that the failure can still be reported where the controller looks.
func ParseOptions(operation string, args []string, getenv func(string) string) (Options, error) {
	o := Options{Operation: operation, TerminationLog: scanTerminationLog(args)}
	scanned := o.TerminationLog
	if operation != OperationBackup && operation != OperationRestore && operation != OperationPurge {
		return o, fail(ReasonInvalidArguments, "unknown operation %q: want %s, %s or %s", operation, OperationBackup, OperationRestore, OperationPurge)
	}

	fs := flag.NewFlagSet("canopy agent "+operation, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error goes into the Result; usage is printed by Main
	var (
		s3        S3Options
		keepLast  int
		maxAge    string
		pathStyle = true // the BackupPolicy's default
	)
	// Both operations accept every flag of the contract, so that Job builders may share their
	// destination arguments; restore ignores the ones that only concern a new backup.
	fs.StringVar(&o.WorkDir, flagName(FlagWorkDir), WorkDir, "folder of "+DumpFile)
	fs.StringVar(&o.Name, flagName(FlagName), "", "backup name (backup: default <stack>-YYYYMMDD-HHMMSS in UTC; restore: required)")
	fs.StringVar(&o.Stack, flagName(FlagStack), "", "stack whose backups these are (required)")
	fs.StringVar(&o.DatabaseVersion, flagName(FlagDatabaseVersion), "", "PostgreSQL version, recorded in the manifest")
	fs.StringVar(&o.AppVersion, flagName(FlagAppVersion), "", "application version, recorded in the manifest")
	fs.StringVar(&o.VolumePath, flagName(FlagVolumePath), "", "root folder of a volume destination")
	fs.StringVar(&s3.Endpoint, flagName(FlagS3Endpoint), "", "S3 endpoint URL, http(s)://host[:port]")
	fs.StringVar(&s3.Bucket, flagName(FlagS3Bucket), "", "S3 bucket")
	fs.StringVar(&s3.Prefix, flagName(FlagS3Prefix), "", "S3 key prefix")
	fs.StringVar(&s3.Region, flagName(FlagS3Region), "", "S3 region (default "+defaultRegion+")")
	fs.BoolVar(&pathStyle, flagName(FlagS3PathStyle), true, "path-style S3 addressing")
	fs.IntVar(&keepLast, flagName(FlagKeepLast), 0, "keep at most this many backups (0: no limit)")
	fs.StringVar(&maxAge, flagName(FlagMaxAge), "", "delete backups older than this Go duration (empty: no limit)")
	fs.Func(flagName(FlagKeep), "a backup retention must not delete (repeatable)", func(v string) error {
		if !validSegment(v) {
			return fmt.Errorf("%q: %s", v, segmentRule)
		}
		o.Keep = append(o.Keep, v)
		return nil
	})
	fs.StringVar(&o.TerminationLog, flagName(FlagTerminationLog), TerminationLog, "file that receives the result")
	fs.StringVar(&o.EncryptionKeyDir, flagName(FlagEncryptionKeyDir), "", "folder of the encryption keys, one file per key id")
	fs.StringVar(&o.EncryptionKeyID, flagName(FlagEncryptionKeyID), "", "backup: encrypt with this key id")
	if err := fs.Parse(args); err != nil {
		o.TerminationLog = scanned // parsing stops at the error, maybe before --termination-log
		return o, fail(ReasonInvalidArguments, "%v", err)
	}
	if fs.NArg() > 0 {
		return o, fail(ReasonInvalidArguments, "unexpected argument %q: every option is a flag such as %s=VALUE", fs.Arg(0), FlagName)
	}

	switch {
	case o.Stack == "":
		return o, fail(ReasonInvalidArguments, "%s is required", FlagStack)
	case !validSegment(o.Stack):
		return o, fail(ReasonInvalidArguments, "%s=%q: %s", FlagStack, o.Stack, segmentRule)
	case o.Name == "" && operation == OperationRestore:
		return o, fail(ReasonInvalidArguments, "%s is required: the backup to restore", FlagName)
	case o.Name != "" && !validSegment(o.Name):
		return o, fail(ReasonInvalidArguments, "%s=%q: %s", FlagName, o.Name, segmentRule)
	case o.WorkDir == "":
		return o, fail(ReasonInvalidArguments, "%s must not be empty", FlagWorkDir)
	case o.EncryptionKeyID != "" && !validKeyID(o.EncryptionKeyID):
		return o, fail(ReasonInvalidArguments, "%s=%q: %s", FlagEncryptionKeyID, o.EncryptionKeyID, keyIDRule)
	case o.EncryptionKeyID != "" && o.EncryptionKeyDir == "":
		return o, fail(ReasonInvalidArguments, "%s needs %s, the folder the key is read from", FlagEncryptionKeyID, FlagEncryptionKeyDir)
	case keepLast < 0:
		return o, fail(ReasonInvalidArguments, "%s=%d: must be 0 (no limit) or more", FlagKeepLast, keepLast)
	}
	o.Retention.KeepLast = keepLast
	if maxAge != "" {
		d, err := time.ParseDuration(maxAge)
		if err != nil || d <= 0 {
			return o, fail(ReasonInvalidArguments, "%s=%q: must be a positive Go duration such as 720h", FlagMaxAge, maxAge)
		}
		o.Retention.MaxAge = d
	}

	s3.PathStyle = pathStyle
	useS3 := s3.Endpoint != "" || s3.Bucket != ""
	switch {
	case useS3 && o.VolumePath != "":
		return o, fail(ReasonInvalidArguments, "give either %s or the %s flags, not both", FlagVolumePath, "--s3-*")
	case !useS3 && o.VolumePath == "":
		return o, fail(ReasonInvalidArguments, "no destination: give %s, or %s and %s", FlagVolumePath, FlagS3Endpoint, FlagS3Bucket)
	case useS3:
		if err := completeS3(&s3, getenv); err != nil {
			return o, err
		}
		o.S3 = &s3
	}
	return o, nil
}

const segmentRule = "must be 1 to 255 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"

// completeS3 checks the S3 flags, applies defaults and reads the credentials.
func completeS3(s *S3Options, getenv func(string) string) error {
	if s.Endpoint == "" || s.Bucket == "" {
		return fail(ReasonInvalidArguments, "an S3 destination needs both %s and %s", FlagS3Endpoint, FlagS3Bucket)
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return fail(ReasonInvalidArguments, "%s=%q: must be an http:// or https:// URL such as https://s3.eu-west-1.amazonaws.com", FlagS3Endpoint, s.Endpoint)
	}
	if u.Path != "" && u.Path != "/" {
		// The S3 client addresses buckets at the endpoint's root; a path would be silently ignored.
		return fail(ReasonInvalidArguments, "%s=%q: must not have a path; name the bucket in %s and use %s for a folder", FlagS3Endpoint, s.Endpoint,
			FlagS3Bucket, FlagS3Prefix)
	}
	var parts []string
	for p := range strings.SplitSeq(s.Prefix, "/") {
		switch p {
		case "":
		case ".", "..":
			return fail(ReasonInvalidArguments, "%s=%q: must not contain '.' or '..' segments", FlagS3Prefix, s.Prefix)
		default:
			parts = append(parts, p)
		}
	}
	s.Prefix = strings.Join(parts, "/")
	if s.Region == "" {
		s.Region = defaultRegion
	}
	s.AccessKeyID, s.SecretAccessKey = getenv(EnvAccessKeyID), getenv(EnvSecretAccessKey)
	if s.AccessKeyID == "" || s.SecretAccessKey == "" {
		return fail(ReasonInvalidArguments, "S3 credentials missing: set %s and %s (from the destination's credentials Secret, keys %s and %s)",
			EnvAccessKeyID, EnvSecretAccessKey, SecretKeyAccessKeyID, SecretKeySecretAccessKey)
	}
	return nil
}

// flagName is the name the flag package knows a contract flag by.
func flagName(f string) string { return strings.TrimPrefix(f, "--") }

// scanTerminationLog finds --termination-log in args without parsing the rest, so that even a
// parse failure is reported in the right file.
func scanTerminationLog(args []string) string {
	p := TerminationLog
	for i, a := range args {
		a = "--" + strings.TrimLeft(a, "-")
		if v, ok := strings.CutPrefix(a, FlagTerminationLog+"="); ok {
			p = v
		} else if a == FlagTerminationLog && i+1 < len(args) {
			p = args[i+1]
		}
	}
	return p
}
