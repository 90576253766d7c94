package plugin

import (
	"github.com/spf13/cobra"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
)

// PauseResult is what `pause` and `resume` report, and their -o json|yaml form.
type PauseResult struct {
	Namespace string `json:"namespace"`
	Stack     string `json:"stack"`
	Paused    bool   `json:"paused"`
	// Changed is false when the Stack already was as asked.
	Changed bool `json:"changed"`
}

// newPauseCommand builds `pause` (pause true) or `resume` (pause false): spec.paused.
func newPauseCommand(o *Options, pause bool) *cobra.Command {
	use, short := "pause STACK", "Stop every change to a Stack's objects (spec.paused: true); status stays truthful"
	if !pause {
		use, short = "resume STACK", "Let changes reach a paused Stack's objects again (spec.paused: false)"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  stackArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.connect()
			if err != nil {
				return err
			}
			st, err := s.stack(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			res := &PauseResult{Namespace: s.namespace, Stack: st.Name, Paused: pause, Changed: st.Spec.Paused != pause}
			if res.Changed {
				if err := s.patchStack(cmd.Context(), st, func(st *canopyv1alpha1.Stack) { st.Spec.Paused = pause }); err != nil {
					return err
				}
			}
			if done, err := s.printData(res); done {
				return err
			}
			switch {
			case !res.Changed && pause:
				s.say("Stack %s/%s is already paused.", s.namespace, st.Name)
			case !res.Changed:
				s.say("Stack %s/%s is not paused.", s.namespace, st.Name)
			case pause:
				s.say("Stack %s/%s paused: no change reaches its objects until kubectl canopy resume %s.", s.namespace, st.Name, st.Name)
			default:
				s.say("Stack %s/%s resumed: the operator applies its spec again.", s.namespace, st.Name)
			}
			return nil
		},
	}
}
