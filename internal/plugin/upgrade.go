package plugin

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
)

// UpgradeResult is what `upgrade` and `retry-upgrade` report, and their -o json|yaml form.
type UpgradeResult struct {
	Namespace string `json:"namespace"`
	Stack     string `json:"stack"`
	// Kind: Upgrade (the application) or DatabaseUpgrade (a PostgreSQL major version).
	Kind string `json:"kind"`
	From string `json:"from,omitempty"`
	To   string `json:"to"`
	// Phase as the Stack's status reports it; Requested when not followed.
	Phase   string `json:"phase"`
	Message string `json:"message,omitempty"`
}

func newUpgradeCommand(o *Options) *cobra.Command {
	var version string
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "upgrade STACK --version V",
		Short: "Upgrade the application (spec.version): pre-upgrade backup, migration, rollout, rollback on failure",
		Example: `  kubectl canopy upgrade shop --version 1.5.0 --wait
  kubectl canopy upgrade shop --version 1.4.2   # the serving version: cancels an upgrade in flight`,
		Args: stackArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			if version == "" {
				return usagef("upgrade needs --version V, the application's image tag")
			}
			s, err := o.connect()
			if err != nil {
				return err
			}
			return s.upgrade(cmd.Context(), args[0], version, wait, timeout)
		},
	}
	cmd.Flags().StringVar(&version, "version", "", "The application version (image tag) to run")
	cmd.Flags().BoolVar(&wait, "wait", false, "Follow the upgrade until it succeeds, fails or is cancelled")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "How long --wait follows the upgrade")
	return cmd
}

func (s *session) upgrade(ctx context.Context, name, version string, wait bool, timeout time.Duration) error {
	st, err := s.stack(ctx, name)
	if err != nil {
		return err
	}
	res := &UpgradeResult{Namespace: s.namespace, Stack: name, Kind: "Upgrade", From: st.Status.Version, To: version, Phase: "Requested"}
	if st.Spec.Version == version {
		//nolint:staticcheck // ST1005: the message starts with the kind name on purpose: users read "Stack shop/x ..."
		return fmt.Errorf("Stack %s/%s already asks for version %s (serving %s): kubectl canopy status %s shows how far it is; "+
			"retry-upgrade tries a failed version again", s.namespace, name, version, orDash(st.Status.Version), name)
	}
	if err := s.patchStack(ctx, st, func(st *canopyv1alpha1.Stack) { st.Spec.Version = version }); err != nil {
		return err
	}
	if version == st.Status.Version {
		s.say("Stack %s/%s asks for %s again, the version serving: an upgrade in flight is cancelled.", s.namespace, name, version)
	} else {
		s.say("Stack %s/%s upgrades from %s to %s.", s.namespace, name, orDash(st.Status.Version), version)
	}
	if st.Spec.Paused {
		s.say("The Stack is paused: the upgrade starts once it resumes (kubectl canopy resume %s).", name)
	}
	if !wait {
		s.say("kubectl canopy status %s shows its steps; --wait follows it.", name)
		_, err := s.printData(res)
		return err
	}
	if err := s.followUpgrade(ctx, st, res, timeout); err != nil {
		return err
	}
	if done, err := s.printData(res); done {
		return err
	}
	s.say("Stack %s/%s serves version %s.", s.namespace, name, version)
	return nil
}

// followUpgrade waits until the Stack serves res.To, or reports the upgrade to it failed or
// cancelled. The first rollout of a Stack is no upgrade: status.version simply appears.
func (s *session) followUpgrade(ctx context.Context, st *canopyv1alpha1.Stack, res *UpgradeResult, timeout time.Duration) error {
	name := st.Name
	return s.follow(ctx, timeout, errTimeout{what: "the upgrade to " + res.To, next: "kubectl canopy status " + name + " shows its step"},
		func(ctx context.Context) (string, bool, error) {
			if err := s.c.Get(ctx, client.ObjectKeyFromObject(st), st); err != nil {
				return "", false, fmt.Errorf("reading Stack %s/%s: %w", s.namespace, name, err)
			}
			if st.Status.Version == res.To && st.Status.ObservedGeneration == st.Generation {
				res.Phase = string(canopyv1alpha1.UpgradeSucceeded)
				return "", true, nil
			}
			u := st.Status.Upgrade
			if u == nil || u.ToVersion != res.To {
				return "requested; waiting for the operator to start it", false, nil
			}
			ended := u.Phase == canopyv1alpha1.UpgradeFailed || u.Phase == canopyv1alpha1.UpgradeCancelled
			if ended && st.Status.ObservedGeneration < st.Generation {
				// An earlier upgrade to the same version (the one retry-upgrade cancelled), from
				// before the operator saw this request.
				return "requested; waiting for the operator to start it", false, nil
			}
			res.Phase, res.Message = string(u.Phase), u.Message
			switch u.Phase {
			case canopyv1alpha1.UpgradeFailed:
				return "", false, fmt.Errorf("the upgrade of Stack %s/%s to %s failed and %s serves again: %s; "+
					"fix the cause, then kubectl canopy retry-upgrade %s", s.namespace, name, res.To, u.FromVersion, u.Message, name)
			case canopyv1alpha1.UpgradeCancelled:
				return "", false, fmt.Errorf("the upgrade of Stack %s/%s to %s was cancelled: %s", s.namespace, name, res.To, u.Message)
			case canopyv1alpha1.UpgradeSucceeded:
				return "", false, nil // status.version follows in the same write; read again
			}
			return string(u.Phase), false, nil
		})
}
