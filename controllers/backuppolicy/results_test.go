package backuppolicy

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
)

func rec(name string, minutes int) componentsv1alpha1.BackupRecord {
	t := metav1.NewTime(time.Date(2026, 11, 26, 0, minutes, 0, 0, time.UTC))
	return componentsv1alpha1.BackupRecord{Name: name, CompletionTime: &t}
}

func TestMergeCatalogue(t *testing.T) {
	got := mergeCatalogue([]componentsv1alpha1.BackupRecord{rec("a", 1), rec("b", 2)}, []componentsv1alpha1.BackupRecord{rec("c", 3), rec("b", 2)},
		[]string{"a"}, []string{"a"})
	require.Equal(t, []string{"c", "b"}, names(got), "newest first, deduplicated, retention's deletions gone")

	var many []componentsv1alpha1.BackupRecord
	for i := range CatalogueSize + 5 {
		many = append(many, rec(fmt.Sprintf("n%02d", i), i))
	}
	got = mergeCatalogue(nil, many, nil, nil)
	require.Len(t, got, CatalogueSize, "bounded")
	require.Equal(t, fmt.Sprintf("n%02d", CatalogueSize+4), got[0].Name)

	// A protected backup (one a data operation in flight reads) stays listed beyond the bound.
	got = mergeCatalogue(many, []componentsv1alpha1.BackupRecord{rec("z", CatalogueSize+10)}, nil, []string{"n01", "n03"})
	require.Equal(t, "z", got[0].Name)
	require.Len(t, got, CatalogueSize+2)
	require.Equal(t, []string{"n03", "n01"}, names(got[CatalogueSize:]), "the protected ones, newest first, after the bound")
}

func names(rs []componentsv1alpha1.BackupRecord) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Name)
	}
	return out
}

func TestStoredAndFailure(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j"}}
	ok := finishedJob{job: job, succeeded: true, result: &agent.Result{Succeeded: true, Name: "b1", Location: "pvc:///s/b1/dump.pgc", SHA256: "ab"}}
	require.True(t, stored(ok))
	retention := finishedJob{job: job, result: &agent.Result{Name: "b2", Location: "pvc:///s/b2/dump.pgc", SHA256: "cd",
		Reason: agent.ReasonRetentionFailed, Message: "cannot delete"}}
	require.True(t, stored(retention), "the backup exists although retention failed")
	require.Equal(t, agent.ReasonRetentionFailed, failure(retention).Reason)
	upload := finishedJob{job: job, result: &agent.Result{Name: "b3", Reason: agent.ReasonUploadFailed, Message: "bucket gone"}}
	require.False(t, stored(upload))
	require.Equal(t, "bucket gone", failure(upload).Message)
	silent := finishedJob{job: job, reason: "DeadlineExceeded", message: "Job was active longer than specified deadline"}
	require.Equal(t, "DeadlineExceeded", failure(silent).Reason, "no agent result: the Job's own reason")
}

func TestAgentResultFromTerminationMessage(t *testing.T) {
	pod := corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "agent",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			Message: `{"operation":"backup","succeeded":true,"name":"x","sizeBytes":5}` + "\n"}}}}}}
	r := agentResult([]corev1.Pod{pod})
	require.NotNil(t, r)
	require.Equal(t, int64(5), r.SizeBytes)
	require.Nil(t, agentResult(nil))
}
