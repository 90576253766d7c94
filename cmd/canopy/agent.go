package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/canopy-dev/canopy/internal/agent"
)

// runAgent runs "canopy agent ...", the backup agent of backup and restore Jobs. SIGTERM (the Job's
// deadline, a deleted pod) cancels the transfer, and the agent still reports the failure.
func runAgent(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	return agent.Main(ctx, args, os.Getenv, stdout, stderr)
}
