// Package plugin is `kubectl canopy`: the day-2 commands a Stack's owner reaches for (status,
// backup, restore, upgrade, retry-upgrade, pause, resume, backups, report). Every command drives
// the operator through its public API — the Stack's spec and its canopy.dev/ annotations — and
// reads the statuses the controllers write; it never does the operator's work itself.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Streams are the command's standard input, output and error.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Options are shared by every command: how to reach the cluster, how to print, and the clock.
type Options struct {
	Streams
	// Output is "" (for a person), json or yaml.
	Output string
	// Color is auto, always or never.
	Color string
	// Now is the clock; tests fix it so that ages in golden files do not move.
	Now func() time.Time
	// Poll is how often --wait reads the Stack again.
	Poll time.Duration

	loading   *clientcmd.ClientConfigLoadingRules
	overrides *clientcmd.ConfigOverrides
	// newClientset builds client-go's typed client, which reads the manager's log; nil is
	// kubernetes.NewForConfig. Tests give a fake one, since envtest runs no pod to read.
	newClientset func(*rest.Config) (kubernetes.Interface, error)
}

// Main runs one command line and returns the process exit code.
func Main(args []string, s Streams) int {
	o := &Options{Streams: s, Now: time.Now, Poll: 500 * time.Millisecond}
	cmd := NewCommand(o)
	cmd.SetArgs(args)
	// Ctrl-C ends a --wait through the context, so that the command can say what is left to do.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(s.Err, "error:", err)
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a command line that does not make sense; it exits with 2, as kubectl does.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// NewCommand builds `kubectl canopy` and its subcommands on o.
func NewCommand(o *Options) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-canopy",
		Short: "Day-2 commands for Canopy Stacks",
		Long: `kubectl canopy reads and drives Canopy Stacks: their status as a tree, backups and restores,
upgrades and their retries, pause and resume, and a report to attach to a bug.`,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl canopy"},
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(o.In)
	root.SetOut(o.Out)
	root.SetErr(o.Err)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })

	// The flags kubectl has: --kubeconfig, --context, -n/--namespace, --cluster, --user and the rest.
	o.loading = clientcmd.NewDefaultClientConfigLoadingRules()
	o.overrides = &clientcmd.ConfigOverrides{}
	flags := root.PersistentFlags()
	flags.StringVar(&o.loading.ExplicitPath, clientcmd.RecommendedConfigPathFlag, "", "Path to the kubeconfig file to use")
	clientcmd.BindOverrideFlags(o.overrides, flags, clientcmd.RecommendedConfigOverrideFlags(""))
	flags.StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default: for a person)")
	flags.StringVar(&o.Color, "color", "auto", "Colour the output: auto (on a terminal, unless NO_COLOR is set), always or never")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		switch o.Output {
		case "", "json", "yaml":
		default:
			return usagef("--output %q: use json or yaml", o.Output)
		}
		switch o.Color {
		case "auto", "always", "never":
		default:
			return usagef("--color %q: use auto, always or never", o.Color)
		}
		return nil
	}

	root.AddCommand(
		newStatusCommand(o),
		newBackupCommand(o),
		newBackupsCommand(o),
		newRestoreCommand(o),
		newUpgradeCommand(o),
		newRetryUpgradeCommand(o),
		newPauseCommand(o, true),
		newPauseCommand(o, false),
		newReportCommand(o),
	)
	return root
}

// stackArg is the one positional argument every command takes: the Stack's name.
func stackArg(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef("%s needs the name of one Stack: kubectl canopy %s NAME [-n NAMESPACE]", cmd.Name(), cmd.Name())
	}
	return nil
}

// isTerminal reports whether w is a terminal, for colour and for confirmation prompts.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	// A terminal answers the terminal ioctl; /dev/null is a character device too, and no terminal.
	return term.IsTerminal(int(f.Fd()))
}
