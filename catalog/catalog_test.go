package catalog_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/canopy-dev/canopy/internal/testenv"
)

const (
	pkgName = "canopy"
	channel = "stable"
	// bundleDir is the bundle the catalog is rendered from, relative to this folder.
	bundleDir = "../bundle"
)

// property is one entry of an olm.bundle blob's properties.
type property struct {
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// blob is the union of the file-based catalog schemas the tests read.
type blob struct {
	Schema         string     `json:"schema"`
	Name           string     `json:"name"`
	Package        string     `json:"package"`
	Image          string     `json:"image"`
	DefaultChannel string     `json:"defaultChannel"`
	Properties     []property `json:"properties"`
	Entries        []entry    `json:"entries"`
}

// entry is an olm.channel entry: an edge of the upgrade graph.
type entry struct {
	Name      string   `json:"name"`
	Replaces  string   `json:"replaces"`
	Skips     []string `json:"skips"`
	SkipRange string   `json:"skipRange"`
}

type gvk struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// opm returns the opm binary: $CANOPY_OPM (make test sets it), else bin/opm-<version> with the
// version hack/tools/opm/go.mod pins. Without it the test is skipped outside CI and fails in CI.
func opm(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CANOPY_OPM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CANOPY_OPM=%s: %v", p, err)
		}
		return p
	}
	v, err := opmVersion("../hack/tools/opm/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	p, err := filepath.Abs(filepath.Join("..", "bin", "opm-"+v))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("needs opm %s (%s); build it with make opm, or set CANOPY_OPM", v, p))
	}
	return p
}

// opmVersion reads the operator-registry version a tools module's go.mod requires.
func opmVersion(gomod string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(s.Text()), "require "))
		if len(fields) >= 2 && fields[0] == "github.com/operator-framework/operator-registry" {
			return fields[1], nil
		}
	}
	if err := s.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s requires no github.com/operator-framework/operator-registry", gomod)
}

func run(t *testing.T, bin string, args ...string) ([]byte, error) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// readBlobs decodes every YAML document of every .yaml file under dir.
func readBlobs(t *testing.T, dir string) []blob {
	t.Helper()
	var blobs []blob
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".yaml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			var b blob
			if err := yaml.Unmarshal(doc, &b); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if b.Schema != "" {
				blobs = append(blobs, b)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return blobs
}

func readCSV(t *testing.T) *operatorsv1alpha1.ClusterServiceVersion {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(bundleDir, "manifests", pkgName+".clusterserviceversion.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	csv := &operatorsv1alpha1.ClusterServiceVersion{}
	if err := yaml.Unmarshal(data, csv); err != nil {
		t.Fatal(err)
	}
	return csv
}

// theBundle returns the catalog's olm.bundle blob for the CSV in bundle/.
func theBundle(t *testing.T, blobs []blob, name string) blob {
	t.Helper()
	var found []blob
	for _, b := range blobs {
		if b.Schema == "olm.bundle" && b.Name == name {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Fatalf("the catalog has %d olm.bundle blobs named %s, want 1", len(found), name)
	}
	return found[0]
}

// TestValidate runs opm validate on the catalog, and on a copy with a dangling channel entry as the
// negative control, so a validate that accepted anything would fail this test.
func TestValidate(t *testing.T) {
	bin := opm(t)
	out, err := run(t, bin, "validate", ".")
	if err != nil {
		t.Fatalf("opm validate: %v", err)
	}
	t.Logf("opm validate catalog/: ok %s", out)

	broken := t.TempDir()
	if err := os.CopyFS(broken, os.DirFS(".")); err != nil {
		t.Fatal(err)
	}
	ch := filepath.Join(broken, pkgName, "channel.yaml")
	data, err := os.ReadFile(ch)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, []byte("  - name: canopy.v9.9.9\n    replaces: canopy.v0.0.1\n")...)
	if err := os.WriteFile(ch, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, bin, "validate", broken); err == nil {
		t.Fatal("opm validate accepted a channel entry for a bundle the catalog does not have")
	} else {
		t.Logf("negative control: %v", err)
	}
}

// TestRenderedFromBundle renders bundle/ again and compares with the committed file: the catalog
// holds the bundle as it is today, with no image (so every manifest is inline).
func TestRenderedFromBundle(t *testing.T) {
	bin := opm(t)
	csv := readCSV(t)
	out, err := run(t, bin, "render", bundleDir, "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(pkgName, csv.Name+".yaml"))
	if err != nil {
		t.Fatalf("%v (run make catalog)", err)
	}
	if !bytes.Equal(out, committed) {
		t.Fatalf("catalog/%s/%s.yaml differs from opm render %s: run make catalog", pkgName, csv.Name, bundleDir)
	}
}

// TestInlineObjects checks that the bundle blob carries one olm.bundle.object per file of
// bundle/manifests, each equal to that file, and no image: OLM then installs it from the catalog
// alone (an image would need an unpack Job, a pod).
func TestInlineObjects(t *testing.T) {
	csv := readCSV(t)
	b := theBundle(t, readBlobs(t, pkgName), csv.Name)
	if b.Image != "" {
		t.Errorf("the bundle has image %q: OLM would unpack it with a pod instead of reading the inline objects", b.Image)
	}
	var inline []map[string]any
	for _, p := range b.Properties {
		if p.Type != "olm.bundle.object" {
			continue
		}
		var v struct {
			Data string `json:"data"`
		}
		if err := json.Unmarshal(p.Value, &v); err != nil {
			t.Fatal(err)
		}
		raw, err := base64.StdEncoding.DecodeString(v.Data)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		inline = append(inline, obj)
	}

	files, err := filepath.Glob(filepath.Join(bundleDir, "manifests", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(inline) != len(files) {
		t.Errorf("%d olm.bundle.object properties for %d manifests in bundle/manifests", len(inline), len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]any
		if err := yaml.Unmarshal(data, &want); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !slices.ContainsFunc(inline, func(o map[string]any) bool { return reflect.DeepEqual(o, want) }) {
			u := unstructured.Unstructured{Object: want}
			t.Errorf("%s (%s %s) is not inline in the catalog, or differs", filepath.Base(f), u.GetKind(), u.GetName())
		}
	}
}

// TestDependencies checks the resolver constraints the catalog gives OLM: bundle/metadata's
// dependencies.yaml is parsed only here, by opm, into olm.gvk.required properties.
func TestDependencies(t *testing.T) {
	csv := readCSV(t)
	b := theBundle(t, readBlobs(t, pkgName), csv.Name)
	var required, provided []gvk
	var pkgVersion string
	for _, p := range b.Properties {
		switch p.Type {
		case "olm.gvk.required", "olm.gvk":
			var g gvk
			if err := json.Unmarshal(p.Value, &g); err != nil {
				t.Fatal(err)
			}
			if p.Type == "olm.gvk" {
				provided = append(provided, g)
			} else {
				required = append(required, g)
			}
		case "olm.package":
			var v struct {
				PackageName string `json:"packageName"`
				Version     string `json:"version"`
			}
			if err := json.Unmarshal(p.Value, &v); err != nil {
				t.Fatal(err)
			}
			if v.PackageName != pkgName {
				t.Errorf("olm.package names %q, want %q", v.PackageName, pkgName)
			}
			pkgVersion = v.Version
		case "olm.package.required":
			t.Errorf("a package dependency (%s): Canopy depends on APIs, not on package names", p.Value)
		}
	}
	if pkgVersion != csv.Spec.Version.String() {
		t.Errorf("olm.package version %q, the CSV's %q", pkgVersion, csv.Spec.Version.String())
	}
	for _, want := range []gvk{
		{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
		{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"},
		{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"},
	} {
		if !slices.Contains(required, want) {
			t.Errorf("no olm.gvk.required for %s/%s %s; required: %v", want.Group, want.Version, want.Kind, required)
		}
	}
	for _, crd := range csv.Spec.CustomResourceDefinitions.Owned {
		group := crd.Name[strings.Index(crd.Name, ".")+1:]
		if !slices.Contains(provided, gvk{Group: group, Version: crd.Version, Kind: crd.Kind}) {
			t.Errorf("no olm.gvk for the owned %s %s", crd.Name, crd.Version)
		}
	}
	t.Logf("required: %v", required)
}

// TestChannel checks the package and channel blobs against the CSV: in a file-based catalog the
// upgrade graph is the channel entries, so each must repeat its CSV's replaces and olm.skipRange.
func TestChannel(t *testing.T) {
	csv := readCSV(t)
	blobs := readBlobs(t, pkgName)
	var pkgs, channels []blob
	for _, b := range blobs {
		switch b.Schema {
		case "olm.package":
			pkgs = append(pkgs, b)
		case "olm.channel":
			channels = append(channels, b)
		}
	}
	if len(pkgs) != 1 || pkgs[0].Name != pkgName || pkgs[0].DefaultChannel != channel {
		t.Fatalf("want one olm.package %s with defaultChannel %s, got %+v", pkgName, channel, pkgs)
	}
	if len(channels) != 1 || channels[0].Name != channel || channels[0].Package != pkgName {
		t.Fatalf("want one olm.channel %s of package %s, got %+v", channel, pkgName, channels)
	}
	entries := channels[0].Entries
	i := slices.IndexFunc(entries, func(e entry) bool { return e.Name == csv.Name })
	if i < 0 {
		t.Fatalf("channel %s has no entry for %s", channel, csv.Name)
	}
	e := entries[i]
	if e.Replaces != csv.Spec.Replaces {
		t.Errorf("entry %s replaces %q, the CSV %q", e.Name, e.Replaces, csv.Spec.Replaces)
	}
	if want := csv.Annotations[operatorsv1alpha1.SkipRangeAnnotationKey]; e.SkipRange != want {
		t.Errorf("entry %s skipRange %q, the CSV's olm.skipRange %q", e.Name, e.SkipRange, want)
	}
	if !slices.Equal(e.Skips, csv.Spec.Skips) {
		t.Errorf("entry %s skips %v, the CSV %v", e.Name, e.Skips, csv.Spec.Skips)
	}
	// Every entry names a bundle of the catalog (opm validate checks it too; this says which).
	for _, e := range entries {
		theBundle(t, blobs, e.Name)
	}
}
