// Command kubectl-canopy is the kubectl plugin for Canopy: copied onto the PATH, it answers to
// `kubectl canopy`. The commands live in internal/plugin; this file only runs them.
package main

import (
	"os"

	"github.com/canopy-dev/canopy/internal/plugin"
)

func main() {
	os.Exit(plugin.Main(os.Args[1:], plugin.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}
