package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"unicode/utf8"
)

// MaxResultBytes is what Kubernetes keeps of a termination message.
const MaxResultBytes = 4096

// EncodeResult is r as one line of JSON, newline included, of at most MaxResultBytes: when r is
// longer, the list of deleted backups and then the message are shortened (saying so), never the
// fields that identify the backup.
func EncodeResult(r Result) []byte {
	b := encodeLine(r)
	if len(b) <= MaxResultBytes {
		return b
	}
	if all := r.Deleted; len(all) > 0 {
		// The longest tail of the list that fits (the newest deletions: the ones a catalogue of
		// recent backups still lists), by bisection, with a note of how many are left out.
		base := r.Message
		withHead := func(keep int) Result {
			r.Deleted = all[len(all)-keep:]
			r.Message = strings.TrimSpace(fmt.Sprintf("%s (retention deleted %d more backups, not listed here)", base, len(all)-keep))
			return r
		}
		keep := sort.Search(len(all), func(keep int) bool { return len(encodeLine(withHead(keep))) > MaxResultBytes }) - 1
		if keep >= 0 {
			return encodeLine(withHead(keep))
		}
		r = withHead(0)
	}
	// The longest prefix of the message (whole runes) that fits, found by bisection: how much a
	// byte costs once escaped for JSON varies.
	msg := r.Message
	fits := func(n int) bool {
		r.Message = cutMessage(msg, n)
		return len(encodeLine(r)) <= MaxResultBytes
	}
	n := sort.Search(len(msg)+1, func(n int) bool { return !fits(n) }) - 1
	r.Message = ""
	if n >= 0 {
		r.Message = cutMessage(msg, n)
	}
	return encodeLine(r)
}

// cutMessage is the first n bytes of msg, backed off to a rune boundary, marked as cut.
func cutMessage(msg string, n int) string {
	if n >= len(msg) {
		return msg
	}
	for n > 0 && !utf8.RuneStart(msg[n]) {
		n--
	}
	return msg[:n] + "…"
}

func encodeLine(r Result) []byte {
	b, _ := json.Marshal(r) // a Result always encodes; json escapes newlines, so this is one line
	return append(b, '\n')
}

// redact removes secret from r's message: a server or library could echo a credential back.
func redact(r Result, secret string) Result {
	if secret != "" {
		r.Message = strings.ReplaceAll(r.Message, secret, "[redacted]")
	}
	return r
}

// writeResult writes the encoded Result to path (the termination log). The kubelet creates the
// file and reads it as root, so the agent's own user needs no more than 0600 on a file it creates.
func writeResult(path string, line []byte) error {
	return os.WriteFile(path, line, 0o600)
}
