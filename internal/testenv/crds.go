package testenv

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// InstallMonitoringCRDs installs the Prometheus operator's ServiceMonitor and PrometheusRule CRDs
// for the test, and removes them after it: the other tests expect a cluster without them.
func (e *Env) InstallMonitoringCRDs(t testing.TB, c client.Client) {
	t.Helper()
	e.InstallCRDs(t, c, monitoringCRDs(t))
}

// InstallOptionalCRDs installs the CRDs of both dependencies, cert-manager's (Certificates,
// Issuers, ClusterIssuers) and the Prometheus operator's, for the test, and removes them after it.
func (e *Env) InstallOptionalCRDs(t testing.TB, c client.Client) {
	t.Helper()
	cm, err := ModuleDir("github.com/cert-manager/cert-manager")
	require.NoError(t, err)
	var files []string
	for _, kind := range []string{"certificates", "issuers", "clusterissuers"} {
		files = append(files, filepath.Join(cm, "deploy", "crds", "cert-manager.io_"+kind+".yaml"))
	}
	e.InstallCRDs(t, c, append(files, monitoringCRDs(t)...))
}

func monitoringCRDs(t testing.TB) []string {
	po, err := DownloadModule(PrometheusOperatorModule)
	require.NoError(t, err)
	var files []string
	for _, kind := range []string{"servicemonitors", "prometheusrules"} {
		files = append(files, filepath.Join(po, "example", "prometheus-operator-crd", "monitoring.coreos.com_"+kind+".yaml"))
	}
	return files
}

// InstallCRDs installs the CRDs of files for the test, and removes them (waiting until they are
// gone) after it.
func (e *Env) InstallCRDs(t testing.TB, c client.Client, files []string) {
	t.Helper()
	crds, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{Paths: files, ErrorIfPathMissing: true})
	require.NoError(t, err)
	t.Cleanup(func() {
		for _, crd := range crds {
			require.NoError(t, client.IgnoreNotFound(c.Delete(context.Background(), crd)))
		}
		for _, crd := range crds {
			require.Eventually(t, func() bool {
				return apierrors.IsNotFound(c.Get(context.Background(), client.ObjectKeyFromObject(crd), &apiextensionsv1.CustomResourceDefinition{}))
			}, Wait, Tick)
		}
	})
}
