package cluster

import (
	"os"
	"path/filepath"
	"strconv"
)

// The tier's images, all named localhost/canopy-e2e/...: nothing is pulled.
const (
	PauseImage    = "localhost/canopy-e2e/pause:3.10"
	PostgresImage = "localhost/canopy-e2e/postgres:15"
	CanopyImage   = "localhost/canopy-e2e/canopy:dev"
	ExporterImage = "localhost/canopy-e2e/postgres-exporter:v0.17.1"
	// SampleAppRepository is the sample application's image, tagged with each version a test
	// runs (the Stack's image is repository:version).
	SampleAppRepository = "localhost/canopy-e2e/sample-app"
)

// ImageInputs are the files the images are made of.
type ImageInputs struct {
	// PostgresRootfs is the PostgreSQL root file system (hack/realpods/postgres-rootfs.sh) and
	// PostgresEntrypoint its entrypoint (hack/realpods/docker-entrypoint.sh).
	PostgresRootfs, PostgresEntrypoint string
	// Pause, Canopy, Exporter and SampleApp are static binaries.
	Pause, Canopy, Exporter, SampleApp string
	// SampleAppVersions tag the sample application's image; SampleAppBrokenVersion tags the same
	// application built to never become ready (SAMPLE_APP_UNHEALTHY=1).
	SampleAppVersions      []string
	SampleAppBrokenVersion string
}

// FindImageInputs locates the images' inputs under the repository.
func FindImageInputs(root string) ImageInputs {
	return ImageInputs{
		PostgresRootfs:     filepath.Join(root, "bin", "real", "postgres-15-rootfs-v1.tar"),
		PostgresEntrypoint: filepath.Join(root, "hack", "realpods", "docker-entrypoint.sh"),
		Pause:              filepath.Join(root, "bin", "real", "pause"),
		Canopy:             filepath.Join(root, "bin", "real", "canopy"),
		Exporter:           filepath.Join(root, "bin", "k8s", "postgres-exporter-v0.17.1"),
		SampleApp:          filepath.Join(root, "bin", "real", "sample-app"),
	}
}

// Images returns the tier's images.
func (in ImageInputs) Images() []Image {
	static := func(name, bin, path string, uid int, cmd ...string) Image {
		return Image{Names: []string{name}, Files: []File{
			{Path: path, Source: bin, Mode: 0o755},
			{Path: "/tmp", Mode: os.ModeDir | 0o777},
		}, Entrypoint: []string{path}, Cmd: cmd, User: strconv.Itoa(uid) + ":" + strconv.Itoa(uid)}
	}
	app := static(SampleAppRepository+":"+first(in.SampleAppVersions), in.SampleApp, "/sample-app", 65532)
	for i, v := range in.SampleAppVersions {
		if i > 0 {
			app.Names = append(app.Names, SampleAppRepository+":"+v)
		}
	}
	broken := static(SampleAppRepository+":"+in.SampleAppBrokenVersion, in.SampleApp, "/sample-app", 65532)
	broken.Env = []string{"SAMPLE_APP_UNHEALTHY=1"}
	return []Image{
		broken,
		static(PauseImage, in.Pause, "/pause", 65535),
		{
			Names:   []string{PostgresImage},
			BaseTar: in.PostgresRootfs,
			Files: []File{
				{Path: "/usr/local/bin/docker-entrypoint.sh", Source: in.PostgresEntrypoint, Mode: 0o755},
				{Path: "/var/run/postgresql", Mode: os.ModeDir | 0o777, UID: 999, GID: 999},
				{Path: "/var/lib/postgresql/data", Mode: os.ModeDir | 0o777, UID: 999, GID: 999},
			},
			Env:        []string{"PATH=/usr/lib/postgresql/15/bin:" + DefaultPath, "PGDATA=/var/lib/postgresql/data", "LANG=C.UTF-8"},
			Entrypoint: []string{"docker-entrypoint.sh"}, Cmd: []string{"postgres"},
			User: "999:999", StopSignal: "SIGINT",
		},
		static(CanopyImage, in.Canopy, "/canopy", 65532, "manager"),
		static(ExporterImage, in.Exporter, "/bin/postgres_exporter", 65534),
		app,
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return "latest"
	}
	return s[0]
}
