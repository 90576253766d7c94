package plugin

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
)

// errTimeout ends a --wait that ran out of time or was interrupted; the caller says what is still
// running and how to look at it later.
type errTimeout struct {
	what, next string
	// bound names the limit that ran out; "" is the --timeout.
	bound string
	// interrupted: the user stopped the command (Ctrl-C) before the bound.
	interrupted bool
}

func (e errTimeout) Error() string {
	if e.interrupted {
		return fmt.Sprintf("interrupted while %s was still running; %s", e.what, e.next)
	}
	bound := e.bound
	if bound == "" {
		bound = "the --timeout"
	}
	return fmt.Sprintf("%s is still running after %s; %s", e.what, bound, e.next)
}

// readTimeout bounds one read of a --wait: far more than an API server takes to answer.
const readTimeout = 30 * time.Second

// follow reads the cluster every Poll until check reports done or fails, printing each new
// progress line for a person (nothing with -o json|yaml, whose output is the final result). The
// plugin is a client run by hand for minutes at most, so it reads again rather than keeping a
// watch open: a lost watch would need the same fallback.
func (o *Options) follow(ctx context.Context, timeout time.Duration, onTimeout errTimeout,
	check func(ctx context.Context) (line string, done bool, err error)) error {
	// The bound is a timer, not a deadline on ctx: client-go's rate limiter fails a read that
	// would end after a deadline, which would be reported as a read error rather than the timeout.
	// Each read has a bound of its own, so that a stalled connection does not hang the command.
	bound := time.NewTimer(timeout)
	defer bound.Stop()
	last := ""
	for {
		readCtx, cancel := context.WithTimeout(ctx, readTimeout)
		line, done, err := check(readCtx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				onTimeout.interrupted = true
				return onTimeout
			}
			return err
		}
		if line != "" && line != last && o.Output == "" {
			fmt.Fprintf(o.Out, "  %s\n", line)
			last = line
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			onTimeout.interrupted = true
			return onTimeout
		case <-bound.C:
			return onTimeout
		case <-time.After(o.Poll):
		}
	}
}

// patchStack applies change to the Stack with a merge patch of the difference: only the fields
// the command sets are sent, so it never undoes a concurrent edit of another field.
func (s *session) patchStack(ctx context.Context, st *canopyv1alpha1.Stack, change func(*canopyv1alpha1.Stack)) error {
	base := st.DeepCopy()
	change(st)
	if err := s.c.Patch(ctx, st, client.MergeFrom(base)); err != nil {
		return fmt.Errorf("changing Stack %s/%s: %w", st.Namespace, st.Name, err)
	}
	return nil
}

// say prints a line for a person; -o json|yaml prints only the result.
func (o *Options) say(format string, args ...any) {
	if o.Output == "" {
		fmt.Fprintf(o.Out, format+"\n", args...)
	}
}

// token is a new request value for an annotation or a restore id: unique per call, and
// readable as the time of the request.
func (o *Options) token() string {
	return fmt.Sprintf("kc-%d", o.Now().UnixMilli())
}
