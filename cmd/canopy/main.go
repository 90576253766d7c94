// Command canopy is Canopy's single binary. "canopy manager" (the default) runs the controllers;
// "canopy agent" is the backup agent that backup and restore Jobs run.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/canopy-dev/canopy/internal/manager"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "manager"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "manager":
		return manager.Main(args, stderr)
	case "agent":
		return runAgent(args, stdout, stderr)
	case "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "canopy: unknown command %q\n", cmd)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, `Usage: canopy [command] [flags]

Commands:
  manager   run the Canopy controllers (default); "canopy manager -h" lists its flags
  agent     back up or restore a database in a Job: "canopy agent backup|restore [flags]";
            "canopy agent help" lists its flags
  help      show this text`)
}
