package agent_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/desired/backup"
	"github.com/canopy-dev/canopy/internal/pgtest"
)

// TestPurgeDeletesOnlyTheStacksBackups runs the purge Job's pod (backup.PurgePod, the real canopy
// binary) against a real S3 server and a volume: every backup of the stack is gone, and everything
// that is not one of them — another stack's backups, files Canopy did not write — is left.
func TestPurgeDeletesOnlyTheStacksBackups(t *testing.T) {
	ww := requireWorld(t)
	now := time.Now().UTC()
	for _, dest := range []string{"s3", "volume"} {
		t.Run(dest, func(t *testing.T) {
			var (
				store  agent.Store
				bp     *componentsv1alpha1.BackupPolicy
				claims map[string]string
			)
			if dest == "s3" {
				prefix := pgtest.UniqueName("purge")
				store = ww.s3.store(t, prefix)
				bp = policy("shop", s3Destination(ww, prefix), componentsv1alpha1.RetentionPolicy{})
			} else {
				dir := claimDir(t, ww)
				store = agent.NewVolumeStore(dir)
				bp = policy("shop", volumeDestination(), componentsv1alpha1.RetentionPolicy{})
				claims = map[string]string{backup.ClaimName(bp): dir}
			}
			seedBackup(t, store, "apps.shop", "shop-1", now.Add(-48*time.Hour))
			seedBackup(t, store, "apps.shop", "shop-2", now.Add(-time.Hour))
			foreign := seedForeign(t, store, "apps.shop", now)

			run := runPod(t, ww, backup.PurgePod(bp, backupInput()), testSecrets(ww, "", ww.s3.accessKey, ww.s3.secretKey), claims)
			res := run.container("agent").result(t)
			require.True(t, res.Succeeded, "%+v", res)
			require.Equal(t, agent.OperationPurge, res.Operation)
			require.ElementsMatch(t, []string{"shop-1", "shop-2"}, res.Deleted)
			require.Empty(t, backupNames(t, store, "apps.shop"), "no backup of the stack is left")
			requireKeys(t, store, foreign, []string{
				"apps.shop/shop-1/" + agent.DumpFile, "apps.shop/shop-1/" + agent.ManifestFile,
				"apps.shop/shop-2/" + agent.DumpFile, "apps.shop/shop-2/" + agent.ManifestFile,
			})
			require.Equal(t, []string{"other-stack-1"}, backupNames(t, store, "other-stack"), "another stack's backups stay")
		})
	}
}
