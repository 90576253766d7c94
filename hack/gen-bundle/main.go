// Command gen-bundle writes Canopy's OLM bundle (`make bundle`): bundle/manifests (the
// ClusterServiceVersion, the four CRDs byte for byte, the metrics Service and the metrics-reader
// ClusterRole), bundle/metadata/{annotations,dependencies}.yaml and bundle/tests/scorecard/config.yaml.
//
// Its inputs are the repository's own sources of truth: the base CSV with the human text and the
// descriptors (config/manifests/bases), the release (config/manifests/release.yaml), the examples
// (config/manifests/examples), the CRDs (config/crd/bases), the manager's Deployment
// (config/manager), its RBAC (config/rbac), the install's name prefix and labels (config/default),
// and the images (internal/images). The output depends on nothing else (no clock, no map order):
// running it twice changes nothing.
//
// operator-sdk's `generate bundle` does the same for kubebuilder projects; its module cannot be
// fetched here, so this is Canopy's own, smaller version.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	root := flag.String("root", ".", "the repository root")
	out := flag.String("out", "bundle", "the bundle folder to write (manifests/, metadata/, tests/ inside it are replaced)")
	namespaced := flag.String("namespaced", "", "also write the generated RBAC of the namespaced install into this folder (config/namespaced)")
	flag.Parse()
	if *namespaced != "" {
		if err := WriteNamespaced(*root, *namespaced); err != nil {
			fmt.Fprintln(os.Stderr, "gen-bundle:", err)
			os.Exit(1)
		}
	}
	if err := Write(*root, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen-bundle:", err)
		os.Exit(1)
	}
}
