package manager

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// UserAgentName starts the User-Agent of every request the manager sends, so that the API server's
// audit log and its priority-and-fairness metrics name Canopy whatever its binary is called:
// client-go's default is the binary's file name, which an image, a test or the bench may rename.
const UserAgentName = "canopy-manager"

// UserAgent is UserAgentName with the module's version and the platform, as client-go formats its
// default.
func UserAgent() string {
	version := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		version = info.Main.Version
	}
	return fmt.Sprintf("%s/%s (%s/%s)", UserAgentName, version, runtime.GOOS, runtime.GOARCH)
}
