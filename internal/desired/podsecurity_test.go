// Package desired_test holds the checks that span every builder of internal/desired.
package desired_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/backup"
	"github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/desired/frontend"
	"github.com/canopy-dev/canopy/internal/podsecurity"
)

const module = "github.com/canopy-dev/canopy/"

// podTemplate is one pod a builder produces, named for the failure message.
type podTemplate struct {
	name string
	meta metav1.ObjectMeta
	spec corev1.PodSpec
}

func jobPod(name string, j *batchv1.Job) podTemplate {
	return podTemplate{name, j.Spec.Template.ObjectMeta, j.Spec.Template.Spec}
}

// builders lists every exported function of internal/desired whose result holds a pod (a PodSpec
// or PodTemplateSpec, directly or inside a Job, CronJob, StatefulSet or Deployment), with the
// variants of input that change the pod: TLS, monitoring, S3 or volume destinations, a writable
// root filesystem. TestEveryPodBuilderIsListed fails when a builder is missing here.
var builders = map[string]func() []podTemplate{
	"internal/desired/database.StatefulSet": func() []podTemplate {
		var out []podTemplate
		for _, db := range databases() {
			for _, in := range []database.StatefulSetInput{
				{Image: "postgres:17", ExporterImage: "exporter:1", ConfigHash: "abc", VolumeSize: resource.MustParse("1Gi")},
				{Image: "postgres:17", ExporterImage: "exporter:1", ConfigHash: "abc", VolumeSize: resource.MustParse("1Gi"),
					Monitoring: true, TLS: true, DataVolume: database.MajorDataVolume("18", "b1"), KeepVolume: true},
			} {
				s := database.StatefulSet(db, in)
				out = append(out, podTemplate{fmt.Sprintf("StatefulSet %s tls=%v monitoring=%v", db.Name, in.TLS, in.Monitoring),
					s.Spec.Template.ObjectMeta, s.Spec.Template.Spec})
			}
		}
		return out
	},
	"internal/desired/database.RestoreJob": func() []podTemplate {
		var out []podTemplate
		for _, db := range databases() {
			for _, d := range destinations() {
				in := database.RestoreInput{AgentImage: "canopy:1", PostgresImage: "postgres:17",
					Source: componentsv1alpha1.BackupSource{BackupName: "shop-1", Stack: "other.shop", Destination: d}}
				out = append(out, jobPod("restore Job "+destName(d), database.RestoreJob(db, in, "r1")))
			}
		}
		return out
	},
	"internal/desired/frontend.Deployment": func() []podTemplate {
		var out []podTemplate
		for _, fe := range frontends() {
			d := frontend.Deployment(fe, "1.0.0")
			out = append(out, podTemplate{"Deployment " + fe.Name, d.Spec.Template.ObjectMeta, d.Spec.Template.Spec})
		}
		return out
	},
	"internal/desired/frontend.MigrationJob": func() []podTemplate {
		var out []podTemplate
		for _, fe := range frontends() {
			out = append(out, jobPod("migration Job "+fe.Name, frontend.MigrationJob(fe, "1.1.0")))
		}
		return out
	},
	"internal/desired/backup.BackupPod": func() []podTemplate {
		var out []podTemplate
		for _, bp := range policies() {
			out = append(out, podTemplate{"backup pod " + bp.Name, metav1.ObjectMeta{}, backup.BackupPod(bp, backupInput(), "b1")})
		}
		return out
	},
	"internal/desired/backup.BackupJob": func() []podTemplate {
		var out []podTemplate
		for _, bp := range policies() {
			for _, trigger := range []string{backup.TriggerRequest, backup.TriggerAnnotation} {
				out = append(out, jobPod("backup Job "+bp.Name+" "+trigger, backup.BackupJob(bp, backupInput(), "b1", trigger, "t1")))
			}
		}
		return out
	},
	"internal/desired/backup.CronJob": func() []podTemplate {
		var out []podTemplate
		for _, bp := range policies() {
			c := backup.CronJob(bp, backupInput())
			out = append(out, podTemplate{"CronJob " + bp.Name, c.Spec.JobTemplate.Spec.Template.ObjectMeta, c.Spec.JobTemplate.Spec.Template.Spec})
		}
		return out
	},
	"internal/desired/backup.PurgeJob": func() []podTemplate {
		var out []podTemplate
		for _, bp := range policies() {
			out = append(out, jobPod("purge Job "+bp.Name, backup.PurgeJob(bp, backupInput())))
		}
		return out
	},
	"internal/desired/backup.PurgePod": func() []podTemplate {
		var out []podTemplate
		for _, bp := range policies() {
			out = append(out, podTemplate{"purge pod " + bp.Name, metav1.ObjectMeta{}, backup.PurgePod(bp, backupInput())})
		}
		return out
	},
}

// TestEveryPodTemplateIsRestricted checks every pod Canopy can create with the upstream Pod
// Security admission evaluator (internal/podsecurity), at level restricted.
func TestEveryPodTemplateIsRestricted(t *testing.T) {
	for name, build := range builders {
		t.Run(name, func(t *testing.T) {
			pods := build()
			require.NotEmpty(t, pods)
			for _, p := range pods {
				require.NoError(t, podsecurity.CheckRestricted(&p.meta, &p.spec), p.name)
			}
		})
	}
}

// TestEveryPodBuilderIsListed type-checks internal/desired (from the compiler's export data) and
// finds every exported function or method whose results contain a corev1.PodSpec: each must be in
// builders, and each entry of builders must still exist.
func TestEveryPodBuilderIsListed(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs go list -export (make test and CI run it)")
	}
	found, err := podBuilders("./internal/desired/...")
	require.NoError(t, err)
	require.NotEmpty(t, found)
	var listed []string
	for k := range builders {
		listed = append(listed, k)
	}
	sort.Strings(listed)
	for _, f := range found {
		require.Contains(t, listed, f, "%s returns a pod template: add it to builders in this file so that its pods are checked", f)
	}
	for _, l := range listed {
		require.Contains(t, found, l, "builders lists %s, which no longer returns a pod template", l)
	}
}

// TestPodBuilderScanFindsPods is the negative control of the scan: a type that holds a pod deep
// inside (a CronJob) is found, one that does not (a ConfigMap) is not.
func TestPodBuilderScanFindsPods(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs go list -export (make test and CI run it)")
	}
	imp, _, err := exportImporter("k8s.io/api/batch/v1")
	require.NoError(t, err)
	batch, err := imp.Import("k8s.io/api/batch/v1")
	require.NoError(t, err)
	core, err := imp.Import("k8s.io/api/core/v1")
	require.NoError(t, err)
	require.True(t, holdsPod(types.NewPointer(batch.Scope().Lookup("CronJob").Type()), map[types.Type]bool{}))
	require.False(t, holdsPod(types.NewPointer(core.Scope().Lookup("ConfigMap").Type()), map[types.Type]bool{}))
}

// podBuilders returns "<package path below the module>.<Func>" (or ".<Type>.<Method>") of every
// exported function of the packages matching pattern whose results hold a pod.
func podBuilders(pattern string) ([]string, error) {
	imp, roots, err := exportImporter(pattern)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, path := range roots {
		pkg, err := imp.Import(path)
		if err != nil {
			return nil, err
		}
		short := strings.TrimPrefix(path, module)
		check := func(name string, sig *types.Signature) {
			for v := range sig.Results().Variables() {
				if holdsPod(v.Type(), map[types.Type]bool{}) {
					out = append(out, short+"."+name)
					return
				}
			}
		}
		for _, name := range pkg.Scope().Names() {
			obj := pkg.Scope().Lookup(name)
			if !obj.Exported() {
				continue
			}
			switch o := obj.(type) {
			case *types.Func:
				check(name, o.Type().(*types.Signature))
			case *types.TypeName:
				if named, ok := o.Type().(*types.Named); ok {
					for m := range named.Methods() {
						if m.Exported() {
							check(name+"."+m.Name(), m.Type().(*types.Signature))
						}
					}
				}
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// holdsPod reports whether a value of type t contains a corev1.PodSpec.
func holdsPod(t types.Type, seen map[types.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t := t.(type) {
	case *types.Named:
		if o := t.Obj(); o.Pkg() != nil && o.Pkg().Path() == "k8s.io/api/core/v1" && o.Name() == "PodSpec" {
			return true
		}
		return holdsPod(t.Underlying(), seen)
	case *types.Alias:
		return holdsPod(types.Unalias(t), seen)
	case *types.Pointer:
		return holdsPod(t.Elem(), seen)
	case *types.Slice:
		return holdsPod(t.Elem(), seen)
	case *types.Array:
		return holdsPod(t.Elem(), seen)
	case *types.Map:
		return holdsPod(t.Elem(), seen)
	case *types.Struct:
		for f := range t.Fields() {
			if holdsPod(f.Type(), seen) {
				return true
			}
		}
	}
	return false
}

// exportImporter builds the packages matching pattern and their dependencies (go list -export)
// and returns an importer reading the compiler's export data, and the matching packages' paths.
func exportImporter(pattern string) (types.Importer, []string, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Export,DepOnly", pattern)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go list: %w\n%s", err, stderr.String())
	}
	exports := map[string]string{}
	var roots []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath, Export string
			DepOnly            bool
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, nil, err
		}
		exports[p.ImportPath] = p.Export
		if !p.DepOnly && p.Export != "" { // a folder with only tests has nothing to export
			roots = append(roots, p.ImportPath)
		}
	}
	lookup := func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	}
	return importer.ForCompiler(token.NewFileSet(), "gc", lookup), roots, nil
}

// repoRoot is the folder of go.mod above the test's working directory.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not in a module")
	}
	return strings.TrimSuffix(mod, "/go.mod"), nil
}

func databases() []*componentsv1alpha1.Database {
	minimal := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Name: "min", Namespace: "apps"},
		Spec: componentsv1alpha1.DatabaseSpec{Version: "16", Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}}
	full := minimal.DeepCopy()
	full.Name = "full"
	full.Spec.Version = "17"
	full.Spec.TLS = &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: "ca"}}
	full.Spec.Monitoring = &componentsv1alpha1.DatabaseMonitoringSpec{MonitoringSpec: componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(true)}}
	full.Spec.VolumeRetention = componentsv1alpha1.Delete
	full.Spec.Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
	return []*componentsv1alpha1.Database{minimal, full}
}

func frontends() []*componentsv1alpha1.Frontend {
	minimal := &componentsv1alpha1.Frontend{ObjectMeta: metav1.ObjectMeta{Name: "min", Namespace: "apps"},
		Spec: componentsv1alpha1.FrontendSpec{Image: "app", Version: "1.0.0", Port: 8080,
			Migration: &componentsv1alpha1.MigrationSpec{Command: []string{"migrate"}}}}
	full := minimal.DeepCopy()
	full.Name = "full"
	full.Spec.Database = &componentsv1alpha1.DatabaseConnection{CredentialsSecretName: "full-db-credentials"}
	full.Spec.Env = []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "debug"}}
	full.Spec.Probes = &componentsv1alpha1.ProbesSpec{Readiness: &componentsv1alpha1.HTTPProbe{Path: "/ready"},
		Liveness: &componentsv1alpha1.HTTPProbe{Path: "/live"}}
	full.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
	writable := minimal.DeepCopy()
	writable.Name = "writable"
	writable.Spec.ReadOnlyRootFilesystem = ptr.To(false)
	return []*componentsv1alpha1.Frontend{minimal, full, writable}
}

func destinations() []componentsv1alpha1.BackupDestination {
	return []componentsv1alpha1.BackupDestination{
		{Volume: &componentsv1alpha1.VolumeDestination{Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}},
		{Volume: &componentsv1alpha1.VolumeDestination{ClaimName: "mine"}},
		{S3: &componentsv1alpha1.S3Destination{Endpoint: "https://s3.example.com", Bucket: "backups", Prefix: "p",
			CredentialsSecret: corev1.LocalObjectReference{Name: "s3"}}},
	}
}

func destName(d componentsv1alpha1.BackupDestination) string {
	if d.S3 != nil {
		return "s3"
	}
	return "volume"
}

func policies() []*componentsv1alpha1.BackupPolicy {
	var out []*componentsv1alpha1.BackupPolicy
	for i, d := range destinations() {
		out = append(out, &componentsv1alpha1.BackupPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("shop-%s-%d", destName(d), i), Namespace: "apps"},
			Spec: componentsv1alpha1.BackupPolicySpec{DatabaseName: "shop", Schedule: "0 2 * * *", Destination: d, TimeoutSeconds: 3600,
				ScratchSize: ptr.To(resource.MustParse("2Gi"))}})
	}
	return out
}

func backupInput() backup.Input {
	return backup.Input{AgentImage: "canopy:1", PostgresImage: "postgres:17", CredentialsSecret: "shop-db-credentials", DatabaseVersion: "17"}
}
