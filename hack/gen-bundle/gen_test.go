package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

const root = "../.."

// TestCommittedBundleIsGenerated: bundle/ holds exactly what the generator writes, and a second
// run writes the same bytes (no clock, no map order).
func TestCommittedBundleIsGenerated(t *testing.T) {
	first, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Generate(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != len(second) {
		t.Fatalf("two runs wrote %d and %d files", len(first), len(second))
	}
	for i := range first {
		if first[i].Path != second[i].Path || !bytes.Equal(first[i].Data, second[i].Data) {
			t.Fatalf("two runs differ at %s", first[i].Path)
		}
	}

	want := map[string][]byte{}
	for _, f := range first {
		want[f.Path] = f.Data
	}
	var committed []string
	for _, dir := range []string{"manifests", "metadata", "tests"} {
		err := filepath.WalkDir(filepath.Join(root, "bundle", dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(filepath.Join(root, "bundle"), p)
			committed = append(committed, rel)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(committed)
	for _, p := range committed {
		data, err := os.ReadFile(filepath.Join(root, "bundle", p))
		if err != nil {
			t.Fatal(err)
		}
		w, ok := want[p]
		switch {
		case !ok:
			t.Errorf("bundle/%s is not generated: run make bundle", p)
		case !bytes.Equal(w, data):
			t.Errorf("bundle/%s is stale: run make bundle", p)
		}
		delete(want, p)
	}
	for p := range want {
		t.Errorf("bundle/%s is missing: run make bundle", p)
	}
}

func TestSplitRules(t *testing.T) {
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"secrets", "services"}, Verbs: []string{"get"}},
		{APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}, Verbs: []string{"list"}},
		{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
		{APIGroups: []string{"canopy.dev"}, Resources: []string{"stacks/status"}, Verbs: []string{"update"}},
	}
	ns, cl, err := SplitRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 || ns[0].Resources[1] != "services" || ns[1].Resources[0] != "stacks/status" {
		t.Errorf("namespaced rules: %v", ns)
	}
	if len(cl) != 2 || cl[0].Resources[0] != "storageclasses" || cl[1].NonResourceURLs[0] != "/metrics" {
		t.Errorf("cluster rules: %v", cl)
	}
	if _, _, err := SplitRules([]rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}}); err == nil {
		t.Error("a resource of unknown scope must be refused")
	}
}
