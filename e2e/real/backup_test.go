//go:build realpods

package real

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// TestBackupAndRestoreIntoANewStack (scenario 3): the backup agent really dumps the database into
// the bucket; the object has the size and SHA-256 the catalogue records; a new Stack restored
// from it serves the rows written before the backup and not the one written after.
func TestBackupAndRestoreIntoANewStack(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	ctx := context.Background()
	backups := withS3Backups(t, ns)
	newStack(t, ns, "shop", backups, func(s *canopyv1alpha1.Stack) { s.Spec.Frontend.Replicas = nil })
	waitReady(t, ns, "shop", appVersions[0])
	shop := fmt.Sprintf("http://shop-web.%s.svc", ns)
	for _, note := range []string{"before-1", "before-2"} {
		code, body, err := post(t, shop+"/notes", note)
		require.NoError(t, err)
		require.Equal(t, 200, code, body)
	}

	token := fmt.Sprint(time.Now().Unix())
	start := time.Now()
	testenv.Mutate(t, c.Client, client.ObjectKey{Namespace: ns, Name: "shop"}, func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false,
		func(s *canopyv1alpha1.Stack) {
			if s.Annotations == nil {
				s.Annotations = map[string]string{}
			}
			s.Annotations[canopyv1alpha1.AnnotationBackupNow] = token
		})
	var backup componentsv1alpha1.BackupRecord
	require.True(t, assertEventually(wait, time.Second, func() bool {
		bp := &componentsv1alpha1.BackupPolicy{}
		if c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "shop"}, bp) != nil {
			return false
		}
		for _, b := range bp.Status.Backups {
			if b.Request == token && b.SHA256 != "" {
				backup = b
				return true
			}
		}
		return false
	}), "the backup asked for with %s is catalogued", token)
	t.Logf("backup %s catalogued %s after the request: %d bytes, sha256 %s, at %s", backup.Name,
		time.Since(start).Round(100*time.Millisecond), backup.SizeBytes, backup.SHA256, backup.Location)
	code, body, err := post(t, shop+"/notes", "after")
	require.NoError(t, err)
	require.Equal(t, 200, code, body)

	// The object in versitygw's folder (the bucket is a folder of its root).
	key := strings.TrimPrefix(backup.Location, "s3://")
	data, err := os.ReadFile(filepath.Join(c.S3Root(), key))
	require.NoError(t, err, "the catalogued object %s is in the bucket", backup.Location)
	sum := sha256.Sum256(data)
	require.Equal(t, backup.SizeBytes, int64(len(data)), "size of the stored object")
	require.Equal(t, backup.SHA256, hex.EncodeToString(sum[:]), "SHA-256 of the stored object")

	start = time.Now()
	newStack(t, ns, "copy", backups, func(s *canopyv1alpha1.Stack) {
		s.Spec.Frontend.Replicas = nil
		s.Spec.Restore = &canopyv1alpha1.StackRestore{BackupName: backup.Name, Stack: "shop"}
	})
	waitReady(t, ns, "copy", appVersions[0])
	t.Logf("restored Stack Ready in %s", time.Since(start).Round(100*time.Millisecond))
	code, body, err = get(fmt.Sprintf("http://copy-web.%s.svc/", ns))
	require.NoError(t, err)
	require.Equal(t, 200, code, body)
	require.Contains(t, body, `2 notes, last "before-2"`, "the restored database has the rows written before the backup, not after")
}

// readObject reads a backup's object from versitygw's folder (s3://bucket/key).
func readObject(location string) ([]byte, error) {
	return os.ReadFile(filepath.Join(c.S3Root(), strings.TrimPrefix(location, "s3://")))
}

// requireStoredAsCatalogued checks the stored object's size and SHA-256 against the catalogue.
func requireStoredAsCatalogued(t *testing.T, b componentsv1alpha1.BackupRecord) {
	t.Helper()
	data, err := readObject(b.Location)
	require.NoError(t, err, "the catalogued object %s is in the bucket", b.Location)
	sum := sha256.Sum256(data)
	require.Equal(t, b.SizeBytes, int64(len(data)), "size of the stored object")
	require.Equal(t, b.SHA256, hex.EncodeToString(sum[:]), "SHA-256 of the stored object")
}
