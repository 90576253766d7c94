// Package apis_test proves the API's admission rules against a real kube-apiserver: every manifest
// in testdata/admission/invalid is rejected with the message it names, and every sample and
// testdata/admission/valid manifest is accepted.
package apis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canopy-dev/canopy/internal/testenv"
)

var (
	env    *testenv.Env
	update = flag.Bool("update", false, "rewrite golden files")
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, &env, testenv.Options{}))
}

// corpusCase is one manifest file. Every document but the last is applied and must be accepted;
// the last is applied (created, or updated when an earlier document has its name) and is checked.
type corpusCase struct {
	name    string
	expects []string
	docs    []*unstructured.Unstructured
}

// Messages that betray a rule that failed to evaluate instead of explaining the problem.
var sloppyMessages = []string{"no such key", "no such overload", "evaluation error", "compilation failed", "Internal error"}

func TestAdmissionRejectsInvalidManifests(t *testing.T) {
	e := testenv.Require(t, env)
	cases := loadCorpus(t, filepath.Join("testdata", "admission", "invalid"))
	stacks := 0
	for _, tc := range cases {
		if tc.docs[len(tc.docs)-1].GetKind() == "Stack" {
			stacks++
		}
	}
	require.GreaterOrEqual(t, stacks, 100, "the corpus must hold at least 100 invalid Stacks")

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.NotEmpty(t, tc.expects, "%s: add a '# expect: <message substring>' line", tc.name)
			ns := e.Namespace(t)
			last := len(tc.docs) - 1
			for _, doc := range tc.docs[:last] {
				require.NoError(t, apply(e.Client, ns, doc), "setup document %s must be accepted", doc.GetName())
			}
			err := apply(e.Client, ns, tc.docs[last])
			require.Error(t, err, "the API server accepted an invalid manifest")
			t.Log(err)
			require.True(t, apierrors.IsInvalid(err) || apierrors.IsBadRequest(err), "want a validation error, got %v", err)
			for _, want := range tc.expects {
				require.Contains(t, err.Error(), want)
			}
			for _, bad := range sloppyMessages {
				require.NotContains(t, err.Error(), bad, "a validation rule failed to evaluate")
			}
			requireFieldNamed(t, err)
		})
	}
}

func TestAdmissionAcceptsSamplesAndValidManifests(t *testing.T) {
	e := testenv.Require(t, env)
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	cases := loadCorpus(t, filepath.Join(root, "config", "samples"))
	require.NotEmpty(t, cases)
	cases = append(cases, loadCorpus(t, filepath.Join("testdata", "admission", "valid"))...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := e.Namespace(t)
			for _, doc := range tc.docs {
				require.NoError(t, apply(e.Client, ns, doc), "document %s must be accepted", doc.GetName())
			}
		})
	}
}

// TestAdmissionDefaults pins the defaults a minimal Stack receives: a change shows in the golden file.
func TestAdmissionDefaults(t *testing.T) {
	e := testenv.Require(t, env)
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	docs := readDocs(t, filepath.Join(root, "config", "samples", "canopy_v1alpha1_stack_minimal.yaml"))
	ns := e.Namespace(t)
	require.NoError(t, apply(e.Client, ns, docs[0]))

	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(docs[0].GroupVersionKind())
	require.NoError(t, e.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: docs[0].GetName()}, got))
	spec, err := json.MarshalIndent(got.Object["spec"], "", "  ")
	require.NoError(t, err)
	compareGolden(t, filepath.Join("testdata", "admission", "defaults", "minimal-stack.spec.golden.json"), append(spec, '\n'))

	// The defaults a user relies on, spelled out so that a failing golden is easy to read.
	for path, want := range map[string]any{
		"deletionPolicy":                   "Delete",
		"database.version":                 "17",
		"database.storage.size":            "1Gi",
		"database.expectedConnections":     int64(100),
		"frontend.port":                    int64(8080),
		"frontend.progressDeadlineSeconds": int64(600),
		"frontend.metricsPath":             "/metrics",
		"rollout.stepTimeout":              "15m",
	} {
		v, found, err := unstructured.NestedFieldNoCopy(got.Object, append([]string{"spec"}, strings.Split(path, ".")...)...)
		require.NoError(t, err, path)
		require.True(t, found, "default of spec.%s missing", path)
		require.Equal(t, want, v, "default of spec.%s", path)
	}
}

// TestAdmissionBackupDefaults pins the defaults of the backup section once a user adds one.
func TestAdmissionBackupDefaults(t *testing.T) {
	e := testenv.Require(t, env)
	ns := e.Namespace(t)
	obj := decode(t, `
apiVersion: canopy.dev/v1alpha1
kind: Stack
metadata: {name: backed}
spec:
  version: "1"
  frontend: {image: example.com/app}
  backup:
    destination: {volume: {}}
  tls: {issuerRef: {name: ca}}
  monitoring: {}
`)
	require.NoError(t, apply(e.Client, ns, obj))
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(obj.GroupVersionKind())
	require.NoError(t, e.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "backed"}, got))
	for path, want := range map[string]any{
		"backup.beforeUpgrade":                   true,
		"backup.timeoutSeconds":                  int64(3600),
		"backup.retention.keepLast":              int64(7),
		"backup.destination.volume.storage.size": "1Gi",
		"tls.issuerRef.kind":                     "Issuer",
		"tls.issuerRef.group":                    "cert-manager.io",
		"monitoring.enabled":                     true,
		"monitoring.interval":                    "30s",
	} {
		v, found, err := unstructured.NestedFieldNoCopy(got.Object, append([]string{"spec"}, strings.Split(path, ".")...)...)
		require.NoError(t, err, path)
		require.True(t, found, "default of spec.%s missing", path)
		require.Equal(t, want, v, "default of spec.%s", path)
	}
}

// notChecked is the API server's note that CEL rules were skipped because of an earlier error; it
// carries no field and is not a rule's message.
const notChecked = "some validation rules were not checked"

// requireFieldNamed fails when a cause of a validation error names no field (the path <nil>, a rule
// on the root without fieldPath) or only spec (a cross-field rule without fieldPath): the user
// must learn which field is wrong.
func requireFieldNamed(t *testing.T, err error) {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return
	}
	for _, cause := range status.Status().Details.Causes {
		if strings.Contains(cause.Message, notChecked) {
			continue
		}
		require.NotEmpty(t, cause.Field, "the error must name the field, not <nil>: %s", cause.Message)
		require.NotEqual(t, "spec", cause.Field, "the error must name the field under spec, not just spec: %s", cause.Message)
	}
}

// apply creates obj in ns, or updates it when it exists, with strict field validation so that
// unknown fields are errors rather than silently dropped.
func apply(c client.Client, ns string, obj *unstructured.Unstructured) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := obj.DeepCopy()
	o.SetNamespace(ns)
	current := &unstructured.Unstructured{}
	current.SetGroupVersionKind(o.GroupVersionKind())
	err := c.Get(ctx, client.ObjectKeyFromObject(o), current)
	switch {
	case apierrors.IsNotFound(err):
		return c.Create(ctx, o, &client.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	case err != nil:
		return err
	}
	o.SetResourceVersion(current.GetResourceVersion())
	return c.Update(ctx, o, &client.UpdateOptions{FieldValidation: metav1.FieldValidationStrict})
}

func loadCorpus(t *testing.T, dir string) []corpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	require.NoError(t, err)
	sort.Strings(files)
	var cases []corpusCase
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		tc := corpusCase{name: strings.TrimSuffix(filepath.Base(f), ".yaml"), docs: readDocs(t, f)}
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "# expect:"); ok {
				tc.expects = append(tc.expects, strings.TrimSpace(rest))
			}
		}
		require.NotEmpty(t, tc.docs, "%s holds no manifest", f)
		cases = append(cases, tc)
	}
	return cases
}

func readDocs(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var docs []*unstructured.Unstructured
	for {
		obj := map[string]any{}
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err, path)
		if len(obj) > 0 {
			docs = append(docs, &unstructured.Unstructured{Object: obj})
		}
	}
}

func decode(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := map[string]any{}
	require.NoError(t, utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096).Decode(&obj))
	return &unstructured.Unstructured{Object: obj}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run go test with -update")
	require.Equal(t, string(want), string(got), "golden %s differs (go test -update rewrites it)", path)
}
