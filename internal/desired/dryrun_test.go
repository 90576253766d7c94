package desired_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/specgen"
	"github.com/canopy-dev/canopy/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(run(m)) }

// run starts a control plane with Canopy's CRDs and those of the optional kinds the builders make:
// cert-manager's Certificate and prometheus-operator's ServiceMonitor and PrometheusRule.
func run(m *testing.M) int {
	cm, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	po, err := testenv.DownloadModule(testenv.PrometheusOperatorModule)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return testenv.Main(m, &env, testenv.Options{ExtraCRDDirs: []string{
		filepath.Join(cm, "deploy", "crds", "cert-manager.io_certificates.yaml"),
		filepath.Join(po, "example", "prometheus-operator-crd", "monitoring.coreos.com_servicemonitors.yaml"),
		filepath.Join(po, "example", "prometheus-operator-crd", "monitoring.coreos.com_prometheusrules.yaml"),
	}})
}

// generatedInputs is how many pseudo-random inputs (from a fixed seed) the dry-run test adds to
// the committed fuzz corpus.
const generatedInputs = 24

// TestFuzzCorpusIsAdmitted dry-runs, against a real API server, what the fuzz targets of the
// builder packages explore: for every committed corpus entry and a fixed set of generated inputs,
// the generated Stack is created and every object built from it (its Database, Frontend and
// BackupPolicy, and the workloads, Services, ConfigMaps, Secrets, policies, Certificates and
// monitors their controllers create) is server-side applied, both with dryRun=All. The fuzz targets
// check what can be checked offline; this test checks the rest of the API server's validation: the
// generator stays within admission, and the builders produce nothing the API server refuses.
func TestFuzzCorpusIsAdmitted(t *testing.T) {
	e := testenv.Require(t, env)
	ns := e.Namespace(t)
	inputs := fuzzCorpus(t)
	require.GreaterOrEqual(t, len(inputs), 4, "each fuzz target commits a seed corpus")
	r := rand.NewChaCha8([32]byte{17}) // reproducible inputs
	for i := range generatedInputs {
		data := make([]byte, 1024+i*128)
		_, _ = r.Read(data)
		inputs[fmt.Sprintf("generated/%02d", i)] = data
	}
	kinds := map[string]int{}
	for name, data := range inputs {
		c := specgen.Generate(data)
		c.Stack.Namespace = ns
		objs := c.Objects()
		require.NoError(t, specgen.Check(c, objs), name)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		st := c.Stack.DeepCopy()
		st.UID, st.Generation = "", 0
		require.NoError(t, e.Client.Create(ctx, st, client.DryRunAll), "%s: the generated Stack must be admitted", name)
		for _, o := range objs {
			u, err := toUnstructured(o)
			require.NoError(t, err)
			err = e.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("canopy-fuzz"), client.ForceOwnership, client.DryRunAll)
			require.NoError(t, err, "%s: %s %s built from the Stack %s", name, u.GetKind(), u.GetName(), c.Stack.Name)
			kinds[u.GetKind()]++
		}
		cancel()
	}
	t.Logf("%d inputs, objects dry-run by kind: %v", len(inputs), kinds)
	// Dry runs persist nothing, and a dry run does refuse what the API server refuses: a Job whose
	// name, a label value of its pods, is too long (what MigrationJobName built before the fuzz
	// target found it).
	var stacks canopyv1alpha1.StackList
	require.NoError(t, e.Client.List(context.Background(), &stacks, client.InNamespace(ns)))
	require.Empty(t, stacks.Items)
	c := specgen.Generate([]byte{0xff, 0xff})
	c.Stack.Namespace = ns
	c.Stack.Name = strings.Repeat("s", 40)
	var job client.Object
	for _, o := range c.Objects() {
		if o.GetObjectKind().GroupVersionKind().Kind == "Job" {
			job = o
		}
	}
	require.NotNil(t, job)
	u, err := toUnstructured(job)
	require.NoError(t, err)
	u.SetName(strings.Repeat("j", 64))
	err = e.Client.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("canopy-fuzz"), client.DryRunAll)
	require.ErrorContains(t, err, "must be no more than 63")
	for _, kind := range []string{"Stack", "Database", "Frontend", "BackupPolicy", "StatefulSet", "Deployment", "Service", "ConfigMap", "Secret",
		"NetworkPolicy", "PodDisruptionBudget", "Job", "CronJob", "Ingress", "HorizontalPodAutoscaler", "Certificate", "ServiceMonitor",
		"PrometheusRule", "PersistentVolumeClaim"} {
		if kind != "Stack" {
			require.Positive(t, kinds[kind], "no input built a %s: the corpus or the generator lost coverage", kind)
		}
	}
}

func toUnstructured(o client.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	return &unstructured.Unstructured{Object: m}, nil
}

// fuzzCorpus reads the committed corpus of every fuzz target of the builder packages
// (<package>/testdata/fuzz/<FuzzName>/<entry>, Go's "go test fuzz v1" files of one []byte).
func fuzzCorpus(t *testing.T) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("*", "testdata", "fuzz", "Fuzz*", "*"))
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, file := range files {
		data, err := readCorpusEntry(file)
		require.NoError(t, err, file)
		out[file] = data
	}
	return out
}

func readCorpusEntry(file string) ([]byte, error) {
	f, err := os.Open(file) //nolint:gosec // a path of the repository's corpus
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<24)
	var lines []string
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(lines) != 2 || lines[0] != "go test fuzz v1" || !strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		return nil, fmt.Errorf("not a corpus entry of one []byte: %q", lines)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}
