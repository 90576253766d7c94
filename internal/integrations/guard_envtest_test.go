package integrations

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/canopy-dev/canopy/internal/scheme"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestReadOfAnUninstalledKindEnds: cert-manager is uninstalled between Detect and a reconcile's
// cached read of a Certificate. The CRD watch has forgotten the kind's informer, so the read makes a
// new one, whose list can never succeed. Unguarded, the read waited for it to sync forever and
// wedged the controller's worker (TestOptionalAPIsAppearLater failed so, one run in seven); guarded,
// it ends with ErrStoppedServing.
func TestReadOfAnUninstalledKindEnds(t *testing.T) {
	e := testenv.Require(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cm, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	require.NoError(t, err)
	gone := func(name string) func() bool {
		return func() bool {
			return apierrors.IsNotFound(e.Client.Get(ctx, client.ObjectKey{Name: name}, &apiextensionsv1.CustomResourceDefinition{}))
		}
	}
	// TestDetectFollowsInstallAndUninstall leaves the CRD being deleted.
	require.Eventually(t, gone(certificate.crd), 2*time.Minute, 200*time.Millisecond, "no CRD left by another test")
	crds, err := envtest.InstallCRDs(e.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(cm, "deploy", "crds", "cert-manager.io_certificates.yaml")}, ErrorIfPathMissing: true})
	require.NoError(t, err)

	hc, err := rest.HTTPClientFor(e.Config)
	require.NoError(t, err)
	s := scheme.New()
	mapper, err := apiutil.NewDynamicRESTMapper(e.Config, hc)
	require.NoError(t, err)
	informers, err := cache.New(e.Config, cache.Options{Scheme: s, Mapper: mapper, HTTPClient: hc})
	require.NoError(t, err)
	go func() { _ = informers.Start(ctx) }()
	require.True(t, informers.WaitForCacheSync(ctx))
	c, err := client.New(e.Config, client.Options{Scheme: s, Mapper: mapper, HTTPClient: hc, Cache: &client.CacheOptions{Reader: informers}})
	require.NoError(t, err)
	guarded := Guard(c, informers)

	key := client.ObjectKey{Namespace: "default", Name: "absent"}
	require.True(t, apierrors.IsNotFound(guarded.Get(ctx, key, &certmanagerv1.Certificate{})), "served: the read works")

	require.NoError(t, envtest.UninstallCRDs(e.Config, envtest.CRDInstallOptions{CRDs: crds}))
	require.Eventually(t, gone(crds[0].Name), 2*time.Minute, 200*time.Millisecond, "the CRD is gone")
	forget(ctx, informers, crds[0].Name) // as the CRD watch does

	defer func(was time.Duration) { SyncWait = was }(SyncWait)
	SyncWait = time.Second
	done := make(chan error, 1)
	go func() { done <- guarded.Get(ctx, key, &certmanagerv1.Certificate{}) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrStoppedServing)
	case <-time.After(time.Minute):
		t.Fatal("the read of a kind that is no longer served never ended")
	}
	list := &certmanagerv1.CertificateList{}
	require.ErrorIs(t, guarded.List(ctx, list), ErrStoppedServing, "lists are guarded too")
}
