package integrations

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(testenv.Main(m, &env, testenv.Options{})) }

// TestDetectFindsAPIsInstalledOneByOne: the Prometheus operator's CRDs arrive one at a time, and
// its group is served first with only v1alpha1 (AlertmanagerConfig). A lookup in that moment must
// not hide the v1 kinds (ServiceMonitor, PrometheusRule) that come next: controller-runtime's lazy
// mapper keeps a group's version list from its first discovery, so an unversioned lookup kept
// asking v1alpha1 only and monitoring was never detected.
func TestDetectFindsAPIsInstalledOneByOne(t *testing.T) {
	e := testenv.Require(t, env)
	po, err := testenv.DownloadModule(testenv.PrometheusOperatorModule)
	require.NoError(t, err)
	crd := func(name string) string {
		return filepath.Join(po, "example", "prometheus-operator-crd", "monitoring.coreos.com_"+name+".yaml")
	}
	hc, err := rest.HTTPClientFor(e.Config)
	require.NoError(t, err)
	mapper, err := apiutil.NewDynamicRESTMapper(e.Config, hc)
	require.NoError(t, err)
	require.Equal(t, Available{}, Detect(context.Background(), e.Client, mapper), "nothing installed yet")
	install := func(paths ...string) {
		crds, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true})
		require.NoError(t, err)
		t.Cleanup(func() { uninstall(t, e, crds) })
	}
	// With cert-manager installed, no lookup misses a whole group, which would have refreshed the
	// mapper's list of groups as a side effect.
	cm, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	require.NoError(t, err)
	install(filepath.Join(cm, "deploy", "crds", "cert-manager.io_certificates.yaml"))
	require.Equal(t, Available{Certificates: true}, Detect(context.Background(), e.Client, mapper), "cert-manager only")

	install(crd("alertmanagerconfigs"))
	require.False(t, Detect(context.Background(), e.Client, mapper).Monitoring, "only the v1alpha1 part of the group is served")
	install(crd("servicemonitors"), crd("prometheusrules"))
	require.True(t, Detect(context.Background(), e.Client, mapper).Monitoring, "the v1 kinds are found once served")
}

// TestDetectForgetsRemovedAPIs: uninstalling an optional API (its CRDs deleted) is seen too, so the
// controllers stop writing kinds the API server no longer serves.
func TestDetectForgetsRemovedAPIs(t *testing.T) {
	e := testenv.Require(t, env)
	cm, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	require.NoError(t, err)
	crds, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join(cm, "deploy", "crds", "cert-manager.io_certificates.yaml")}, ErrorIfPathMissing: true})
	require.NoError(t, err)
	hc, err := rest.HTTPClientFor(e.Config)
	require.NoError(t, err)
	mapper, err := apiutil.NewDynamicRESTMapper(e.Config, hc)
	require.NoError(t, err)
	require.True(t, Detect(context.Background(), e.Client, mapper).Certificates)
	uninstall(t, e, crds)
	require.Eventually(t, func() bool { return !Detect(context.Background(), e.Client, mapper).Certificates }, testenv.Wait, testenv.Tick)
}

// uninstall deletes CRDs and waits until they are gone (envtest.UninstallCRDs does not wait), so
// that the next test can install them again.
func uninstall(t *testing.T, e *testenv.Env, crds []*apiextensionsv1.CustomResourceDefinition) {
	t.Helper()
	require.NoError(t, envtest.UninstallCRDs(e.Config, envtest.CRDInstallOptions{CRDs: crds}))
	for _, crd := range crds {
		require.Eventually(t, func() bool {
			return apierrors.IsNotFound(e.Client.Get(context.Background(), client.ObjectKeyFromObject(crd), &apiextensionsv1.CustomResourceDefinition{}))
		}, testenv.Wait, testenv.Tick, "the CRD %s is deleted", crd.Name)
	}
}
