package agent

import (
	"errors"
	"fmt"
)

// ReasonDownloadFailed reports a restore that could not fetch or write a backup for a cause other
// than a missing backup, refused credentials or a checksum mismatch (an unreachable endpoint, a
// full disk). It is not in contract.go's list yet; the controller treats reasons as opaque text.
const ReasonDownloadFailed = "DownloadFailed"

// failure is an error that carries the Result's Reason and a message meant for the user.
type failure struct {
	reason  string
	message string
}

func (f *failure) Error() string { return f.reason + ": " + f.message }

// fail builds a failure whose message is the formatted text.
func fail(reason, format string, args ...any) error {
	return &failure{reason: reason, message: fmt.Sprintf(format, args...)}
}

// reasonOf returns the reason an error carries, or fallback when it carries none.
func reasonOf(err error, fallback string) string {
	var f *failure
	if errors.As(err, &f) {
		return f.reason
	}
	return fallback
}

// messageOf returns the user-facing message of an error.
func messageOf(err error) string {
	var f *failure
	if errors.As(err, &f) {
		return f.message
	}
	return err.Error()
}

// storeFailure turns a Store error into a failure: refused credentials keep their own reason so that
// the user looks at the Secret rather than at the network; everything else gets the operation's
// reason (UploadFailed, DownloadFailed).
func storeFailure(err error, reason, format string, args ...any) error {
	if errors.Is(err, ErrUnauthorized) {
		reason = ReasonUnauthorized
	}
	return fail(reason, "%s: %v", fmt.Sprintf(format, args...), err)
}
