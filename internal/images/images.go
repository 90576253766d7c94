// Package images is the one list of container images Canopy runs by default. The manager uses it,
// and the OLM bundle is generated from it, so that disconnected installs can mirror exactly these.
// Each entry can be replaced at run time with the environment variable named in it.
//
// OLM sets none of these variables: the manager's Deployment (config/manager, and the CSV's install
// strategy generated from it by hack/gen-bundle) carries a RELATED_IMAGE_* variable for every entry,
// and the CSV lists the same references in spec.relatedImages; tests keep the three equal. A full
// PostgreSQL version ("17.2") derives a tag that is not in that list, so a mirror holds it only if
// it was mirrored separately.
package images

import (
	"os"
	"sort"
	"strings"
)

// Image is one default image.
type Image struct {
	// Name identifies the image in the bundle's relatedImages.
	Name string
	// Ref is the default reference.
	Ref string
	// Env overrides Ref when set.
	Env string
}

// PostgresMajors are the PostgreSQL majors with a default image.
var PostgresMajors = []string{"14", "15", "16", "17", "18"}

// Exporter is the Prometheus exporter run beside PostgreSQL when monitoring is on.
var Exporter = Image{Name: "postgres-exporter", Ref: "quay.io/prometheuscommunity/postgres-exporter:v0.17.1", Env: "RELATED_IMAGE_POSTGRES_EXPORTER"}

// Canopy is the operator's own image; backup Jobs run its agent subcommand.
var Canopy = Image{Name: "canopy", Ref: "ghcr.io/canopy-dev/canopy:v0.1.0", Env: "RELATED_IMAGE_CANOPY"}

// Defaults lists every default image, sorted by name.
func Defaults() []Image {
	out := []Image{Canopy, Exporter}
	for _, m := range PostgresMajors {
		out = append(out, postgresImage(m))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func postgresImage(major string) Image {
	return Image{Name: "postgres-" + major, Ref: "docker.io/library/postgres:" + major, Env: "RELATED_IMAGE_POSTGRES_" + major}
}

// Resolve returns the reference of img, honouring its environment override.
func Resolve(img Image, getenv func(string) string) string {
	if v := getenv(img.Env); v != "" {
		return v
	}
	return img.Ref
}

// Postgres returns the image for a PostgreSQL version: the version's own tag of the official image
// for a full version ("17.2"), the major's default (overridable) for a bare major ("17").
func Postgres(version string, getenv func(string) string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	major, _, hasMinor := strings.Cut(version, ".")
	base := Resolve(postgresImage(major), getenv)
	if !hasMinor {
		return base
	}
	repo := base
	if i := strings.LastIndex(base, ":"); i > strings.LastIndex(base, "/") {
		repo = base[:i]
	}
	if strings.Contains(repo, "@") { // a digest-pinned override serves the major, whatever the minor
		return base
	}
	return repo + ":" + version
}
