package agent_test

// runPod runs a pod spec's containers as local processes, as the kubelet would run them: init
// containers in order, each only if the previous one succeeded, then the main containers. Only
// what a machine without Kubernetes lacks is changed:
//   - the volumes' mount paths (/work, /backups, /tmp) become folders of the test, and so do
//     arguments that name them; an argument naming any other absolute path fails the test, so a
//     missing mount cannot make a process write outside the test;
//   - the termination message path becomes a file of the test;
//   - an empty command runs the canopy binary (the agent image's entrypoint); pg_dump and
//     pg_restore come from the PostgreSQL 15 installation;
//   - env vars from secretKeyRef take the values of the test's Secrets, and a secret volume is
//     laid out as the kubelet does it: one file per key, through the ..data symlink, owned by
//     root and the pod's fsGroup, with the volume's defaultMode.
// As root, the processes run as the pod's runAsUser/runAsGroup and the volumes belong to its
// fsGroup, as in the cluster.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/canopy-dev/canopy/internal/agent"
	"github.com/canopy-dev/canopy/internal/pgtest"
)

// secrets maps Secret names to their data.
type secrets map[string]map[string]string

// containerRun is the outcome of one container.
type containerRun struct {
	name     string
	exitCode int
	output   string
	message  string // the termination message
	elapsed  time.Duration
}

// podRun is the outcome of a pod: the containers that ran, in order, and the folders of its
// volumes.
type podRun struct {
	containers []containerRun
	volumes    podVolumes
}

// container returns the run of the named container, or nil if it did not run.
func (p podRun) container(name string) *containerRun {
	for i := range p.containers {
		if p.containers[i].name == name {
			return &p.containers[i]
		}
	}
	return nil
}

// result decodes the agent's Result from a container's termination message.
func (c *containerRun) result(t *testing.T) agent.Result {
	t.Helper()
	require.NotNil(t, c, "the container did not run")
	require.NotEmpty(t, c.message, "no termination message; output:\n%s", c.output)
	require.LessOrEqual(t, len(c.message), agent.MaxResultBytes)
	require.Equal(t, 1, strings.Count(c.message, "\n"), "the Result is one line")
	var r agent.Result
	require.NoError(t, json.Unmarshal([]byte(c.message), &r))
	return r
}

// podVolumes maps the pod's volume names to local folders; claims maps claim names to folders that
// persist across pods (the backup volume), emptyDirs get a fresh folder per pod.
type podVolumes map[string]string

func runPod(t *testing.T, ww *world, pod corev1.PodSpec, sec secrets, claims map[string]string) podRun {
	t.Helper()
	podDir := filepath.Join(ww.dir, "pods", pgtest.UniqueName("pod"))
	require.NoError(t, os.MkdirAll(podDir, 0o755))
	cred := podCredential(pod)

	vols := podVolumes{}
	for _, v := range pod.Volumes {
		switch {
		case v.EmptyDir != nil:
			dir := filepath.Join(podDir, v.Name)
			require.NoError(t, os.Mkdir(dir, 0o755))
			chownTo(t, dir, cred)
			vols[v.Name] = dir
		case v.PersistentVolumeClaim != nil:
			dir, ok := claims[v.PersistentVolumeClaim.ClaimName]
			require.True(t, ok, "the test has no folder for claim %q", v.PersistentVolumeClaim.ClaimName)
			// What the test put there belongs to the pod's group, as fsGroup arranges.
			require.NoError(t, filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
				if err == nil && cred != nil {
					err = os.Lchown(p, int(cred.Uid), int(cred.Gid)) //nolint:gosec // G122: the test's own temporary folder
				}
				return err
			}))
			vols[v.Name] = dir
		case v.Secret != nil:
			vols[v.Name] = secretVolume(t, filepath.Join(podDir, v.Name), v.Secret, sec, cred)
		default:
			t.Fatalf("volume %q: only emptyDir, persistentVolumeClaim and secret are emulated", v.Name)
		}
	}

	run := podRun{volumes: vols}
	for _, c := range pod.InitContainers {
		cr := runContainer(t, ww, c, vols, sec, podDir, cred)
		run.containers = append(run.containers, cr)
		if cr.exitCode != 0 {
			return run // the pod fails; later containers never start
		}
	}
	for _, c := range pod.Containers {
		run.containers = append(run.containers, runContainer(t, ww, c, vols, sec, podDir, cred))
	}
	return run
}

// secretVolume lays out a Secret volume as the kubelet does: the files in a timestamped folder,
// ..data pointing at it, and one symlink per key through ..data; files owned by root and the
// fsGroup (as root), with the volume's mode (0644 by default).
func secretVolume(t *testing.T, dir string, src *corev1.SecretVolumeSource, sec secrets, cred *syscall.Credential) string {
	t.Helper()
	data, ok := sec[src.SecretName]
	require.True(t, ok, "the test has no Secret %q", src.SecretName)
	mode := os.FileMode(0o644)
	if src.DefaultMode != nil {
		mode = os.FileMode(*src.DefaultMode) //nolint:gosec // G115: the API server bounds defaultMode to 0..0777
	}
	stamp := filepath.Join(dir, "..2026_01_01_00_00_00.000000000")
	require.NoError(t, os.MkdirAll(stamp, 0o755))
	require.NoError(t, os.Symlink(filepath.Base(stamp), filepath.Join(dir, "..data")))
	for k, v := range data {
		f := filepath.Join(stamp, k)
		require.NoError(t, os.WriteFile(f, []byte(v), 0o600))
		if cred != nil {
			require.NoError(t, os.Chown(f, 0, int(cred.Gid)))
		}
		require.NoError(t, os.Chmod(f, mode))
		require.NoError(t, os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)))
	}
	return dir
}

// podCredential is the pod's user and group when the test can switch to them (as root).
func podCredential(pod corev1.PodSpec) *syscall.Credential {
	sc := pod.SecurityContext
	if os.Geteuid() != 0 || sc == nil || sc.RunAsUser == nil {
		return nil
	}
	gid := *sc.RunAsUser
	if sc.RunAsGroup != nil {
		gid = *sc.RunAsGroup
	}
	return &syscall.Credential{Uid: uint32(*sc.RunAsUser), Gid: uint32(gid)} //nolint:gosec // G115: admission bounds user and group ids to 0..2^31-1
}

func chownTo(t *testing.T, p string, cred *syscall.Credential) {
	t.Helper()
	if cred != nil {
		require.NoError(t, os.Chown(p, int(cred.Uid), int(cred.Gid)))
	}
}

func runContainer(t *testing.T, ww *world, c corev1.Container, vols podVolumes, sec secrets, podDir string, cred *syscall.Credential) containerRun {
	t.Helper()
	mounts := map[string]string{} // mount path → local folder
	for _, m := range c.VolumeMounts {
		dir, ok := vols[m.Name]
		require.True(t, ok, "container %s mounts unknown volume %q", c.Name, m.Name)
		mounts[m.MountPath] = dir
	}
	termLog := filepath.Join(podDir, c.Name+".termination-log")
	require.NoError(t, os.WriteFile(termLog, nil, 0o644)) // the kubelet creates it
	chownTo(t, termLog, cred)
	if c.TerminationMessagePath != "" {
		mounts[c.TerminationMessagePath] = termLog
	}

	argv := append(append([]string{}, c.Command...), c.Args...)
	switch {
	case len(c.Command) == 0:
		argv = append([]string{ww.canopy}, argv...) // the agent image's entrypoint
	case argv[0] == "pg_dump" || argv[0] == "pg_restore":
		argv[0] = filepath.Join(pgtest.BinDir, argv[0])
	default:
		t.Fatalf("container %s: no local equivalent of %q", c.Name, argv[0])
	}
	for i := 1; i < len(argv); i++ {
		argv[i] = rewriteArg(t, c.Name, argv[i], mounts)
	}

	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "TZ=UTC", "HOME=" + mounts["/tmp"]}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			ref := e.ValueFrom.SecretKeyRef
			require.NotNil(t, ref, "container %s env %s: only secretKeyRef is emulated", c.Name, e.Name)
			var ok bool
			v, ok = sec[ref.Name][ref.Key]
			require.True(t, ok, "container %s env %s: the test has no Secret %s with key %s", c.Name, e.Name, ref.Name, ref.Key)
		}
		env = append(env, e.Name+"="+v)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = mounts["/tmp"]
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	cr := containerRun{name: c.Name, output: out.String(), elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		cr.exitCode = exit.ExitCode()
	case err != nil:
		t.Fatalf("container %s: %v", c.Name, err)
	}
	msg, err := os.ReadFile(termLog)
	require.NoError(t, err)
	cr.message = string(msg)
	return cr
}

// rewriteArg maps the in-container paths of one argument (a --flag=value's value, or the whole
// argument) to the test's folders.
func rewriteArg(t *testing.T, container, arg string, mounts map[string]string) string {
	t.Helper()
	prefix, value := "", arg
	if strings.HasPrefix(arg, "-") {
		name, v, ok := strings.Cut(arg, "=")
		if !ok {
			return arg
		}
		prefix, value = name+"=", v
	}
	if !strings.HasPrefix(value, "/") {
		return arg
	}
	paths := make([]string, 0, len(mounts))
	for p := range mounts {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) }) // longest first
	for _, p := range paths {
		if value == p || strings.HasPrefix(value, p+"/") {
			return prefix + mounts[p] + strings.TrimPrefix(value, p)
		}
	}
	t.Fatalf("container %s: argument %q names a path that the container does not mount", container, arg)
	return ""
}
