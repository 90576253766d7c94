// Command canopy is Canopy's single binary. "canopy manager" (the default) runs the controllers.
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
  help      show this text`)
}
