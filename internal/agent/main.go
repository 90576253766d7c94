package agent

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Exit codes of "canopy agent".
const (
	ExitOK     = 0
	ExitFailed = 1 // the operation failed; the Result says why
	ExitUsage  = 2 // the arguments are wrong; the Result says why (Reason InvalidArguments)
)

// Main runs "canopy agent <operation> [flags]" with args starting at the operation. It writes the
// Result as one JSON line to the termination log and to stdout, a human summary to stderr, and
// returns the exit code. getenv supplies the S3 credentials.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	op := args[0]
	o, err := ParseOptions(op, args[1:], getenv)
	if err != nil {
		res := failed(Result{Operation: op}, err, ReasonInvalidArguments)
		report(o, redact(res, getenv(EnvSecretAccessKey)), stdout, stderr)
		usage(stderr)
		return ExitUsage
	}
	store, err := OpenStore(o)
	if err != nil {
		res := failed(Result{Operation: op}, err, ReasonInvalidArguments)
		report(o, redact(res, getenv(EnvSecretAccessKey)), stdout, stderr)
		return ExitUsage
	}

	var res Result
	switch op {
	case OperationBackup:
		res = Backup(ctx, store, o, time.Now)
	case OperationRestore:
		res = Restore(ctx, store, o, time.Now)
	case OperationPurge:
		res = Purge(ctx, store, o, time.Now)
	}
	if o.S3 != nil {
		res = redact(res, o.S3.SecretAccessKey)
	}
	if !report(o, res, stdout, stderr) {
		return ExitFailed
	}
	if !res.Succeeded {
		return ExitFailed
	}
	return ExitOK
}

// report writes the Result where the controller reads it and where people look; it returns false
// when the termination log could not be written, which fails the run even if the operation worked,
// since the controller would not learn of it.
func report(o Options, res Result, stdout, stderr io.Writer) bool {
	line := EncodeResult(res)
	_, _ = stdout.Write(line)
	switch {
	case res.Succeeded && res.Operation == OperationBackup:
		encrypted := ""
		if res.Encrypted {
			encrypted = fmt.Sprintf(", encrypted with key %q", res.KeyID)
		}
		fmt.Fprintf(stderr, "canopy agent: stored backup %s (%d bytes, sha256 %s%s) at %s\n", res.Name, res.SizeBytes, res.SHA256, encrypted, res.Location)
		if len(res.Deleted) > 0 {
			fmt.Fprintf(stderr, "canopy agent: retention deleted %d backups: %v\n", len(res.Deleted), res.Deleted)
		}
	case res.Succeeded && res.Operation == OperationPurge:
		fmt.Fprintf(stderr, "canopy agent: %s: %v\n", res.Message, res.Deleted)
	case res.Succeeded:
		fmt.Fprintf(stderr, "canopy agent: %s\n", restoreSummary(res))
	default:
		fmt.Fprintf(stderr, "canopy agent: %s failed (%s): %s\n", res.Operation, res.Reason, res.Message)
	}
	if o.TerminationLog == "" {
		return true
	}
	if err := writeResult(o.TerminationLog, line); err != nil {
		fmt.Fprintf(stderr, "canopy agent: cannot write the result to %s: %v\n", o.TerminationLog, err)
		return false
	}
	return true
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: canopy agent backup|restore|purge [flags]

Runs in Canopy's backup and restore Jobs.

  backup    stores <work-dir>/dump.pgc (written by pg_dump --format=custom) as a backup with its
            manifest, then applies the retention policy
  restore   fetches a backup into <work-dir>/dump.pgc and checks it against its manifest
  purge     deletes every backup of --stack at the destination (a Stack deleted with
            dataRetention.backups: Delete); nothing else is touched

Flags:
  --work-dir=DIR                 folder of dump.pgc (default /work)
  --stack=NAME                   stack whose backups these are (required)
  --name=NAME                    backup name; backup: default <stack>-YYYYMMDD-HHMMSS (UTC);
                                 restore: required
  --volume-path=DIR              a volume destination: its root folder
  --s3-endpoint=URL              an S3 destination: http(s)://host[:port], with
  --s3-bucket=NAME               the bucket,
  --s3-prefix=PREFIX             a key prefix (optional),
  --s3-region=REGION             the region (default us-east-1) and
  --s3-path-style=true|false     path-style addressing (default true); the credentials come
                                 from $AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY
  --keep-last=N                  backup: keep at most N backups (default 0: no limit)
  --max-age=DURATION             backup: delete backups older than this, such as 720h
  --keep=NAME                    backup: never delete this backup (repeatable): one a data
                                 operation in flight reads or may have to go back to
  --database-version=VERSION     backup: recorded in the manifest
  --app-version=VERSION          backup: recorded in the manifest
  --encryption-key-dir=DIR       the encryption keys, one file per key named by its id (the
                                 mounted encryption Secret); restore decrypts an encrypted
                                 backup with the key its manifest names
  --encryption-key-id=ID         backup: encrypt with this key of --encryption-key-dir
                                 (AES-256-GCM in authenticated 64 KiB chunks)
  --termination-log=FILE         where the result goes (default /dev/termination-log)

Backups live at <root>/<stack>/<name>/{dump.pgc,manifest.json}. Retention never deletes the
newest backup, a backup named by --keep, nor anything without a manifest written by Canopy.
`)
}
