package stack

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

func loadSample(t *testing.T, file string) *canopyv1alpha1.Stack {
	t.Helper()
	root, err := testenv.RepoRoot()
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(root, "config", "samples", file))
	require.NoError(t, err)
	s := &canopyv1alpha1.Stack{}
	require.NoError(t, yaml.UnmarshalStrict(data, s))
	s.Namespace, s.UID = "apps", "0b1c2d3e-0000-4000-8000-000000000001"
	return s
}

// TestGoldenChildren renders the children of every sample Stack; the goldens show a reviewer
// exactly what a Stack becomes.
func TestGoldenChildren(t *testing.T) {
	for _, file := range []string{"canopy_v1alpha1_stack.yaml", "canopy_v1alpha1_stack_s3.yaml", "canopy_v1alpha1_stack_minimal.yaml"} {
		t.Run(file, func(t *testing.T) {
			s := loadSample(t, file)
			var out bytes.Buffer
			objs := []any{
				Database(s),
				Frontend(s, FrontendInput{Version: s.Spec.Version, CredentialsSecretName: s.Name + "-db-credentials"}),
			}
			if bp := BackupPolicy(s, BackupInput{AppVersion: s.Spec.Version, BackupRequest: "pre-upgrade-g2"}); bp != nil {
				objs = append(objs, bp)
			}
			for _, obj := range objs {
				data, err := yaml.Marshal(obj)
				require.NoError(t, err)
				out.WriteString("---\n")
				out.Write(data)
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(file, ".yaml")+".golden.yaml")
			if *update {
				require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test -update to create the golden file")
			require.Equal(t, string(want), out.String())
		})
	}
}

func TestChildrenMetadata(t *testing.T) {
	s := loadSample(t, "canopy_v1alpha1_stack.yaml")
	for _, meta := range []struct {
		component string
		labels    map[string]string
		owners    int
		name      string
	}{
		{ComponentDatabase, Database(s).Labels, len(Database(s).OwnerReferences), Database(s).Name},
		{ComponentFrontend, Frontend(s, FrontendInput{}).Labels, len(Frontend(s, FrontendInput{}).OwnerReferences), Frontend(s, FrontendInput{}).Name},
		{ComponentBackup, BackupPolicy(s, BackupInput{}).Labels, len(BackupPolicy(s, BackupInput{}).OwnerReferences), BackupPolicy(s, BackupInput{}).Name},
	} {
		require.Equal(t, "shop", meta.name)
		require.Equal(t, meta.component, meta.labels[LabelComponent])
		require.Equal(t, "shop", meta.labels[LabelInstance])
		require.Equal(t, ManagedBy, meta.labels[LabelManagedBy])
		require.Equal(t, 1, meta.owners)
	}
	ref := Database(s).OwnerReferences[0]
	require.True(t, *ref.Controller)
	require.Equal(t, s.UID, ref.UID)
}

func TestChildrenRules(t *testing.T) {
	t.Run("no backup section, no BackupPolicy", func(t *testing.T) {
		s := loadSample(t, "canopy_v1alpha1_stack_minimal.yaml")
		require.Nil(t, BackupPolicy(s, BackupInput{}))
	})
	t.Run("no credentials yet, no database connection", func(t *testing.T) {
		s := loadSample(t, "canopy_v1alpha1_stack_minimal.yaml")
		require.Nil(t, Frontend(s, FrontendInput{Version: "1"}).Spec.Database)
	})
	t.Run("TLS reaches the frontend only with an ingress", func(t *testing.T) {
		s := loadSample(t, "canopy_v1alpha1_stack.yaml")
		require.NotNil(t, Frontend(s, FrontendInput{}).Spec.TLS)
		s.Spec.Frontend.Ingress = nil
		require.Nil(t, Frontend(s, FrontendInput{}).Spec.TLS)
		require.NotNil(t, Database(s).Spec.TLS, "the database is served over TLS all the same")
	})
	t.Run("the web tier verifies the database once the Database says its credentials do", func(t *testing.T) {
		s := loadSample(t, "canopy_v1alpha1_stack.yaml")
		require.False(t, Frontend(s, FrontendInput{CredentialsSecretName: "c"}).Spec.Database.TLS, "not before, even with spec.tls")
		require.True(t, Frontend(s, FrontendInput{CredentialsSecretName: "c", DatabaseTLS: true}).Spec.Database.TLS)
	})
	t.Run("the version comes from the orchestration, not the spec", func(t *testing.T) {
		s := loadSample(t, "canopy_v1alpha1_stack.yaml")
		require.Equal(t, "1.0.0", Frontend(s, FrontendInput{Version: "1.0.0"}).Spec.Version)
	})
	t.Run("data is retained by default", func(t *testing.T) {
		s := loadSample(t, "canopy_v1alpha1_stack.yaml")
		require.Equal(t, componentsv1alpha1.Retain, Database(s).Spec.VolumeRetention)
		require.Equal(t, componentsv1alpha1.Retain, BackupPolicy(s, BackupInput{}).Spec.BackupRetention)
	})
	t.Run("children always retain data; deletion retention follows the spec", func(t *testing.T) {
		s := loadSample(t, "canopy_v1alpha1_stack.yaml")
		require.Equal(t, canopyv1alpha1.DataRetention{PersistentVolumeClaims: componentsv1alpha1.Retain, Backups: componentsv1alpha1.Retain},
			DeletionRetention(s))
		s.Spec.DataRetention = &canopyv1alpha1.DataRetention{PersistentVolumeClaims: componentsv1alpha1.Delete, Backups: componentsv1alpha1.Delete}
		require.Equal(t, componentsv1alpha1.Retain, Database(s).Spec.VolumeRetention, "set only when the Stack is deleted")
		require.Equal(t, componentsv1alpha1.Retain, BackupPolicy(s, BackupInput{}).Spec.BackupRetention, "turning backups off must not delete them")
		require.Equal(t, canopyv1alpha1.DataRetention{PersistentVolumeClaims: componentsv1alpha1.Delete, Backups: componentsv1alpha1.Delete},
			DeletionRetention(s))
		s.Spec.DeletionPolicy = canopyv1alpha1.DeletionPolicyOrphan
		require.Equal(t, canopyv1alpha1.DataRetention{PersistentVolumeClaims: componentsv1alpha1.Retain, Backups: componentsv1alpha1.Retain},
			DeletionRetention(s))
	})
	t.Run("restore defaults to the backup destination", func(t *testing.T) {
		s := loadSample(t, "canopy_v1alpha1_stack.yaml")
		s.Spec.Restore = &canopyv1alpha1.StackRestore{BackupName: "shop-1"}
		b := Database(s).Spec.Bootstrap
		require.Equal(t, "shop-1", b.FromBackup.BackupName)
		require.Equal(t, s.Spec.Backup.Destination, b.FromBackup.Destination)
		explicit := componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{ClaimName: "elsewhere"}}
		s.Spec.Restore.Destination = &explicit
		require.Equal(t, explicit, Database(s).Spec.Bootstrap.FromBackup.Destination)
	})
	t.Run("backup-now annotation reaches the BackupPolicy", func(t *testing.T) {
		s := loadSample(t, "canopy_v1alpha1_stack.yaml")
		s.Annotations = map[string]string{canopyv1alpha1.AnnotationBackupNow: "1764158400", "other": "x"}
		bp := BackupPolicy(s, BackupInput{})
		require.Equal(t, map[string]string{canopyv1alpha1.AnnotationBackupNow: "1764158400"}, bp.Annotations)
	})
	t.Run("monitoring off reaches nobody", func(t *testing.T) {
		s := loadSample(t, "canopy_v1alpha1_stack.yaml")
		s.Spec.Monitoring = nil
		require.Nil(t, Database(s).Spec.Monitoring)
		require.Nil(t, Frontend(s, FrontendInput{}).Spec.Monitoring)
		s.Spec.Monitoring = &componentsv1alpha1.MonitoringSpec{Enabled: ptr.To(false)}
		require.False(t, Database(s).Spec.Monitoring.IsEnabled())
	})
}

func TestBackupMaxAge(t *testing.T) {
	for schedule, want := range map[string]string{
		"":               "",
		"0 2 * * *":      "48h",
		"@hourly":        "2h",
		"30 */6 * * *":   "12h",
		"0 3 * * 0":      "336h",
		"0 2 * * 1,3":    "240h", // Wednesday to Monday is the longest gap: 5 days
		"*/15 * * * *":   "30m",
		"61 2 * * *":     "", // invalid: no alert rather than a wrong one
		"not a schedule": "",
	} {
		require.Equal(t, want, BackupMaxAge(schedule), schedule)
	}
	s := loadSample(t, "canopy_v1alpha1_stack.yaml")
	require.Equal(t, "48h", Database(s).Spec.Monitoring.BackupMaxAge, "the sample backs up nightly")
	s.Spec.Backup.Suspend = true
	require.Empty(t, Database(s).Spec.Monitoring.BackupMaxAge, "no backup alert while backups are suspended")
}
