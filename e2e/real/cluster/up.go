package cluster

import (
	"context"
	"path/filepath"
)

// UpOptions describe a whole tier: the cluster with its images, the dependencies and Canopy.
type UpOptions struct {
	// Root is the repository; Dir the tier's folder (logs, state).
	Root, Dir string
	// AppVersions tag the sample application's image; BrokenVersion its never-ready build.
	AppVersions   []string
	BrokenVersion string
	Log           func(format string, args ...any)
}

// Up starts, inside the namespaces (SetUpNamespace done), the cluster with the tier's images,
// cert-manager, the Prometheus operator, versitygw and Canopy's manager using the local images.
// On error, what was started is stopped.
func Up(ctx context.Context, o UpOptions) (*Cluster, error) {
	bins, err := FindBinaries(o.Root)
	if err != nil {
		return nil, err
	}
	inputs := FindImageInputs(o.Root)
	inputs.SampleAppVersions, inputs.SampleAppBrokenVersion = o.AppVersions, o.BrokenVersion
	c, err := Start(ctx, Options{Dir: o.Dir, Root: o.Root, Binaries: bins, Images: inputs.Images(), Log: o.Log,
		ManagerEnv: []string{
			"RELATED_IMAGE_POSTGRES_15=" + PostgresImage,
			"RELATED_IMAGE_CANOPY=" + CanopyImage,
			"RELATED_IMAGE_POSTGRES_EXPORTER=" + ExporterImage,
		}})
	if err != nil {
		return c, err
	}
	if err := c.StartDependencies(ctx); err != nil {
		c.Stop()
		return c, err
	}
	if err := c.StartManager(); err != nil {
		c.Stop()
		return c, err
	}
	return c, nil
}

// StateDir is the folder of the cluster's state (kubeconfig, certificates, data), removed by Stop.
func (c *Cluster) StateDir() string { return c.state }

// LogDir is the folder of the components' logs, kept after Stop.
func (c *Cluster) LogDir() string { return filepath.Join(c.Dir, "logs") }
