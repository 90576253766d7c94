package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// maxManifestBytes bounds what is read of a manifest: a real one is a few hundred bytes, and a
// foreign file of that name must not exhaust memory.
const maxManifestBytes = 1 << 20

// encodeManifest is the manifest as stored: indented, for people who open it.
func encodeManifest(m Manifest) []byte {
	b, _ := json.MarshalIndent(m, "", "  ") // a Manifest always encodes
	return append(b, '\n')
}

// errForeign marks a manifest.json that Canopy did not write for this backup.
var errForeign = errors.New("not a Canopy backup")

// decodeManifest parses and checks a manifest found at <stack>/<name>/manifest.json: it must have
// been written by Canopy, in a format this agent knows, for that very stack and name (a copied or
// hand-made folder is not a backup).
func decodeManifest(b []byte, stack, name string) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: manifest is not valid JSON: %v", errForeign, err)
	}
	switch {
	case m.WrittenBy != WrittenBy:
		return m, fmt.Errorf("%w: manifest written by %q", errForeign, m.WrittenBy)
	case m.Format < 1 || m.Format > ManifestFormatEncrypted:
		return m, fmt.Errorf("%w: manifest format %d, this agent reads formats %d and %d", errForeign, m.Format, ManifestFormat, ManifestFormatEncrypted)
	case (m.Format == ManifestFormatEncrypted) != (m.Encryption != nil):
		return m, fmt.Errorf("%w: manifest format %d with encryption %v", errForeign, m.Format, m.Encryption != nil)
	case m.Stack != stack || m.Name != name:
		return m, fmt.Errorf("%w: manifest describes %s/%s, not %s/%s", errForeign, m.Stack, m.Name, stack, name)
	}
	return m, nil
}

// readManifest fetches and checks the manifest of one backup. Errors wrap ErrNotFound when there is
// no manifest, errForeign when there is one Canopy did not write, or the Store's error.
func readManifest(ctx context.Context, store Store, stack, name string) (Manifest, error) {
	rc, err := store.Get(ctx, manifestKey(stack, name))
	if err != nil {
		return Manifest{}, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes+1))
	if err != nil {
		return Manifest{}, err
	}
	if len(b) > maxManifestBytes {
		return Manifest{}, fmt.Errorf("%w: manifest larger than %d bytes", errForeign, maxManifestBytes)
	}
	return decodeManifest(bytes.TrimSpace(b), stack, name)
}

// ListBackups returns the backups of stack at the destination, newest first: the folders
// <stack>/<name>/ that hold both a dump and a manifest Canopy wrote for that stack and name.
// Anything else (loose files, folders without a manifest, manifests written by others) is not a
// backup and is left out.
func ListBackups(ctx context.Context, store Store, stack string) ([]Manifest, error) {
	keys, err := store.List(ctx, stackKey(stack))
	if err != nil {
		return nil, err
	}
	type folder struct{ dump, manifest bool }
	folders := map[string]*folder{}
	for _, k := range keys {
		parts := strings.Split(strings.TrimPrefix(k, stackKey(stack)), "/")
		if len(parts) != 2 || !validSegment(parts[0]) {
			continue
		}
		f := folders[parts[0]]
		if f == nil {
			f = &folder{}
			folders[parts[0]] = f
		}
		switch parts[1] {
		case DumpFile:
			f.dump = true
		case ManifestFile:
			f.manifest = true
		}
	}
	var backups []Manifest
	for name, f := range folders {
		if !f.dump || !f.manifest {
			continue
		}
		m, err := readManifest(ctx, store, stack, name)
		switch {
		case errors.Is(err, errForeign), errors.Is(err, ErrNotFound): // not ours, or deleted meanwhile
			continue
		case err != nil:
			// Fail rather than skip: a backup missing from the list could make retention pick
			// the wrong "newest".
			return nil, fmt.Errorf("reading the manifest of %s: %w", name, err)
		}
		backups = append(backups, m)
	}
	sortNewestFirst(backups)
	return backups, nil
}

// sortNewestFirst orders backups by completion time, newest first; names break ties, so the order
// is the same on every run.
func sortNewestFirst(backups []Manifest) {
	sort.SliceStable(backups, func(i, j int) bool {
		a, b := backups[i], backups[j]
		if !a.CompletionTime.Equal(b.CompletionTime) {
			return a.CompletionTime.After(b.CompletionTime)
		}
		return a.Name > b.Name
	})
}
