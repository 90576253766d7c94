//go:build realpods

package real

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/e2e/real/cluster"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/testenv"
)

func update(t *testing.T, ns, name string, change func(*canopyv1alpha1.Stack)) {
	t.Helper()
	testenv.Mutate(t, c.Client, client.ObjectKey{Namespace: ns, Name: name}, func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false, change)
}

// prober asks url every 100 ms until stopped and counts the answers that were not 200.
type prober struct {
	total, failed atomic.Int64
	mu            sync.Mutex
	failures      []string
	stop          chan struct{}
	done          chan struct{}
}

func probe(url string) *prober {
	p := &prober{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			code, body, err := getOnce(url)
			p.total.Add(1)
			if err != nil || code != 200 {
				p.failed.Add(1)
				p.mu.Lock()
				if len(p.failures) < 10 {
					p.failures = append(p.failures, fmt.Sprintf("%d %v %s", code, err, strings.TrimSpace(body)))
				}
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *prober) finish() (total, failed int64, failures []string) {
	close(p.stop)
	<-p.done
	return p.total.Load(), p.failed.Load(), p.failures
}

// TestUpgradeToPodsThatNeverBecomeReady (scenario 4): the new version's pods really fail their
// readiness probe (the image is built with SAMPLE_APP_UNHEALTHY=1); after the progress deadline
// Canopy rolls back, status.version never shows the failing version, and the application answers
// every request through its Service during the whole attempt.
func TestUpgradeToPodsThatNeverBecomeReady(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "rb", func(s *canopyv1alpha1.Stack) { s.Spec.Frontend.ProgressDeadlineSeconds = 30 })
	waitReady(t, ns, "rb", appVersions[0])
	p := probe(fmt.Sprintf("http://rb-web.%s.svc/", ns))

	update(t, ns, "rb", func(s *canopyv1alpha1.Stack) { s.Spec.Version = brokenVersion })
	start := time.Now()
	sawBroken := false
	ok := assertEventually(wait, 500*time.Millisecond, func() bool {
		s := stack(t, ns, "rb")
		require.Equal(t, appVersions[0], s.Status.Version, "status.version never shows the failing version")
		pods := &corev1.PodList{}
		if c.Client.List(ctx, pods, client.InNamespace(ns)) == nil {
			for _, pod := range pods.Items {
				if len(pod.Spec.Containers) > 0 && strings.HasSuffix(pod.Spec.Containers[0].Image, ":"+brokenVersion) &&
					pod.Labels["canopy.dev/migration"] == "" && pod.Status.Phase == corev1.PodRunning {
					sawBroken = true
				}
			}
		}
		st := conditions.Get(s, componentsv1alpha1.ConditionStalled)
		return st != nil && st.Reason == componentsv1alpha1.ReasonUpgradeFailed && s.Status.Upgrade != nil && s.Status.Upgrade.Phase == "Failed"
	})
	require.True(t, ok, "the failed upgrade is rolled back and reported")
	require.True(t, sawBroken, "a pod of the failing version really ran")
	t.Logf("failing upgrade rolled back and reported after %s: %s", time.Since(start).Round(100*time.Millisecond),
		conditions.Get(stack(t, ns, "rb"), componentsv1alpha1.ConditionStalled).Message)
	require.True(t, assertEventually(wait, 500*time.Millisecond, func() bool {
		dep := &appsv1.Deployment{}
		return c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rb-web"}, dep) == nil &&
			dep.Spec.Template.Spec.Containers[0].Image == cluster.SampleAppRepository+":"+appVersions[0] &&
			dep.Status.ReadyReplicas == 2 && dep.Status.UpdatedReplicas == 2 && dep.Status.Replicas == 2
	}), "the old version alone serves again")
	total, failed, failures := p.finish()
	t.Logf("requests during the attempt: %d, failed: %d", total, failed)
	require.Positive(t, total)
	require.Zero(t, failed, "the application kept serving: %v", failures)
}

// TestPostgresPodKilledAndManagerKilledMidBackup (scenario 5): the PostgreSQL pod deleted without
// grace comes back from the StatefulSet with its data; then the manager is killed (SIGKILL) while
// a backup Job runs and started again: one backup Job results, and its object is complete (size
// and checksum as catalogued).
//
// Not parallel: the other tests run once it is done (go test resumes parallel tests after the
// sequential ones), so the manager's crash delays nobody else's Stack.
func TestPostgresPodKilledAndManagerKilledMidBackup(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "crash", withS3Backups(t, ns), func(s *canopyv1alpha1.Stack) { s.Spec.Frontend.Replicas = nil })
	waitReady(t, ns, "crash", appVersions[0])
	web := fmt.Sprintf("http://crash-web.%s.svc", ns)
	code, body, err := post(t, web+"/notes", "survives")
	require.NoError(t, err)
	require.Equal(t, 200, code, body)

	pod := &corev1.Pod{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "crash-postgres-0"}, pod))
	oldUID := pod.UID
	require.NoError(t, c.Client.Delete(ctx, pod, client.GracePeriodSeconds(0)))
	start := time.Now()
	require.True(t, assertEventually(wait, 500*time.Millisecond, func() bool {
		p := &corev1.Pod{}
		if c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "crash-postgres-0"}, p) != nil || p.UID == oldUID {
			return false
		}
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == "postgres" {
				return cs.Ready
			}
		}
		return false
	}), "a new PostgreSQL pod is Ready")
	t.Logf("PostgreSQL pod back and Ready %s after it was killed", time.Since(start).Round(100*time.Millisecond))
	require.True(t, assertEventually(time.Minute, time.Second, func() bool {
		code, body, err = get(web + "/")
		return err == nil && code == 200 && strings.Contains(body, `1 notes, last "survives"`)
	}), "the data is intact: %d %v %s", code, err, body)

	// The manager dies while the backup Job runs.
	token := fmt.Sprint(time.Now().UnixNano())
	update(t, ns, "crash", func(s *canopyv1alpha1.Stack) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[canopyv1alpha1.AnnotationBackupNow] = token
	})
	require.True(t, assertEventually(wait, 100*time.Millisecond, func() bool { return len(backupJobs(t, ns, token)) > 0 }), "the backup Job starts")
	c.KillManager()
	running := backupJobs(t, ns, token)
	require.Len(t, running, 1)
	require.Nil(t, running[0].Status.CompletionTime, "the backup Job had not completed when the manager was killed")
	t.Log("manager killed while the backup Job runs")
	time.Sleep(2 * time.Second)
	require.NoError(t, c.StartManager())
	var backup componentsv1alpha1.BackupRecord
	require.True(t, assertEventually(wait, time.Second, func() bool {
		bp := &componentsv1alpha1.BackupPolicy{}
		if c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "crash"}, bp) != nil {
			return false
		}
		n := 0
		for _, b := range bp.Status.Backups {
			if b.Request == token {
				n++
				backup = b
			}
		}
		require.LessOrEqual(t, n, 1, "one catalogue entry for the request")
		return n == 1 && backup.SHA256 != ""
	}), "the backup is catalogued")
	require.Len(t, backupJobs(t, ns, token), 1, "one backup Job for the request")
	requireStoredAsCatalogued(t, backup)
}

func backupJobs(t *testing.T, ns, token string) []batchv1.Job {
	t.Helper()
	jobs := &batchv1.JobList{}
	require.NoError(t, c.Client.List(context.Background(), jobs, client.InNamespace(ns)))
	var out []batchv1.Job
	for _, j := range jobs.Items {
		if j.Labels["canopy.dev/backup-policy"] != "" && strings.Contains(j.Annotations["canopy.dev/backup-request"], token) {
			out = append(out, j)
		}
	}
	return out
}

// TestDeletePolicies (scenario 6): Orphan leaves PostgreSQL serving after the Stack is gone;
// Delete with dataRetention Delete removes the data claim and, through the purge Job that really
// runs, the backups in the bucket.
func TestDeletePolicies(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	ctx := context.Background()
	backups := withS3Backups(t, ns)
	newStack(t, ns, "keep", func(s *canopyv1alpha1.Stack) {
		s.Spec.DeletionPolicy = canopyv1alpha1.DeletionPolicyOrphan
		s.Spec.Frontend.Replicas = nil
	})
	newStack(t, ns, "gone", backups, func(s *canopyv1alpha1.Stack) {
		s.Spec.Frontend.Replicas = nil
		s.Spec.DataRetention = &canopyv1alpha1.DataRetention{PersistentVolumeClaims: componentsv1alpha1.Delete, Backups: componentsv1alpha1.Delete}
	})
	waitReady(t, ns, "keep", appVersions[0])
	waitReady(t, ns, "gone", appVersions[0])
	token := fmt.Sprint(time.Now().UnixNano())
	update(t, ns, "gone", func(s *canopyv1alpha1.Stack) {
		s.Annotations = map[string]string{canopyv1alpha1.AnnotationBackupNow: token}
	})
	var backup componentsv1alpha1.BackupRecord
	require.True(t, assertEventually(wait, time.Second, func() bool {
		bp := &componentsv1alpha1.BackupPolicy{}
		if c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gone"}, bp) != nil {
			return false
		}
		for _, b := range bp.Status.Backups {
			if b.Request == token && b.SHA256 != "" {
				backup = b
				return true
			}
		}
		return false
	}), "a backup of the Stack to delete exists")
	requireStoredAsCatalogued(t, backup)

	keepDB := &componentsv1alpha1.Database{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "keep"}, keepDB))
	super := secretData(t, ns, database.SuperuserName(keepDB))
	for _, name := range []string{"keep", "gone"} {
		require.NoError(t, c.Client.Delete(ctx, stack(t, ns, name)))
	}
	start := time.Now()
	for _, name := range []string{"keep", "gone"} {
		require.True(t, assertEventually(wait, 500*time.Millisecond, func() bool {
			return apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &canopyv1alpha1.Stack{}))
		}), "Stack %s is gone", name)
	}
	t.Logf("both Stacks gone %s after deletion", time.Since(start).Round(100*time.Millisecond))

	// Orphan: PostgreSQL still serves, with the password it had.
	pg := connect(t, fmt.Sprintf("host=%s port=%d dbname=app user=%s password=%s sslmode=disable",
		database.Host(keepDB), database.Port, database.SuperUser, super[corev1.BasicAuthPasswordKey]), nil)
	var one int
	require.NoError(t, pg.QueryRow(ctx, "SELECT 1").Scan(&one))
	sts := &appsv1.StatefulSet{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "keep-postgres"}, sts))
	require.Empty(t, sts.OwnerReferences, "the orphaned StatefulSet has no owner")

	// Delete: the claim and the backups go.
	require.True(t, assertEventually(wait, 500*time.Millisecond, func() bool {
		return apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "data-gone-postgres-0"}, &corev1.PersistentVolumeClaim{}))
	}), "the data claim of the deleted Stack is removed")
	_, err := readObject(backup.Location)
	require.Error(t, err, "the backup %s is purged from the bucket", backup.Location)
}

// TestCredentialRotation (scenario 7): a rotation sets a new password inside PostgreSQL; the web
// tier rolls and reconnects with it; the old password is refused by the server.
func TestCredentialRotation(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	ctx := context.Background()
	newStack(t, ns, "rot", func(s *canopyv1alpha1.Stack) { s.Spec.Frontend.Replicas = ptr.To[int32](1) })
	waitReady(t, ns, "rot", appVersions[0])
	db := &componentsv1alpha1.Database{}
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rot"}, db))
	old := secretData(t, ns, database.CredentialsName(db))
	conn := func(password []byte) string {
		return fmt.Sprintf("host=%s port=%d dbname=%s user=%s password=%s sslmode=disable", old["host"], database.Port, old["dbname"], old["user"], password)
	}
	connect(t, conn(old["password"]), nil) // works before

	update(t, ns, "rot", func(s *canopyv1alpha1.Stack) { s.Spec.Database.CredentialsRotation = "r1" })
	start := time.Now()
	require.True(t, assertEventually(wait, 500*time.Millisecond, func() bool {
		d := &componentsv1alpha1.Database{}
		return c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rot"}, d) == nil && d.Status.CredentialsRotation == "r1"
	}), "the rotation is carried out")
	t.Logf("rotation carried out in %s", time.Since(start).Round(100*time.Millisecond))
	waitReady(t, ns, "rot", appVersions[0])
	fresh := secretData(t, ns, database.CredentialsName(db))
	require.NotEqual(t, string(old["password"]), string(fresh["password"]))

	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err := pgx.Connect(cctx, conn(old["password"]))
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "the old password is refused by the server: %v", err)
	require.Equal(t, "28P01", pgErr.Code, "invalid_password")
	connect(t, conn(fresh["password"]), nil)

	// The web tier reconnects with the new password (its pods rolled with the credentials).
	require.True(t, assertEventually(2*time.Minute, time.Second, func() bool {
		code, _, err := get(fmt.Sprintf("http://rot-web.%s.svc/db", ns))
		return err == nil && code == 200
	}), "the application reads the database with the new password")
}
