package agent

import (
	"path"
	"regexp"
	"strings"
	"time"
)

// nameTimeLayout is the UTC timestamp that ends the names of scheduled backups: it sorts the
// backups of one stack in time order and is safe in paths, object keys and Kubernetes fields.
const nameTimeLayout = "20060102-150405"

// maxSegment bounds stack and backup names: each is one path segment at the destination, and
// common filesystems allow 255 bytes per segment.
const maxSegment = 255

// segmentPattern is what a stack or backup name may look like: it becomes a folder at the
// destination, so it must not contain '/' nor be "." or "..", and it must start and end with a
// letter or digit so that the folder is not hidden and trims nothing.
var segmentPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$`)

// DefaultName names a backup taken without --name (the scheduled ones): "<stack>-YYYYMMDD-HHMMSS"
// of t in UTC.
//
// The stack's storage key may carry its namespace ("prod.shop"); the name uses only the Stack's
// own name, which users recognise.
func DefaultName(stack string, t time.Time) string {
	if i := strings.LastIndex(stack, "."); i >= 0 {
		stack = stack[i+1:]
	}
	return stack + "-" + t.UTC().Format(nameTimeLayout)
}

// validSegment reports whether s can be a stack or backup name.
func validSegment(s string) bool {
	return len(s) <= maxSegment && segmentPattern.MatchString(s)
}

// Keys at a destination, relative to its root (the volume path or the S3 prefix):
// <stack>/<name>/{dump.pgc,manifest.json}.

func stackKey(stack string) string          { return stack + "/" }
func backupKey(stack, name string) string   { return path.Join(stack, name) + "/" }
func dumpKey(stack, name string) string     { return path.Join(stack, name, DumpFile) }
func manifestKey(stack, name string) string { return path.Join(stack, name, ManifestFile) }
