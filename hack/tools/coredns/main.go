// Command coredns is CoreDNS with only the plugins the real-pods tier (e2e/real) needs: the
// kubernetes plugin answers for cluster.local from the API server, as a cluster's DNS does, and
// nothing is forwarded (the tier's network namespace reaches nothing outside).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	// The plugins register themselves; only these are built in.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	dnsserver.Directives = []string{"errors", "log", "health", "ready", "cache", "kubernetes"}
	coremain.Run()
}
