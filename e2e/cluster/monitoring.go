package cluster

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/canopy-dev/canopy/internal/scheme"
)

// StartMonitoring installs the Prometheus operator's CRDs (printed by the operator binary itself,
// so they match its version) and then starts the operator: it detects its CRDs only at start.
func (c *Cluster) StartMonitoring(ctx context.Context) error {
	if c.monitoring {
		return nil // already running
	}
	if c.PrometheusOperator == "" {
		return fmt.Errorf("no prometheus-operator binary: run `make cluster-tools`")
	}
	out, err := exec.CommandContext(ctx, c.PrometheusOperator, "crds").Output()
	if err != nil {
		return fmt.Errorf("reading the Prometheus operator's CRDs: %w", err)
	}
	dir := filepath.Join(c.Dir, "prometheus-operator-crds")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "crds.yaml"), out, 0o644); err != nil {
		return err
	}
	start := time.Now()
	// InstallCRDs waits until they are served.
	if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: []string{dir}, ErrorIfPathMissing: true,
		Scheme: scheme.New(), MaxTime: time.Minute}); err != nil {
		return fmt.Errorf("installing the Prometheus operator's CRDs: %w", err)
	}
	p, err := c.startProcess("prometheus-operator", c.PrometheusOperator, "--web.listen-address=127.0.0.1:0")
	if err != nil {
		return err
	}
	c.processes = append(c.processes, p)
	c.monitoring = true
	c.Log("Prometheus operator CRDs installed and operator started in %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// StopMonitoring uninstalls the Prometheus operator: it stops the operator and deletes its CRDs
// (which deletes their objects), without waiting for the API server to finish.
func (c *Cluster) StopMonitoring(ctx context.Context) error {
	if !c.monitoring {
		return nil
	}
	for i, p := range c.processes {
		if p.Name == "prometheus-operator" {
			p.Stop(10 * time.Second)
			c.processes = append(c.processes[:i], c.processes[i+1:]...)
			break
		}
	}
	c.monitoring = false
	return envtest.UninstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join(c.Dir, "prometheus-operator-crds")},
		ErrorIfPathMissing: true})
}

// ScrapeConfig returns the configuration the Prometheus operator generated for the Prometheus
// ns/name ("" while it has none).
func (c *Cluster) ScrapeConfig(ctx context.Context, ns, name string) (string, error) {
	s := &corev1.Secret{}
	if err := c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "prometheus-" + name}, s); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	data := s.Data["prometheus.yaml.gz"]
	if len(data) == 0 {
		return "", nil
	}
	r, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	b, err := io.ReadAll(r)
	return string(b), err
}
