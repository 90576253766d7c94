package plugin

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/testenv"
)

func (f *fixture) stack(name string) *canopyv1alpha1.Stack {
	f.T.Helper()
	s := &canopyv1alpha1.Stack{}
	require.NoError(f.T, f.Get(s, name))
	return s
}

func (f *fixture) mutateStatus(name string, change func(*canopyv1alpha1.Stack)) {
	f.T.Helper()
	testenv.Mutate(f.T, f.C, f.Key(name), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, true, func(s *canopyv1alpha1.Stack) {
		change(s)
		// As the operator writes it: its conditions are about the generation its status observed
		// (the kstatus check after each test holds the stand-in to that too).
		for i := range s.Status.Conditions {
			s.Status.Conditions[i].ObservedGeneration = s.Status.ObservedGeneration
		}
	})
}

// TestErrorsNameTheObjectAndTheNextStep: a Stack looked for in the wrong namespace points at the
// right one; a namespace without it lists what it has; a Stack without backups says how to add
// them; a command line without a Stack says how to name one.
func TestErrorsNameTheObjectAndTheNextStep(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	// A name of this run only: "did you mean" lists every namespace holding one (go test -count=2
	// keeps the first run's namespaces, which envtest never deletes).
	elsewhere := "elsewhere-" + other.NS[strings.LastIndex(other.NS, "-")+1:]
	other.readyStack(elsewhere)
	f.readyStack("shop")

	r := f.run("", "status", elsewhere)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.err, "Stack "+elsewhere+" not found in namespace NS; did you mean -n "+other.NS+"?")

	r = f.run("", "status", "nothere")
	require.Contains(t, r.err, "Stack nothere not found in namespace NS; it has shop")

	empty := newFixture(t)
	r = empty.run("", "backups", "ghost")
	require.Contains(t, r.err, "Stack ghost not found in namespace NS, which has no Stack; kubectl get stacks -A lists them all")

	require.NoError(t, f.C.Create(t.Context(), &canopyv1alpha1.Stack{ObjectMeta: metav1.ObjectMeta{Namespace: f.NS, Name: "plain"},
		Spec: canopyv1alpha1.StackSpec{Version: "1", Frontend: canopyv1alpha1.StackFrontend{Image: "ghcr.io/acme/shop"}}}))
	r = f.run("", "backup", "plain")
	require.Contains(t, r.err, "Stack NS/plain has no backups configured: add spec.backup")

	var out strings.Builder
	code := Main([]string{"status"}, Streams{In: strings.NewReader(""), Out: &out, Err: &out})
	require.Equal(t, 2, code, "a usage error exits with 2, as kubectl does")
	require.Contains(t, out.String(), "status needs the name of one Stack: kubectl canopy status NAME [-n NAMESPACE]")
}

// twoContexts writes a kubeconfig with three contexts on the test's cluster: a (namespace of a),
// b (namespace of b), and the current one, down, whose server nothing listens on.
func twoContexts(t *testing.T, a, b *fixture) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(a.kubeconfig)
	require.NoError(t, err)
	cur := cfg.Contexts[cfg.CurrentContext]
	require.NotNil(t, cur)
	cfg.Clusters["down"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", InsecureSkipTLSVerify: true}
	cfg.Contexts = map[string]*clientcmdapi.Context{
		"a":    {Cluster: cur.Cluster, AuthInfo: cur.AuthInfo, Namespace: a.NS},
		"b":    {Cluster: cur.Cluster, AuthInfo: cur.AuthInfo, Namespace: b.NS},
		"down": {Cluster: "down", AuthInfo: cur.AuthInfo, Namespace: a.NS},
	}
	cfg.CurrentContext = "down"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
	return path
}

// TestContextAndNamespace: --context selects a context of the kubeconfig, and without -n the
// context's namespace is the one the command works in, as with kubectl.
func TestContextAndNamespace(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	// A name of this run only: "did you mean" lists every namespace holding one.
	ctxshop := "ctxshop-" + a.NS[strings.LastIndex(a.NS, "-")+1:]
	a.readyStack(ctxshop)
	b.readyStack("blog")
	kc := twoContexts(t, a, b)

	r := a.exec(t.Context(), "", "--kubeconfig", kc, "--context", "a", "backups", ctxshop, "-o", "json")
	require.Equal(t, 0, r.code, r.err)
	r = a.exec(t.Context(), "", "--kubeconfig", kc, "--context", "b", "pause", "blog", "-o", "json")
	require.Equal(t, 0, r.code, r.err)
	var res PauseResult
	require.NoError(t, json.Unmarshal([]byte(r.out), &res))
	require.Equal(t, b.NS, res.Namespace, "the namespace of context b")
	require.True(t, b.stack("blog").Spec.Paused)

	r = a.exec(t.Context(), "", "--kubeconfig", kc, "--context", "b", "status", ctxshop)
	require.Contains(t, r.err, "Stack "+ctxshop+" not found in namespace "+b.NS+"; did you mean -n NS?")
	r = a.exec(t.Context(), "", "--kubeconfig", kc, "--context", "b", "-n", a.NS, "status", ctxshop)
	require.Equal(t, 0, r.code, "-n wins over the context's namespace: %s", r.err)

	r = a.exec(t.Context(), "", "--kubeconfig", kc, "--context", "nope", "status", ctxshop)
	require.Contains(t, r.err, `context "nope" does not exist`)
}

// TestUnreachableCluster: when no API server answers, the error names the server and the context
// and says what to check.
func TestUnreachableCluster(t *testing.T) {
	f := newFixture(t)
	kc := twoContexts(t, f, f)
	for _, args := range [][]string{{"status", "shop"}, {"backup", "shop"}, {"restore", "shop", "--backup", "x", "--yes"}} {
		r := f.exec(t.Context(), "", append([]string{"--kubeconfig", kc}, args...)...)
		require.Equal(t, 1, r.code)
		require.Contains(t, r.err, "error: reading Stack shop in namespace NS: ")
		require.Contains(t, r.err, "connection refused; is the cluster at https://127.0.0.1:1 (context down) reachable? "+
			"Check --context or KUBECONFIG (kubectl config get-contexts lists them)\n", args)
	}
}

// TestBackups lists the whole catalogue, newest first, as a table and as JSON.
func TestBackups(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	r := f.run("", "backups", "shop")
	require.Equal(t, 0, r.code, r.err)
	goldenText(t, "backups", r.out)
	var list []componentsv1alpha1.BackupRecord
	r = f.run("", "backups", "shop", "-o", "json")
	require.NoError(t, json.Unmarshal([]byte(r.out), &list))
	require.Len(t, list, 5)
	require.Equal(t, "shop-20260530-020000", list[4].Name, "oldest last")
}

// playBackupController answers the first canopy.dev/backup-now request as the operator does: the
// stack controller copies the annotation onto the BackupPolicy, the backup controller reports the
// request Running, then Succeeded with the backup catalogued.
func (f *fixture) playBackupController(ctx context.Context, name string) {
	go func() {
		for ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
			s := &canopyv1alpha1.Stack{}
			if f.C.Get(ctx, f.Key(name), s) != nil || s.Annotations[canopyv1alpha1.AnnotationBackupNow] == "" {
				continue
			}
			token := s.Annotations[canopyv1alpha1.AnnotationBackupNow]
			bp := &componentsv1alpha1.BackupPolicy{}
			if f.C.Get(ctx, f.Key(name), bp) != nil || (bp.Status.LastAnnotationRequest != nil && bp.Status.LastAnnotationRequest.ID == token) {
				continue
			}
			bp.Status.LastAnnotationRequest = &componentsv1alpha1.BackupRequestStatus{ID: token, Phase: "Running", JobName: name + "-backup-now-x"}
			if f.C.Status().Update(ctx, bp) != nil {
				continue
			}
			time.Sleep(50 * time.Millisecond)
			done := metav1.NewTime(now)
			rec := componentsv1alpha1.BackupRecord{Name: name + "-" + token, Trigger: "Annotation", Request: token, CompletionTime: &done,
				SizeBytes: 2048, SHA256: strings.Repeat("cd", 32), DatabaseVersion: "17.2", AppVersion: "1.4.2",
				Location: "pvc://" + name + "-backup/" + name + "-" + token}
			testenv.Mutate(f.T, f.C, f.Key(name), func() *componentsv1alpha1.BackupPolicy { return &componentsv1alpha1.BackupPolicy{} }, true,
				func(bp *componentsv1alpha1.BackupPolicy) {
					bp.Status.Backups = append([]componentsv1alpha1.BackupRecord{rec}, bp.Status.Backups...)
					bp.Status.LastAnnotationRequest = &componentsv1alpha1.BackupRequestStatus{ID: token, Phase: "Succeeded", JobName: name + "-backup-now-x",
						BackupName: rec.Name}
				})
			return
		}
	}()
}

// TestBackup: the command asks with the annotation; with --wait it follows the request until the
// backup is in the catalogue; a failed backup names the Job to look at.
func TestBackup(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	r := f.run("", "backup", "shop")
	require.Equal(t, 0, r.code, r.err)
	token := f.stack("shop").Annotations[canopyv1alpha1.AnnotationBackupNow]
	require.Equal(t, "kc-1780315200000", token, "the request is the time of the command")
	goldenText(t, "backup", r.out)

	testenv.Mutate(t, f.C, f.Key("shop"), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false, func(s *canopyv1alpha1.Stack) {
		delete(s.Annotations, canopyv1alpha1.AnnotationBackupNow)
	})
	f.playBackupController(t.Context(), "shop")
	r = f.run("", "backup", "shop", "--wait")
	require.Equal(t, 0, r.code, r.err)
	goldenText(t, "backup-wait", progress(t, r.out, "requested; waiting for the operator to take it", "Running (Job shop-backup-now-x)"))

	// Each run asks with a new value (the time of the command), and the stand-in answers only it.
	var res BackupResult
	f.clock = now.Add(time.Second)
	f.playBackupController(t.Context(), "shop")
	r = f.run("", "backup", "shop", "--wait", "-o", "json")
	require.Equal(t, 0, r.code, r.err)
	require.NoError(t, json.Unmarshal([]byte(r.out), &res), "only the result goes to stdout: %s", r.out)
	require.Equal(t, "kc-1780315201000", res.Request)
	require.Equal(t, "Succeeded", res.Phase)
	require.Equal(t, "shop-"+res.Request, res.Backup.Name)

	f.clock = now.Add(2 * time.Second)
	testenv.Mutate(t, f.C, f.Key("shop"), func() *componentsv1alpha1.BackupPolicy { return &componentsv1alpha1.BackupPolicy{} }, true,
		func(bp *componentsv1alpha1.BackupPolicy) {
			bp.Status.LastAnnotationRequest = &componentsv1alpha1.BackupRequestStatus{ID: "kc-1780315202000", Phase: "Failed", JobName: "shop-backup-now-y",
				Message: "Unauthorized: the bucket refused the credentials"}
		})
	r = f.run("", "backup", "shop", "--wait")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.err, "the backup of Stack NS/shop failed: Unauthorized: the bucket refused the credentials; "+
		"kubectl logs -n NS job/shop-backup-now-y shows why")

	f.clock = now.Add(3 * time.Second)
	r = f.run("", "backup", "shop", "--wait", "--timeout", "100ms")
	require.Contains(t, r.err, "backup kc-1780315203000 is still running after the --timeout; kubectl canopy backups shop lists it once it is done")
}

// TestRestore: the command names what the restore overwrites and needs the Stack's name typed
// back (or --yes); it then sets spec.restoreRequest, and with --wait follows status.restore.
func TestRestore(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")

	r := f.run("no\n", "restore", "shop", "--backup", "shop-20260531-020000")
	require.Equal(t, 1, r.code)
	goldenText(t, "restore-prompt", r.err)
	require.Nil(t, f.stack("shop").Spec.RestoreRequest, "nothing changes without the confirmation")

	r = f.run("", "restore", "shop", "--backup", "shop-19990101-000000", "--yes")
	require.Contains(t, r.err, "backup shop-19990101-000000 is not in the catalogue of Stack NS/shop: kubectl canopy backups shop lists it; "+
		"--force restores a backup that is only at the destination")

	r = f.run("shop\n", "restore", "shop", "--backup", "shop-20260531-020000")
	require.Equal(t, 0, r.code, r.err)
	req := f.stack("shop").Spec.RestoreRequest
	require.Equal(t, &canopyv1alpha1.StackRestoreRequest{ID: "kc-1780315200000", BackupName: "shop-20260531-020000"}, req)
	goldenText(t, "restore", r.out)

	// Not yet taken by the operator: a second request would replace the first unseen.
	f.clock = now.Add(500 * time.Millisecond)
	r = f.run("", "restore", "shop", "--backup", "shop-20260601-020000", "--yes")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.err, "Stack NS/shop already asks to restore shop-20260531-020000 (request kc-1780315200000), which the operator "+
		"has not started: is the operator running? kubectl canopy status shop shows it once started; to ask for another backup instead, "+
		`first withdraw it with kubectl patch stack shop -n NS --type merge -p '{"spec":{"restoreRequest":null}}'`)
	require.Equal(t, req, f.stack("shop").Spec.RestoreRequest, "the first request stands")
	f.mutateStatus("shop", func(s *canopyv1alpha1.Stack) { // an earlier restore's record is no answer either
		s.Status.Restore = &canopyv1alpha1.RestoreProgress{ID: "kc-1", BackupName: "shop-20260530-020000", Step: "Succeeded"}
	})
	r = f.run("", "restore", "shop", "--backup", "shop-20260601-020000", "--yes")
	require.Contains(t, r.err, "which the operator has not started")
	f.clock = now

	// The stack controller's steps, as status.restore reports them.
	f.mutateStatus("shop", func(s *canopyv1alpha1.Stack) {
		s.Status.Restore = &canopyv1alpha1.RestoreProgress{ID: req.ID, BackupName: req.BackupName, Step: "Restoring"}
	})
	r = f.run("", "restore", "shop", "--backup", "shop-20260531-020000", "--yes")
	require.Contains(t, r.err, "Stack NS/shop is already restoring shop-20260531-020000 (request kc-1780315200000, step Restoring): "+
		"wait for it with kubectl canopy status shop")

	f.mutateStatus("shop", func(s *canopyv1alpha1.Stack) { s.Status.Restore.Step = "Succeeded" })
	go func() {
		for t.Context().Err() == nil {
			time.Sleep(20 * time.Millisecond)
			if s := f.stack("shop"); s.Spec.RestoreRequest.ID != req.ID {
				for _, step := range []canopyv1alpha1.OperationStep{"StoppingFrontend", "SafetyBackup", "Restoring", "StartingFrontend", "Succeeded"} {
					f.mutateStatus("shop", func(st *canopyv1alpha1.Stack) {
						st.Status.Restore = &canopyv1alpha1.RestoreProgress{ID: s.Spec.RestoreRequest.ID, BackupName: s.Spec.RestoreRequest.BackupName,
							Step: step}
					})
					time.Sleep(60 * time.Millisecond)
				}
				return
			}
		}
	}()
	f.clock = now.Add(time.Second) // a new request id
	r = f.run("", "restore", "shop", "--backup", "shop-20260601-020000", "--yes", "--wait")
	require.Equal(t, 0, r.code, r.err)
	goldenText(t, "restore-wait", progress(t, r.out, "requested; waiting for the operator to take it",
		"StoppingFrontend", "SafetyBackup", "Restoring", "StartingFrontend", "Succeeded"))
}

// progress checks the progress lines of a --wait (indented by two spaces) against the steps the
// test's stand-in for the operator goes through, in order, and returns the output without them.
// Which steps a poll sees depends on timing; their order does not.
func progress(t *testing.T, out string, steps ...string) string {
	t.Helper()
	var kept []string
	next := 0
	for _, line := range strings.SplitAfter(out, "\n") {
		if !strings.HasPrefix(line, "  ") {
			kept = append(kept, line)
			continue
		}
		step := strings.TrimSpace(line)
		for next < len(steps) && steps[next] != step {
			next++
		}
		require.Less(t, next, len(steps), "progress line %q is not one of %v, in order", step, steps)
	}
	return strings.Join(kept, "")
}

// TestUpgradeAndPause: upgrade sets spec.version (and refuses the version already asked for);
// pause and resume set spec.paused, saying when nothing changed.
func TestUpgradeAndPause(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	r := f.run("", "upgrade", "shop", "--version", "1.5.0")
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, "1.5.0", f.stack("shop").Spec.Version)
	goldenText(t, "upgrade", r.out)

	r = f.run("", "upgrade", "shop", "--version", "1.5.0")
	require.Contains(t, r.err, "Stack NS/shop already asks for version 1.5.0 (serving 1.4.2)")
	r = f.run("", "upgrade", "shop", "--version", "not a tag")
	require.Contains(t, r.err, "version must be an image tag", "admission's message reaches the user")

	// --wait until the operator reports the new version serving.
	f.mutateStatus("shop", func(s *canopyv1alpha1.Stack) {
		s.Status.Upgrade = &canopyv1alpha1.UpgradeStatus{FromVersion: "1.4.2", ToVersion: "1.6.0", Phase: "BackingUp"}
	})
	go func() {
		for t.Context().Err() == nil && f.stack("shop").Spec.Version != "1.6.0" {
			time.Sleep(20 * time.Millisecond)
		}
		for _, p := range []canopyv1alpha1.UpgradePhase{"RollingOut", "Succeeded"} {
			time.Sleep(60 * time.Millisecond)
			f.mutateStatus("shop", func(s *canopyv1alpha1.Stack) {
				s.Status.Upgrade.Phase = p
				if p == "Succeeded" {
					s.Status.Version, s.Status.ObservedGeneration = "1.6.0", s.Generation
				}
			})
		}
	}()
	r = f.run("", "upgrade", "shop", "--version", "1.6.0", "--wait")
	require.Equal(t, 0, r.code, r.err)
	goldenText(t, "upgrade-wait", progress(t, r.out, "BackingUp", "RollingOut"))

	r = f.run("", "pause", "shop")
	require.Equal(t, 0, r.code, r.err)
	require.True(t, f.stack("shop").Spec.Paused)
	r2 := f.run("", "pause", "shop", "-o", "json")
	var res PauseResult
	require.NoError(t, json.Unmarshal([]byte(r2.out), &res))
	require.Equal(t, PauseResult{Namespace: "NS", Stack: "shop", Paused: true, Changed: false}, res)
	r4 := f.run("", "backup", "shop")
	require.Contains(t, r4.out, "The Stack is paused: the request reaches its BackupPolicy once it resumes (kubectl canopy resume shop).")
	r3 := f.run("", "resume", "shop")
	require.False(t, f.stack("shop").Spec.Paused)
	goldenText(t, "pause-resume", r.out+r3.out)

	// Nothing to change: said, and nothing written.
	rv := f.stack("shop").ResourceVersion
	r5 := f.run("", "resume", "shop")
	between := f.run("", "pause", "shop")
	r6 := f.run("", "pause", "shop")
	require.Equal(t, 0, r6.code, r6.err)
	goldenText(t, "pause-resume-unchanged", r5.out+between.out+r6.out)
	require.NotEqual(t, rv, f.stack("shop").ResourceVersion, "the pause in between did write")

	// -o yaml on a write command: the result alone, as YAML.
	r7 := f.run("", "upgrade", "shop", "--version", "1.7.0", "-o", "yaml")
	require.Equal(t, 0, r7.code, r7.err)
	var up UpgradeResult
	require.NoError(t, yaml.UnmarshalStrict([]byte(r7.out), &up), "only the result goes to stdout: %s", r7.out)
	require.Equal(t, UpgradeResult{Namespace: "NS", Stack: "shop", Kind: "Upgrade", From: "1.6.0", To: "1.7.0", Phase: "Requested"}, up)
}

// TestRetryUpgrade: a failed application upgrade is retried by returning spec.version to the
// serving version, waiting for the operator to record the cancellation, and asking for the
// version again; a failed PostgreSQL major upgrade by a new canopy.dev/retry-database-upgrade.
func TestRetryUpgrade(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	r := f.run("", "retry-upgrade", "shop")
	require.Contains(t, r.err, "Stack NS/shop has no failed upgrade to retry (the upgrade to 1.4.2 is Succeeded): "+
		"kubectl canopy upgrade shop --version V starts one")

	testenv.Mutate(t, f.C, f.Key("shop"), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false,
		func(s *canopyv1alpha1.Stack) { s.Spec.Version = "1.5.0" })
	f.mutateStatus("shop", func(s *canopyv1alpha1.Stack) {
		s.Status.Upgrade = &canopyv1alpha1.UpgradeStatus{FromVersion: "1.4.2", ToVersion: "1.5.0", Phase: "Failed", Message: "version 1.5.0 failed"}
	})
	// The stack controller: spec.version back at the serving version cancels the failed upgrade.
	// The version before the command runs is read here, not by the watcher: its first look may
	// come after the command's first write (seen once under load: the first 1.5.0 missed).
	var mu sync.Mutex
	versions := []string{f.stack("shop").Spec.Version}
	seenVersions := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), versions...) }
	go func() {
		seen := versions[0]
		for t.Context().Err() == nil {
			time.Sleep(10 * time.Millisecond)
			s := &canopyv1alpha1.Stack{}
			if f.C.Get(t.Context(), f.Key("shop"), s) != nil || s.Spec.Version == seen {
				continue
			}
			seen = s.Spec.Version
			mu.Lock()
			versions = append(versions, seen)
			mu.Unlock()
			if seen == "1.4.2" {
				f.mutateStatus("shop", func(st *canopyv1alpha1.Stack) {
					st.Status.ObservedGeneration = st.Generation
					st.Status.Upgrade.Phase = "Cancelled"
				})
			}
		}
	}()
	r = f.run("", "retry-upgrade", "shop")
	require.Equal(t, 0, r.code, r.err)
	goldenText(t, "retry-upgrade", r.out)
	require.Eventually(t, func() bool { return len(seenVersions()) == 3 }, testenv.Wait, testenv.Tick)
	require.Equal(t, []string{"1.5.0", "1.4.2", "1.5.0"}, seenVersions(), "back to the serving version, then the failed one again")

	f.mutateStatus("shop", func(s *canopyv1alpha1.Stack) {
		s.Status.DatabaseUpgrade = &canopyv1alpha1.DatabaseUpgradeProgress{FromVersion: "16", ToVersion: "17", Step: "Failed", Attempt: 1}
	})
	r = f.run("", "retry-upgrade", "shop")
	require.Equal(t, 0, r.code, r.err)
	require.Equal(t, "kc-1780315200000", f.stack("shop").Annotations[canopyv1alpha1.AnnotationRetryDatabaseUpgrade])
	goldenText(t, "retry-upgrade-database", r.out)
}

// failedUpgrade leaves the Stack's application upgrade to 1.5.0 Failed, 1.4.2 serving.
func (f *fixture) failedUpgrade(name string) {
	f.T.Helper()
	testenv.Mutate(f.T, f.C, f.Key(name), func() *canopyv1alpha1.Stack { return &canopyv1alpha1.Stack{} }, false,
		func(s *canopyv1alpha1.Stack) { s.Spec.Version = "1.5.0" })
	f.mutateStatus(name, func(s *canopyv1alpha1.Stack) {
		s.Status.ObservedGeneration = s.Generation
		s.Status.Upgrade = &canopyv1alpha1.UpgradeStatus{FromVersion: "1.4.2", ToVersion: "1.5.0", Phase: "Failed", Message: "version 1.5.0 failed"}
	})
}

// TestRetryUpgradeWithoutOperator: with no operator to record the cancellation, retry-upgrade
// gives up after its own short bound, not the 30 minutes of --timeout, and when interrupted; both
// say how to finish.
func TestRetryUpgradeWithoutOperator(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	flag := newRetryUpgradeCommand(&Options{}).Flags().Lookup("cancel-timeout")
	require.NotNil(t, flag, "step 1 has a bound of its own")
	require.Equal(t, "2m0s", flag.DefValue)

	f.failedUpgrade("shop")
	start := time.Now()
	r := f.run("", "retry-upgrade", "shop", "--cancel-timeout", "300ms")
	require.Equal(t, 1, r.code)
	require.Less(t, time.Since(start), 20*time.Second)
	require.Equal(t, "1.4.2", f.stack("shop").Spec.Version, "step 1 is done: the serving version")
	goldenText(t, "retry-upgrade-no-operator", r.out+r.err)

	f.failedUpgrade("shop")
	ctx, interrupt := context.WithCancel(t.Context())
	go func() { // Ctrl-C once step 1 is done, while the command waits
		for ctx.Err() == nil && f.stack("shop").Spec.Version != "1.4.2" {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		interrupt()
	}()
	r = f.runCtx(ctx, "", "retry-upgrade", "shop")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.err, "error: interrupted while the cancellation of the failed upgrade to 1.5.0 was still running; "+
		"spec.version is 1.4.2, the serving version. To finish: is the operator running? Once kubectl canopy status shop "+
		"shows the upgrade Cancelled, kubectl canopy upgrade shop --version 1.5.0 tries 1.5.0 again")
}

// TestRetryUpgradeWait: --wait follows the new attempt of either kind until it succeeds. The
// record of the cancelled upgrade to the same version, still in status.upgrade until the operator
// starts the new one, is not taken for the new attempt's end.
func TestRetryUpgradeWait(t *testing.T) {
	f := newFixture(t)
	f.readyStack("shop")
	f.failedUpgrade("shop")
	go func() { // the stack controller
		cancelled := false
		for t.Context().Err() == nil {
			time.Sleep(10 * time.Millisecond)
			s := &canopyv1alpha1.Stack{}
			if f.C.Get(t.Context(), f.Key("shop"), s) != nil {
				continue
			}
			switch {
			case s.Spec.Version == "1.4.2" && !cancelled:
				f.mutateStatus("shop", func(st *canopyv1alpha1.Stack) {
					st.Status.ObservedGeneration = st.Generation
					st.Status.Upgrade.Phase = "Cancelled"
				})
				cancelled = true
			case s.Spec.Version == "1.5.0" && cancelled:
				time.Sleep(150 * time.Millisecond) // a reconcile later
				for _, p := range []canopyv1alpha1.UpgradePhase{"BackingUp", "RollingOut", "Succeeded"} {
					f.mutateStatus("shop", func(st *canopyv1alpha1.Stack) {
						st.Status.ObservedGeneration = st.Generation
						st.Status.Upgrade = &canopyv1alpha1.UpgradeStatus{FromVersion: "1.4.2", ToVersion: "1.5.0", Phase: p}
						if p == "Succeeded" {
							st.Status.Version = "1.5.0"
						}
					})
					time.Sleep(60 * time.Millisecond)
				}
				return
			}
		}
	}()
	r := f.run("", "retry-upgrade", "shop", "--wait")
	require.Equal(t, 0, r.code, r.err)
	goldenText(t, "retry-upgrade-wait", progress(t, r.out, "requested; waiting for the operator to start it", "BackingUp", "RollingOut"))

	f.mutateStatus("shop", func(s *canopyv1alpha1.Stack) {
		s.Status.DatabaseUpgrade = &canopyv1alpha1.DatabaseUpgradeProgress{FromVersion: "16", ToVersion: "17", Step: "Failed", Attempt: 1,
			Message: "pg_upgrade failed"}
	})
	go func() { // the stack controller's major upgrade, for the new annotation only
		for t.Context().Err() == nil {
			time.Sleep(10 * time.Millisecond)
			token := f.stack("shop").Annotations[canopyv1alpha1.AnnotationRetryDatabaseUpgrade]
			if token == "" {
				continue
			}
			time.Sleep(100 * time.Millisecond)
			for _, step := range []canopyv1alpha1.OperationStep{"StoppingFrontend", "Backup", "Upgrading", "StartingFrontend", "Succeeded"} {
				f.mutateStatus("shop", func(st *canopyv1alpha1.Stack) {
					st.Status.DatabaseUpgrade = &canopyv1alpha1.DatabaseUpgradeProgress{FromVersion: "16", ToVersion: "17", Step: step, Attempt: 2,
						RetryRequest: token}
				})
				time.Sleep(60 * time.Millisecond)
			}
			return
		}
	}()
	r = f.run("", "retry-upgrade", "shop", "--wait")
	require.Equal(t, 0, r.code, r.err)
	goldenText(t, "retry-upgrade-database-wait", progress(t, r.out, "requested; waiting for the operator to start it",
		"StoppingFrontend", "Backup", "Upgrading", "StartingFrontend"))
}
