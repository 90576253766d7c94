package integrations

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env, testenv.Options{})) }

// TestDetectFollowsInstallAndUninstall: the Prometheus operator's CRDs arrive one at a time, and
// its group is served first with only v1alpha1 (AlertmanagerConfig). A lookup in that moment must
// not hide the v1 kinds (ServiceMonitor, PrometheusRule) that come next: controller-runtime's lazy
// mapper keeps a group's version list from its first discovery, so an unversioned lookup kept
// asking v1alpha1 only and monitoring was never detected. Then the APIs are uninstalled, which the
// mapper alone never notices.
//
// One test, in order, on one control plane: no step waits for a CRD to be fully deleted, which the
// API server's CRD finalizer can take tens of seconds to finish for a CRD deleted right after its
// creation (it backs off while the new kind's storage is not ready).
func TestDetectFollowsInstallAndUninstall(t *testing.T) {
	e := testenv.Require(t, env)
	ctx := context.Background()
	po, err := testenv.DownloadModule(testenv.PrometheusOperatorModule)
	require.NoError(t, err)
	cm, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	require.NoError(t, err)
	crd := func(name string) string {
		return filepath.Join(po, "example", "prometheus-operator-crd", "monitoring.coreos.com_"+name+".yaml")
	}
	install := func(paths ...string) []*apiextensionsv1.CustomResourceDefinition {
		crds, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true})
		require.NoError(t, err)
		return crds
	}
	hc, err := rest.HTTPClientFor(e.Config)
	require.NoError(t, err)
	mapper, err := apiutil.NewDynamicRESTMapper(e.Config, hc)
	require.NoError(t, err)
	detect := func() Available {
		a, err := Detect(ctx, e.Client, e.Client, mapper)
		require.NoError(t, err, "envtest installs a CRD and waits until discovery serves it")
		return a
	}
	require.Equal(t, Available{}, detect(), "nothing installed yet")

	// With cert-manager installed, no lookup misses a whole group, which would have refreshed the
	// mapper's list of groups as a side effect.
	certs := install(filepath.Join(cm, "deploy", "crds", "cert-manager.io_certificates.yaml"))
	require.Equal(t, Available{Certificates: true}, detect(), "cert-manager only")
	install(crd("alertmanagerconfigs"))
	require.Equal(t, Available{Certificates: true}, detect(), "only the v1alpha1 part of the monitoring group is served")
	monitoring := install(crd("servicemonitors"), crd("prometheusrules"))
	require.Equal(t, Available{Certificates: true, Monitoring: true}, detect(), "the v1 kinds are found once served")

	// Uninstalled: the APIs count as gone as soon as their CRDs are being deleted.
	require.NoError(t, envtest.UninstallCRDs(e.Config, envtest.CRDInstallOptions{CRDs: monitoring}))
	require.Equal(t, Available{Certificates: true}, detect(), "the Prometheus operator's CRDs are going")
	require.NoError(t, envtest.UninstallCRDs(e.Config, envtest.CRDInstallOptions{CRDs: certs}))
	require.Equal(t, Available{}, detect(), "cert-manager's CRD is going")
}
