package plugin

import (
	"archive/tar"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/canopy-dev/canopy/internal/desired/common"
	"github.com/canopy-dev/canopy/internal/golden"
)

// untar reads a report tarball into file name → content.
func untar(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	files := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		files[strings.TrimPrefix(h.Name, "canopy-report/")] = string(data)
	}
}

// TestReportHoldsNoSecretValue: the Stack's Secrets are in the report by key and size only, in no
// encoding, also when kubectl apply left a copy of them in an annotation; the Stack, its internal
// objects, workloads, events and the status tree are there.
func TestReportHoldsNoSecretValue(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	values := []string{"pw-7c1e9f0b2d4a-credentials", "superuser-5f8e2a91c3d7", "applied-b3d9e1f4a6c2", "s3-key-a1b2c3d4e5f6"}
	lbl := map[string]string{common.LabelStack: "shop", common.LabelComponent: "database"}
	require.NoError(t, f.C.Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: "shop-db-credentials", Labels: lbl},
		Data: map[string][]byte{"password": []byte(values[0]), "uri": []byte("postgresql://app:" + values[0] + "@shop-postgres:5432/app")}}))
	require.NoError(t, f.C.Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: "shop-db-superuser", Labels: lbl,
		Annotations: map[string]string{lastApplied: `{"apiVersion":"v1","kind":"Secret","stringData":{"password":"` + values[2] + `"}}`}},
		StringData: map[string]string{"password": values[1]}}))
	// Not Canopy's: the S3 credentials a user made. Not in the report at all.
	require.NoError(t, f.C.Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: "s3-credentials"},
		Data: map[string][]byte{"secretKey": []byte(values[3])}}))
	require.NoError(t, f.C.Create(t.Context(), &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: "shop.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "Stack", Namespace: f.NS, Name: "shop"}, Type: "Normal", Reason: "UpgradeSucceeded",
		Message: "version 1.4.2 serves", LastTimestamp: ago(3 * time.Hour)}))

	path := filepath.Join(t.TempDir(), "report.tar.gz")
	r := f.run("", "report", "shop", "-f", path)
	require.Equal(t, 0, r.code, r.err)
	require.Contains(t, r.out, "Wrote "+path)
	files := untar(t, path)
	for name, content := range files {
		for _, v := range values {
			for _, enc := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), base64.StdEncoding.EncodeToString([]byte("postgresql://app:" + v))} {
				require.NotContains(t, content, enc, "%s holds a Secret value", name)
			}
		}
	}
	require.Contains(t, files["objects/Secret.yaml"], "password: <redacted, about 27 bytes>", "a Secret keeps its keys and sizes")
	require.NotContains(t, files["objects/Secret.yaml"], "s3-credentials")
	require.NotContains(t, files["objects/Secret.yaml"], lastApplied)
	for _, want := range []string{"objects/Stack.yaml", "objects/Database.yaml", "objects/Frontend.yaml", "objects/BackupPolicy.yaml",
		"objects/StatefulSet.yaml", "objects/Deployment.yaml", "objects/Pod.yaml", "status.txt", "events.txt", "manager-log.txt", "README.txt"} {
		require.Contains(t, files, want)
	}
	require.Contains(t, files["events.txt"], "UpgradeSucceeded")
	require.Contains(t, files["status.txt"], "Nothing needs your attention.")
	require.Contains(t, files["manager-log.txt"], "no Canopy manager pod in the cluster", "envtest runs the manager nowhere")

	var res ReportResult
	r = f.run("", "report", "shop", "-f", filepath.Join(t.TempDir(), "r.tgz"), "-o", "json")
	require.NoError(t, json.Unmarshal([]byte(r.out), &res))
	require.Contains(t, res.Files, "objects/Secret.yaml")
	require.Contains(t, res.ManagerLog, "the manager runs outside it")
}

// TestReportManagerLog: manager-log.txt holds the lines of the running manager pods' logs that
// are about the Stack, none about another Stack, and no value of the Stack's Secrets even when the
// manager printed one.
func TestReportManagerLog(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	password := "pw-0d9c8b7a6f5e"
	uri := "postgresql://app:" + password + "@shop-postgres:5432/app"
	require.NoError(t, f.C.Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: "shop-db-credentials", Labels: map[string]string{common.LabelStack: "shop"}},
		Data:       map[string][]byte{"password": []byte(password), "uri": []byte(uri), "user": []byte("app")}}))

	running := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "canopy-system", Name: "canopy-manager-1", Labels: common.ManagerPodLabels()},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	pending := running.DeepCopy()
	pending.Name, pending.Status.Phase = "canopy-manager-2", corev1.PodPending
	cs := fake.NewClientset(running, pending)
	about := []string{
		`{"level":"info","msg":"Reconciling","controller":"stack","namespace":"` + f.NS + `","name":"shop"}`,
		`2026-06-01T12:00:00Z INFO upgrade started {"Stack": "` + f.NS + `/shop"}`,
	}
	leak := `{"level":"error","msg":"connecting","namespace":"` + f.NS + `","name":"shop","uri":"` + uri + `","b64":"` +
		base64.StdEncoding.EncodeToString([]byte(password)) + `"}`
	others := []string{
		`{"level":"info","msg":"Reconciling","controller":"stack","namespace":"` + f.NS + `","name":"blog"}`,
		`{"level":"info","msg":"Starting workers","controller":"stack"}`,
	}
	var asked []string
	cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		opts := a.(k8stesting.GenericAction).GetValue().(*corev1.PodLogOptions)
		asked = append(asked, fmt.Sprintf("%s container=%s tail=%d", a.GetNamespace(), opts.Container, *opts.TailLines))
		return true, &runtime.Unknown{Raw: []byte(strings.Join([]string{about[0], others[0], leak, others[1], about[1]}, "\n") + "\n")}, nil
	})
	f.clientset = cs

	path := filepath.Join(t.TempDir(), "report.tar.gz")
	r := f.run("", "report", "shop", "-f", path, "--log-lines", "300")
	require.Equal(t, 0, r.code, r.err)
	require.Len(t, asked, 1, "only the running pod's log is read")
	require.Equal(t, "canopy-system container=manager tail=300", asked[0])
	log := untar(t, path)["manager-log.txt"]
	require.Contains(t, log, "# pod canopy-system/canopy-manager-1: 3 of its last 300 lines are about Stack "+f.NS+"/shop\n")
	for _, l := range about {
		require.Contains(t, log, l+"\n")
	}
	for _, l := range others {
		require.NotContains(t, log, l)
	}
	require.Contains(t, log, `"msg":"connecting","namespace":"`+f.NS+`","name":"shop","uri":"<redacted>","b64":"<redacted>"`,
		"the line about the Stack stays, its Secret values go")
	for name, content := range untar(t, path) {
		for _, v := range []string{password, base64.StdEncoding.EncodeToString([]byte(password))} {
			require.NotContains(t, content, v, "%s holds a Secret value", name)
		}
	}
}

// TestReportOutput: without -f the report lands in the current folder under a name that says
// whose and when; the output names it, counts the files and says where the manager's lines come
// from. The tarball's size varies with the namespace's name and the objects' times: the golden
// shows it as SIZE.
func TestReportOutput(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	wd, err := os.Getwd()
	require.NoError(t, err)
	dir := t.TempDir()
	t.Chdir(dir)
	r := f.run("", "report", "shop")
	require.Equal(t, 0, r.code, r.err)
	_, err = os.Stat(filepath.Join(dir, "canopy-report-"+f.NS+"-shop-20260601-120000.tar.gz"))
	require.NoError(t, err, "the default file name")
	sized := regexp.MustCompile(`(\(\d+ files), [0-9.]+(?:B|Ki|Mi)\)`)
	require.Regexp(t, sized, r.out)
	golden.Compare(t, filepath.Join(wd, "testdata", "report.golden.txt"), []byte(sized.ReplaceAllString(r.out, "$1, SIZE)")))
}

// TestManagerLogLines: the lines kept from the manager's log are those about the Stack's
// namespace and name, as controller-runtime writes them in JSON or in console form.
func TestManagerLogLines(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{`{"level":"info","msg":"Reconciling","controller":"stack","namespace":"demo","name":"shop"}`, true},
		{`{"level":"error","msg":"Reconciler error","Database":{"name":"shop","namespace":"demo"}}`, true},
		{`2026-06-01T12:00:00Z INFO upgrade started {"Stack": "demo/shop"}`, true},
		{`{"level":"info","msg":"Reconciling","namespace":"demo","name":"shopping"}`, false},
		{`{"level":"info","msg":"Reconciling","namespace":"other","name":"shop"}`, false},
		{`{"level":"info","msg":"Starting workers","controller":"stack"}`, false},
	} {
		require.Equal(t, tc.want, mentions(tc.line, "demo", "shop"), tc.line)
	}
}
