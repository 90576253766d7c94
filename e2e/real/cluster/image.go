package cluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
)

// Image is a container image the tier builds without a registry or a container engine: layers of
// files, packed as an OCI image archive that `ctr images import` loads.
type Image struct {
	// Names are the references containerd records (localhost/...:tag), the first one in the
	// archive, the others tagged after the import.
	Names []string
	// BaseTar is a root file system as a tar archive (mmdebstrap's output), the first layer.
	BaseTar string
	// Files are added as a layer of their own, over BaseTar.
	Files []File
	// Entrypoint, Cmd, Env (added to a PATH), User, WorkingDir and StopSignal are the image's
	// configuration, as in a Dockerfile.
	Entrypoint, Cmd, Env []string
	User, WorkingDir     string
	StopSignal           string
}

// File is one file (or directory, when Source and Data are empty and Mode is a directory's) of an
// image layer.
type File struct {
	// Path in the image, absolute.
	Path string
	// Source is a file on the host to copy; Data its content otherwise.
	Source string
	Data   []byte
	// Mode is the permission bits; os.ModeDir makes a directory, os.ModeSymlink a link to Link.
	Mode os.FileMode
	Link string
	// UID and GID own it.
	UID, GID int
}

// DefaultPath is the PATH of every image, before the image's own Env.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// WriteArchive writes img as an OCI image layout in a tar file at out.
func (img Image) WriteArchive(out string) error {
	type blob struct {
		digest string
		size   int64
		file   string // a blob written to a temporary file (a layer)
		data   []byte // or held in memory
	}
	var layers []blob
	var diffIDs []string
	tmpFiles := []string{}
	defer func() {
		for _, f := range tmpFiles {
			_ = os.Remove(f)
		}
	}()
	if img.BaseTar != "" {
		d, n, err := digestFile(img.BaseTar)
		if err != nil {
			return err
		}
		layers = append(layers, blob{digest: d, size: n, file: img.BaseTar})
		diffIDs = append(diffIDs, d)
	}
	if len(img.Files) > 0 {
		data, err := filesLayer(img.Files)
		if err != nil {
			return err
		}
		d := digest(data)
		layers = append(layers, blob{digest: d, size: int64(len(data)), data: data})
		diffIDs = append(diffIDs, d)
	}
	env := img.Env
	if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
		env = append([]string{"PATH=" + DefaultPath}, env...)
	}
	cfg := map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": env, "Entrypoint": img.Entrypoint, "Cmd": img.Cmd, "User": img.User,
			"WorkingDir": img.WorkingDir, "StopSignal": img.StopSignal},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	}
	cfgData, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	var layerDescs []map[string]any
	for _, l := range layers {
		layerDescs = append(layerDescs, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l.digest, "size": l.size})
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(cfgData), "size": len(cfgData)},
		"layers": layerDescs,
	})
	if err != nil {
		return err
	}
	name := img.Names[0]
	tag := "latest"
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		tag = name[i+1:]
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
		"manifests": []map[string]any{{
			"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(manifest), "size": len(manifest),
			"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag},
			"platform":    map[string]string{"architecture": "amd64", "os": "linux"},
		}},
	})
	if err != nil {
		return err
	}

	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	tw := tar.NewWriter(f)
	add := func(name string, size int64, r io.Reader) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := add("oci-layout", 30, strings.NewReader(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := add("index.json", int64(len(index)), bytes.NewReader(index)); err != nil {
		return err
	}
	blobs := append(layers, blob{digest: digest(cfgData), size: int64(len(cfgData)), data: cfgData},
		blob{digest: digest(manifest), size: int64(len(manifest)), data: manifest})
	for _, b := range blobs {
		name := "blobs/sha256/" + strings.TrimPrefix(b.digest, "sha256:")
		if b.file != "" {
			src, err := os.Open(b.file)
			if err != nil {
				return err
			}
			err = add(name, b.size, src)
			_ = src.Close()
			if err != nil {
				return err
			}
			continue
		}
		if err := add(name, b.size, bytes.NewReader(b.data)); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func digestFile(name string) (string, int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", 0, err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), n, nil
}

// filesLayer packs files as an uncompressed tar, parents first, with fixed times.
func filesLayer(files []File) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		name := strings.TrimPrefix(path.Clean(f.Path), "/")
		// Parent directories that no entry names, root-owned 0755, outermost first.
		var parents []string
		for dir := path.Dir(name); dir != "." && !dirs[dir]; dir = path.Dir(dir) {
			parents = append([]string{dir}, parents...)
			dirs[dir] = true
		}
		for _, dir := range parents {
			if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		h := &tar.Header{Name: name, Mode: int64(f.Mode.Perm()), Uid: f.UID, Gid: f.GID, Format: tar.FormatPAX}
		switch {
		case f.Mode&os.ModeDir != 0:
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
			dirs[name] = true
		case f.Mode&os.ModeSymlink != 0:
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		default:
			data := f.Data
			if f.Source != "" {
				var err error
				if data, err = os.ReadFile(f.Source); err != nil {
					return nil, err
				}
			}
			h.Typeflag, h.Size = tar.TypeReg, int64(len(data))
			f.Data = data
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
