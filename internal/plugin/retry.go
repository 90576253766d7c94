package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
)

func newRetryUpgradeCommand(o *Options) *cobra.Command {
	var wait bool
	var timeout, cancelTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "retry-upgrade STACK",
		Short: "Try a failed upgrade again: a PostgreSQL major upgrade, or the application version",
		Long: `retry-upgrade starts a failed upgrade again once its cause is fixed.

A failed PostgreSQL major upgrade is retried with the canopy.dev/retry-database-upgrade annotation:
a new attempt with its own backup, on a fresh volume.

A failed application upgrade is not retried for the same spec.version; the operator retries it when
spec.version returns to the serving version (which cancels the failed upgrade) and then asks for
the version again. retry-upgrade does exactly that, waiting for the operator to record the
cancellation in between (at most --cancel-timeout); the new attempt takes its own pre-upgrade backup.`,
		Example: `  kubectl canopy retry-upgrade shop --wait`,
		Args:    stackArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.connect()
			if err != nil {
				return err
			}
			return s.retryUpgrade(cmd.Context(), args[0], retryFlags{wait: wait, timeout: timeout, cancelTimeout: cancelTimeout})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "Follow the new attempt until it succeeds or fails")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "How long --wait follows the new attempt")
	// The cancellation is one reconcile: minutes without it mean no operator is running, and a
	// user should not stare at a silent command for the whole --timeout.
	cmd.Flags().DurationVar(&cancelTimeout, "cancel-timeout", 2*time.Minute,
		"How long to wait for the operator to record the cancellation of a failed application upgrade")
	return cmd
}

type retryFlags struct {
	wait                   bool
	timeout, cancelTimeout time.Duration
}

func (s *session) retryUpgrade(ctx context.Context, name string, f retryFlags) error {
	wait, timeout := f.wait, f.timeout
	st, err := s.stack(ctx, name)
	if err != nil {
		return err
	}
	if d := st.Status.DatabaseUpgrade; d != nil && d.Step == canopyv1alpha1.StepFailed {
		return s.retryDatabaseUpgrade(ctx, st, wait, timeout)
	}
	u := st.Status.Upgrade
	if u == nil || u.Phase != canopyv1alpha1.UpgradeFailed {
		what := "no upgrade has run"
		if u != nil {
			what = fmt.Sprintf("the upgrade to %s is %s", u.ToVersion, u.Phase)
		}
		//nolint:staticcheck // ST1005: the message starts with the kind name on purpose: users read "Stack shop/x ..."
		return fmt.Errorf("Stack %s/%s has no failed upgrade to retry (%s): kubectl canopy upgrade %s --version V starts one",
			s.namespace, name, what, name)
	}
	if st.Spec.Version != u.ToVersion {
		//nolint:staticcheck // ST1005: the message starts with the kind name on purpose: users read "Stack shop/x ..."
		return fmt.Errorf("Stack %s/%s now asks for %s, not the failed %s: kubectl canopy status %s shows that upgrade",
			s.namespace, name, st.Spec.Version, u.ToVersion, name)
	}
	target, serving := u.ToVersion, st.Status.Version
	res := &UpgradeResult{Namespace: s.namespace, Stack: name, Kind: "Upgrade", From: serving, To: target, Phase: "Requested"}

	// Step 1: back to the serving version, which the operator records as Cancelled.
	if err := s.patchStack(ctx, st, func(st *canopyv1alpha1.Stack) { st.Spec.Version = serving }); err != nil {
		return err
	}
	s.say("Cancelling the failed upgrade of Stack %s/%s to %s (spec.version back to %s)...", s.namespace, name, target, serving)
	onTimeout := errTimeout{what: "the cancellation of the failed upgrade to " + target, bound: "the --cancel-timeout",
		next: fmt.Sprintf("spec.version is %s, the serving version. To finish: is the operator running? Once kubectl canopy status %s "+
			"shows the upgrade Cancelled, kubectl canopy upgrade %s --version %s tries %s again", serving, name, name, target, target)}
	err = s.follow(ctx, f.cancelTimeout, onTimeout,
		func(ctx context.Context) (string, bool, error) {
			if err := s.c.Get(ctx, client.ObjectKeyFromObject(st), st); err != nil {
				return "", false, fmt.Errorf("reading Stack %s/%s: %w", s.namespace, name, err)
			}
			u := st.Status.Upgrade
			return "", st.Status.ObservedGeneration >= st.Generation && u != nil && u.Phase == "Cancelled", nil
		})
	if err != nil {
		return err
	}
	// Step 2: the failed version again, a new upgrade with its own backup.
	if err := s.patchStack(ctx, st, func(st *canopyv1alpha1.Stack) { st.Spec.Version = target }); err != nil {
		return err
	}
	s.say("Stack %s/%s upgrades to %s again.", s.namespace, name, target)
	if !wait {
		_, err := s.printData(res)
		return err
	}
	if err := s.followUpgrade(ctx, st, res, timeout); err != nil {
		return err
	}
	if done, err := s.printData(res); done {
		return err
	}
	s.say("Stack %s/%s serves version %s.", s.namespace, name, target)
	return nil
}

// retryDatabaseUpgrade gives canopy.dev/retry-database-upgrade a new value: the stack controller
// starts a new major-upgrade attempt with a new backup.
func (s *session) retryDatabaseUpgrade(ctx context.Context, st *canopyv1alpha1.Stack, wait bool, timeout time.Duration) error {
	d := st.Status.DatabaseUpgrade
	res := &UpgradeResult{Namespace: s.namespace, Stack: st.Name, Kind: "DatabaseUpgrade", From: d.FromVersion, To: d.ToVersion, Phase: "Requested"}
	token := s.token()
	if err := s.patchStack(ctx, st, func(st *canopyv1alpha1.Stack) {
		if st.Annotations == nil {
			st.Annotations = map[string]string{}
		}
		st.Annotations[canopyv1alpha1.AnnotationRetryDatabaseUpgrade] = token
	}); err != nil {
		return err
	}
	s.say("Stack %s/%s retries the PostgreSQL upgrade %s → %s (%s=%s).", s.namespace, st.Name, d.FromVersion, d.ToVersion,
		canopyv1alpha1.AnnotationRetryDatabaseUpgrade, token)
	if !wait {
		_, err := s.printData(res)
		return err
	}
	err := s.follow(ctx, timeout, errTimeout{what: "the PostgreSQL upgrade", next: "kubectl canopy status " + st.Name + " shows its step"},
		func(ctx context.Context) (string, bool, error) {
			if err := s.c.Get(ctx, client.ObjectKeyFromObject(st), st); err != nil {
				return "", false, fmt.Errorf("reading Stack %s/%s: %w", s.namespace, st.Name, err)
			}
			p := st.Status.DatabaseUpgrade
			if p == nil || p.RetryRequest != token {
				return "requested; waiting for the operator to start it", false, nil
			}
			res.Phase, res.Message = string(p.Step), p.Message
			switch p.Step {
			case canopyv1alpha1.StepFailed:
				return "", false, fmt.Errorf("the PostgreSQL upgrade of Stack %s/%s failed again, the old version runs: %s", s.namespace, st.Name, p.Message)
			case canopyv1alpha1.StepSucceeded:
				return "", true, nil
			}
			return string(p.Step), false, nil
		})
	if err != nil {
		return err
	}
	if done, err := s.printData(res); done {
		return err
	}
	s.say("Stack %s/%s runs PostgreSQL %s.", s.namespace, st.Name, d.ToVersion)
	return nil
}
