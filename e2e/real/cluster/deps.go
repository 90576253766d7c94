package cluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/canopy-dev/canopy/internal/scheme"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// SelfSignedIssuer is the ClusterIssuer the harness creates, as on the simulated cluster.
const SelfSignedIssuer = "canopy-selfsigned"

// S3Port is versitygw's port on the node's address; S3AccessKey and S3SecretKey its root
// credentials (a test's own server, inside the namespace).
const (
	S3Port      = 7070
	S3AccessKey = "canopy-real"
	S3SecretKey = "canopy-real-secret-key"
	S3Bucket    = "backups"
)

// S3Endpoint is versitygw's URL, as pods and the harness reach it.
const S3Endpoint = "http://10.10.0.1:7070"

func (c *Cluster) installCRDs(paths ...string) error {
	_, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true,
		Scheme: scheme.New(), MaxTime: time.Minute})
	return err
}

// StartDependencies installs Canopy's CRDs, cert-manager's (from the pinned module) and the
// Prometheus operator's (printed by its binary), runs cert-manager's controllers, the Prometheus
// operator and versitygw (its bucket S3Bucket made), and creates the ClusterIssuer.
func (c *Cluster) StartDependencies(ctx context.Context) error {
	start := time.Now()
	cm, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, c.PrometheusOperator, "crds").Output()
	if err != nil {
		return fmt.Errorf("reading the Prometheus operator's CRDs: %w", err)
	}
	promCRDs := filepath.Join(c.state, "prometheus-operator-crds")
	if err := os.MkdirAll(promCRDs, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(promCRDs, "crds.yaml"), out, 0o644); err != nil {
		return err
	}
	if err := c.installCRDs(filepath.Join(c.Root, "config", "crd", "bases"), filepath.Join(cm, "deploy", "crds"), promCRDs); err != nil {
		return fmt.Errorf("installing the CRDs: %w", err)
	}
	if _, err := c.startProcess("cert-manager", c.CertManager, nil); err != nil {
		return err
	}
	if _, err := c.startProcess("prometheus-operator", c.PrometheusOperator, nil, "--web.listen-address=127.0.0.1:0"); err != nil {
		return err
	}
	issuer := &certmanagerv1.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: SelfSignedIssuer},
		Spec: certmanagerv1.IssuerSpec{IssuerConfig: certmanagerv1.IssuerConfig{SelfSigned: &certmanagerv1.SelfSignedIssuer{}}}}
	if err := c.Client.Create(ctx, issuer); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("creating the ClusterIssuer %s: %w", SelfSignedIssuer, err)
	}
	// versitygw's posix backend: a bucket is a folder.
	s3root := filepath.Join(c.state, "s3")
	if err := os.MkdirAll(filepath.Join(s3root, S3Bucket), 0o755); err != nil {
		return err
	}
	if _, err := c.startProcess("versitygw", c.Versitygw, []string{"ROOT_ACCESS_KEY_ID=" + S3AccessKey, "ROOT_SECRET_ACCESS_KEY=" + S3SecretKey},
		"--port", fmt.Sprintf("%s:%d", NodeIP, S3Port), "--quiet", "posix", s3root); err != nil {
		return err
	}
	if err := waitFor(ctx, 30*time.Second, "versitygw", func() bool {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("%s:%d", NodeIP, S3Port), time.Second)
		if err == nil {
			_ = conn.Close()
		}
		return err == nil
	}); err != nil {
		return err
	}
	c.Log("CRDs installed; cert-manager, Prometheus operator and versitygw running in %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// S3Root is versitygw's folder: the bucket S3Bucket is the folder of that name in it.
func (c *Cluster) S3Root() string { return filepath.Join(c.state, "s3") }
