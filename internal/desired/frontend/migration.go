package frontend

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"maps"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
)

// MigrationTTLSeconds keeps a finished migration Job (and its logs) for a day, for inspection.
const MigrationTTLSeconds = 24 * 60 * 60

// MigrationJob runs the migration command with version's image and the application's environment;
// nil when the Frontend has no migration.
func MigrationJob(fe *componentsv1alpha1.Frontend, version string) *batchv1.Job {
	m := fe.Spec.Migration
	if m == nil {
		return nil
	}
	c := appContainer(fe, version)
	c.Name = "migrate"
	c.Command, c.Args = m.Command, m.Args
	c.Ports, c.ReadinessProbe, c.LivenessProbe = nil, nil, nil
	pod := corev1.PodSpec{
		Containers:       []corev1.Container{c},
		RestartPolicy:    corev1.RestartPolicyNever,
		ImagePullSecrets: fe.Spec.ImagePullSecrets,
	}
	// The migration connects with the same uri as the web tier.
	mountDatabaseCA(fe, &pod)
	restrictedPod(fe, &pod)
	labels := Labels(fe)
	labels[labelVersion] = common.VersionLabel(version)
	labels[LabelMigration] = "true"
	meta := objectMeta(fe, MigrationJobName(fe, version))
	meta.Labels = labels
	meta.Annotations = map[string]string{AnnotationVersion: version}
	// The pods must not carry the web tier's selector: the Service would send them traffic, and
	// the PodDisruptionBudget and autoscaler would count them (a budget over Job pods cannot sync).
	podLabels := maps.Clone(labels)
	podLabels[labelName] = Name(fe) + "-migration"
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			BackoffLimit:            ptr.To(m.BackoffLimit),
			ActiveDeadlineSeconds:   ptr.To(m.TimeoutSeconds),
			TTLSecondsAfterFinished: ptr.To[int32](MigrationTTLSeconds),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec:       pod,
			},
		},
	}
}
