package plugin

import (
	"github.com/spf13/cobra"
)

func newStatusCommand(o *Options) *cobra.Command {
	return &cobra.Command{
		Use:   "status STACK",
		Short: "Show a Stack as a tree: components, workloads, conditions, operations, backups and what to do",
		Example: `  kubectl canopy status shop -n demo
  kubectl canopy status shop -o json | jq .problems`,
		Args: stackArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := o.connect()
			if err != nil {
				return err
			}
			obs, err := s.observe(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			r := buildReport(obs, o.Now())
			if done, err := o.printData(r); done {
				return err
			}
			printStatus(o.Out, r, o.style(), o.Now())
			return nil
		},
	}
}
