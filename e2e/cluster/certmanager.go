package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/canopy-dev/canopy/internal/scheme"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// SelfSignedIssuer is the ClusterIssuer the harness creates; the samples name it.
const SelfSignedIssuer = "canopy-selfsigned"

// startCertManager installs cert-manager's CRDs from the pinned module's source, runs its
// controllers (hack/tools/cert-manager) as a local process, and creates a self-signed
// ClusterIssuer.
func (c *Cluster) startCertManager(ctx context.Context) error {
	start := time.Now()
	dir, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	if err != nil {
		return err
	}
	if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join(dir, "deploy", "crds")},
		ErrorIfPathMissing: true, Scheme: scheme.New(), MaxTime: time.Minute}); err != nil {
		return fmt.Errorf("installing cert-manager's CRDs: %w", err)
	}
	if err := c.StartCertManagerControllers(ctx); err != nil {
		return err
	}
	c.Log("cert-manager CRDs installed, controllers started, ClusterIssuer %s created in %s", SelfSignedIssuer, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// StartCertManagerControllers runs cert-manager's controllers (hack/tools/cert-manager) as a local
// process and creates the self-signed ClusterIssuer, on a cluster whose cert-manager CRDs someone
// else installed (OLM, in the OLM test).
func (c *Cluster) StartCertManagerControllers(ctx context.Context) error {
	p, err := c.startProcess("cert-manager", c.CertManager)
	if err != nil {
		return err
	}
	c.processes = append(c.processes, p)
	issuer := &certmanagerv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: SelfSignedIssuer},
		Spec: certmanagerv1.IssuerSpec{IssuerConfig: certmanagerv1.IssuerConfig{SelfSigned: &certmanagerv1.SelfSignedIssuer{}}}}
	if err := c.Client.Create(ctx, issuer); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("creating the ClusterIssuer %s: %w", SelfSignedIssuer, err)
	}
	return nil
}
