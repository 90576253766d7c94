package database

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	desireddb "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/mgroptions"
)

func TestVersionOf(t *testing.T) {
	for image, want := range map[string]string{
		"docker.io/library/postgres:17.2":            "17.2",
		"postgres:16":                                "16",
		"postgres:17.2-bookworm":                     "17.2",
		"localhost:5000/postgres":                    "",
		"postgres@sha256:" + string(make([]byte, 0)): "",
		"mirror:5000/pg/postgres:15.18@sha256:abc":   "15.18",
	} {
		require.Equal(t, want, versionOf(image), image)
	}
}

func TestDecideConfig(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	db := func(lastReady, rejected string) *componentsv1alpha1.Database {
		d := &componentsv1alpha1.Database{}
		d.Spec.ReadyTimeoutSeconds = 300
		d.Status.LastReadyConfigHash, d.Status.RejectedConfigHash = lastReady, rejected
		return d
	}
	for _, tc := range []struct {
		name       string
		db         *componentsv1alpha1.Database
		pod        podState
		wantHash   string
		remediated bool
		noRevert   bool // the last ready configuration serves TLS differently, or is gone
	}{
		{"first configuration", db("", ""), podState{}, "new", false, false},
		{"unchanged", db("new", ""), podState{exists: true, ready: true, configHash: "new"}, "new", false, false},
		{"new configuration, pod not restarted yet", db("old", ""), podState{exists: true, ready: true, configHash: "old"}, "new", false, false},
		{"new configuration, pod starting within its deadline", db("old", ""),
			podState{exists: true, configHash: "new", notReadyAt: now.Add(-time.Minute)}, "new", false, false},
		{"new configuration crash-loops", db("old", ""), podState{exists: true, configHash: "new", crashLoop: true, notReadyAt: now}, "old", true, false},
		{"new configuration not ready past the deadline", db("old", ""),
			podState{exists: true, configHash: "new", notReadyAt: now.Add(-6 * time.Minute)}, "old", true, false},
		{"a rejected configuration stays rejected", db("old", "new"), podState{exists: true, ready: true, configHash: "old"}, "old", false, false},
		{"nothing to return to on the first configuration", db("", ""), podState{exists: true, configHash: "new", crashLoop: true}, "new", false, false},
		{"never back across a change of TLS", db("old", ""), podState{exists: true, configHash: "new", crashLoop: true, notReadyAt: now}, "new", false, true},
		{"a rejection does not hold across a change of TLS", db("old", "new"), podState{exists: true, ready: true, configHash: "old"}, "new", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideConfig(tc.db, "new", tc.pod, now, !tc.noRevert)
			require.Equal(t, tc.wantHash, d.hash)
			require.Equal(t, tc.remediated, d.remediated)
			if tc.wantHash == "old" {
				require.Equal(t, "new", d.rejected)
			}
		})
	}
}

// TestCachedPodKeepsWhatObserveReads: the manager's cache trims Pods (mgroptions.Transform); what
// the controller learns from a trimmed PostgreSQL pod must be what it learns from the whole one.
func TestCachedPodKeepsWhatObserveReads(t *testing.T) {
	db := &componentsv1alpha1.Database{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "ns"}}
	db.Spec.Version = "17.2"
	db.Spec.Storage.Size = resource.MustParse("1Gi")
	sts := desireddb.StatefulSet(db, desireddb.StatefulSetInput{Image: "postgres:17.2", ExporterImage: "exporter:1", ConfigHash: "abc",
		VolumeSize: db.Spec.Storage.Size, Monitoring: true, TLS: true, Certificate: "cert"})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: sts.Name + "-0", Namespace: "ns", UID: "u1", Labels: sts.Spec.Template.Labels,
		Annotations: sts.Spec.Template.Annotations, CreationTimestamp: metav1.Now(),
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate}}},
		Spec: *sts.Spec.Template.Spec.DeepCopy()}
	for _, tmpl := range sts.Spec.VolumeClaimTemplates {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: tmpl.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: tmpl.Name + "-" + pod.Name}}})
	}
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "postgres", State: corev1.ContainerState{
		Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 5m0s"}}}}
	pod.DeletionTimestamp = &metav1.Time{Time: time.Now()}

	whole := observePod(pod.DeepCopy())
	require.NotEmpty(t, whole.claim, "the fixture mounts its claim")
	require.NotEmpty(t, whole.image)
	trimmed, err := mgroptions.Transform(pod)(pod.DeepCopy())
	require.NoError(t, err)
	require.Equal(t, whole, observePod(trimmed.(*corev1.Pod)))
	require.Nil(t, trimmed.(*corev1.Pod).ManagedFields)
	require.Empty(t, trimmed.(*corev1.Pod).Spec.Containers[0].Env, "the trim keeps only what is read")
}
