package database

import (
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
)

// podState is what the PostgreSQL pod says.
type podState struct {
	exists      bool
	configHash  string // the configuration its template carried
	image       string // the image its postgres container runs
	version     string // the PostgreSQL version its template recorded
	claim       string // the data claim it mounts
	terminating bool
	ready       bool
	notReadyAt  time.Time // when it last became not ready
	crashLoop   bool
	message     string
	certificate string // the server certificate it serves: its template's (desired.AnnotationCertificate), or the one it reloaded
	uid         string
}

func observePod(pod *corev1.Pod) podState {
	if pod == nil {
		return podState{}
	}
	ps := podState{exists: true, configHash: pod.Annotations[desired.AnnotationConfigHash], version: pod.Annotations[desired.AnnotationVersion],
		certificate: pod.Annotations[desired.AnnotationCertificate], uid: string(pod.UID)}
	for _, c := range pod.Spec.Containers {
		if c.Name == "postgres" {
			ps.image = c.Image
		}
	}
	ps.terminating = pod.DeletionTimestamp != nil
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			ps.claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			ps.ready = c.Status == corev1.ConditionTrue
			ps.notReadyAt = c.LastTransitionTime.Time
		}
	}
	if ps.notReadyAt.IsZero() {
		ps.notReadyAt = pod.CreationTimestamp.Time
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != "postgres" {
			continue
		}
		if w := cs.State.Waiting; w != nil {
			ps.message = w.Reason
			if w.Message != "" {
				ps.message += ": " + w.Message
			}
			ps.crashLoop = w.Reason == "CrashLoopBackOff"
		}
	}
	return ps
}

// versionOf reads the PostgreSQL version from an image reference's tag ("postgres:17.2" → "17.2");
// the tag of the official image is the server version. Empty when the tag says nothing (a digest).
func versionOf(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || i < strings.LastIndex(image, "/") {
		return ""
	}
	tag := image[i+1:]
	if j := strings.IndexAny(tag, "-_"); j >= 0 { // 17.2-bookworm
		tag = tag[:j]
	}
	return tag
}

// stsState is what the StatefulSet says.
type stsState struct {
	exists     bool
	image      string
	version    string
	configHash string
	dataVolume string // the claim template of the data volume
	volumeSize resource.Quantity
	rolledOut  bool // the controller observed the template and the pod runs it
	// currentClaim is the data claim labelled as holding the data now (LabelCurrentData), "" when
	// none is: what a recreated Database, with empty status and no StatefulSet, mounts.
	currentClaim string
	// currentMajor is the PostgreSQL major whose data the current claim holds (LabelDataMajor), and
	// currentImage that major's image ("" when spec.image names a custom one).
	currentMajor, currentImage string
	tls                        bool   // the template mounts the certificate's Secret: PostgreSQL serves TLS
	certificate                string // the server certificate the template carries
}

func observeStatefulSet(sts *appsv1.StatefulSet) stsState {
	if sts == nil {
		return stsState{}
	}
	st := stsState{exists: true, configHash: sts.Spec.Template.Annotations[desired.AnnotationConfigHash],
		version: sts.Spec.Template.Annotations[desired.AnnotationVersion], certificate: sts.Spec.Template.Annotations[desired.AnnotationCertificate]}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		st.tls = st.tls || v.Name == desired.TLSVolume
	}
	for _, c := range sts.Spec.Template.Spec.Containers {
		if c.Name == "postgres" {
			st.image = c.Image
		}
	}
	if st.version == "" { // a template written before the annotation existed
		st.version = versionOf(st.image)
	}
	for _, t := range sts.Spec.VolumeClaimTemplates { // the data volume is the only one
		st.dataVolume = t.Name
		st.volumeSize = t.Spec.Resources.Requests[corev1.ResourceStorage]
	}
	st.rolledOut = sts.Status.ObservedGeneration >= sts.Generation && sts.Status.UpdateRevision == sts.Status.CurrentRevision &&
		sts.Status.ReadyReplicas == 1
	return st
}

// configDecision chooses the configuration the pod gets.
type configDecision struct {
	hash        string // the ConfigMap the StatefulSet mounts
	rejected    string // a configuration that failed, kept out until the spec changes
	remediated  bool   // this reconcile returned to the last ready configuration
	failureNote string
}

// decideConfig returns to the last configuration that was ready when the pod, running a newer one,
// crash-loops or stays unready past the spec's deadline; a rejected configuration stays rejected
// while the spec still produces it. canRevert says the last ready configuration can be returned to
// (see revertible): never across a change of TLS. Pure.
func decideConfig(db *componentsv1alpha1.Database, wantHash string, pod podState, now time.Time, canRevert bool) configDecision {
	st := db.Status
	lastReady := st.LastReadyConfigHash
	if !canRevert {
		lastReady = ""
	}
	if wantHash == st.RejectedConfigHash && lastReady != "" {
		return configDecision{hash: lastReady, rejected: wantHash}
	}
	d := configDecision{hash: wantHash}
	if lastReady == "" || lastReady == wantHash || !pod.exists || pod.ready || pod.configHash != wantHash {
		return d
	}
	timeout := time.Duration(db.Spec.ReadyTimeoutSeconds) * time.Second
	if pod.crashLoop || now.Sub(pod.notReadyAt) >= timeout {
		d.hash, d.rejected, d.remediated = lastReady, wantHash, true
		d.failureNote = pod.message
		if d.failureNote == "" {
			d.failureNote = "not ready after " + timeout.String()
		}
	}
	return d
}

// requeueForDeadline is how long until a pod running a new configuration reaches its deadline
// (zero when nothing can be returned to).
func requeueForDeadline(db *componentsv1alpha1.Database, wantHash string, pod podState, now time.Time, canRevert bool) time.Duration {
	if !canRevert || db.Status.LastReadyConfigHash == "" || db.Status.LastReadyConfigHash == wantHash ||
		!pod.exists || pod.ready || pod.configHash != wantHash {
		return 0
	}
	left := time.Duration(db.Spec.ReadyTimeoutSeconds)*time.Second - now.Sub(pod.notReadyAt)
	if left <= 0 {
		return time.Second
	}
	return left
}
