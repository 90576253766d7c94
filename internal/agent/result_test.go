package agent

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func decodeLine(t *testing.T, b []byte) Result {
	t.Helper()
	require.LessOrEqual(t, len(b), MaxResultBytes)
	require.True(t, strings.HasSuffix(string(b), "\n"))
	require.Equal(t, 1, strings.Count(string(b), "\n"), "one line")
	var r Result
	require.NoError(t, json.Unmarshal(b, &r))
	return r
}

func TestEncodeResultKeepsSmallResults(t *testing.T) {
	r := Result{Operation: OperationBackup, Succeeded: true, Name: "shop-20250101-000000", SizeBytes: 123,
		SHA256: strings.Repeat("ab", 32), Location: "s3://b/p/shop/shop-20250101-000000/dump.pgc",
		StartTime: t0, CompletionTime: t0.Add(time.Minute), Deleted: []string{"a", "b"}, Message: "multi\nline"}
	require.Equal(t, r, decodeLine(t, EncodeResult(r)))

	// Zero times and empty fields are left out.
	require.Equal(t, `{"operation":"restore","succeeded":false,"reason":"NotFound"}`+"\n",
		string(EncodeResult(Result{Operation: OperationRestore, Reason: ReasonNotFound})))
}

func TestEncodeResultFitsTheTerminationMessage(t *testing.T) {
	long := strings.Repeat("x", 300)
	var deleted []string
	for i := range 1000 {
		deleted = append(deleted, fmt.Sprintf("%s-%04d", long[:200], i))
	}
	base := Result{Operation: OperationBackup, Name: "shop-1", Location: "s3://bucket/" + long + "/dump.pgc", SHA256: strings.Repeat("0", 64)}
	messages := map[string]string{
		"ascii":      strings.Repeat("m", 10000),
		"escaped":    strings.Repeat("\x00<>&\"\\\n", 2000), // each byte costs up to 6 in JSON
		"multi-byte": strings.Repeat("é✓😀", 3000),
	}
	for name, msg := range messages {
		t.Run(name, func(t *testing.T) {
			r := base
			r.Message = msg
			got := decodeLine(t, EncodeResult(r))
			require.Equal(t, r.Name, got.Name)
			require.Equal(t, r.Location, got.Location)
			require.NotEmpty(t, got.Message)
			require.True(t, strings.HasSuffix(got.Message, "…"), "says it was cut")
			require.True(t, strings.HasPrefix(msg, strings.TrimSuffix(got.Message, "…")), "a prefix of the original, whole runes")
		})
	}
	t.Run("many deleted", func(t *testing.T) {
		r := base
		r.Succeeded = true
		r.Deleted = deleted
		got := decodeLine(t, EncodeResult(r))
		require.NotEmpty(t, got.Deleted)
		require.Equal(t, deleted[len(deleted)-len(got.Deleted):], got.Deleted, "the newest deletions are kept: a catalogue of recent backups lists them")
		require.Contains(t, got.Message, fmt.Sprintf("retention deleted %d more backups", len(deleted)-len(got.Deleted)))
	})
	t.Run("many deleted and a long message", func(t *testing.T) {
		r := base
		r.Deleted = deleted
		r.Message = strings.Repeat("m", 5000)
		decodeLine(t, EncodeResult(r))
	})
}

func TestRedact(t *testing.T) {
	r := redact(Result{Message: "signed with s3cr3t and s3cr3t again"}, "s3cr3t")
	require.Equal(t, "signed with [redacted] and [redacted] again", r.Message)
	require.Equal(t, "unchanged", redact(Result{Message: "unchanged"}, "").Message)
}
