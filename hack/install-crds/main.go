// Command install-crds applies the CRDs in the given folders to the cluster of the current
// kubeconfig with server-side apply, and waits until the API server serves them. `make install`
// and `make run` use it so that a newcomer needs neither kubectl nor kustomize.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/canopy-dev/canopy/internal/scheme"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: install-crds DIR...")
		os.Exit(2)
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "install-crds:", err)
		os.Exit(1)
	}
}

func run(dirs []string) error {
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading the kubeconfig: %w", err)
	}
	// envtest's installer is a plain client of any API server: it creates or updates each CRD and
	// polls discovery until every one is served.
	crds, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{
		Paths:              dirs,
		ErrorIfPathMissing: true,
		Scheme:             scheme.New(),
		MaxTime:            time.Minute,
	})
	if err != nil {
		return err
	}
	for _, crd := range crds {
		fmt.Printf("installed %s (%s)\n", crd.Name, filepath.Join(crd.Spec.Group, servedVersions(crd)))
	}
	return nil
}

func servedVersions(crd *apiextensionsv1.CustomResourceDefinition) string {
	out := ""
	for _, v := range crd.Spec.Versions {
		if v.Served {
			if out != "" {
				out += ","
			}
			out += v.Name
		}
	}
	return out
}
