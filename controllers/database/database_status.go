package database

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/destsecrets"
	"github.com/canopy-dev/canopy/internal/integrations"
)

// Reasons of a Database's conditions besides the shared ones.
const (
	ReasonProvisioning     = "Provisioning"
	ReasonConfigRemediated = "ConfigRemediated"
	ReasonAvailable        = integrations.ReasonAvailable
)

// capabilities are the optional APIs found in the cluster.
type capabilities integrations.Available

type statusInput struct {
	sts         stsState
	pod         podState
	cfg         configDecision
	wantHash    string
	caps        capabilities
	major       majorPlan
	storage     storageState
	rotated     bool
	rotationErr error
	pvc         *corev1.PersistentVolumeClaim
	stsChanged  bool    // this reconcile changed the StatefulSet: what the pod runs is older
	tls         tlsPlan // what TLS asks of the Database
	verifies    bool    // the credentials Secret's uri verifies the server (TLS is served)
	bootBlocked string  // a bootstrap held back over existing data: why
	// restoreSecrets: a restore (bootstrap, request, major upgrade) waits for a Secret its source names
	restoreSecrets *destsecrets.Problem
	// superuserLost: the superuser Secret was deleted while the data exists (ensureSecrets)
	superuserLost string
}

// computeStatus writes the Database's status from what was observed. Pure.
func computeStatus(db *componentsv1alpha1.Database, in statusInput) {
	st := &db.Status
	st.Endpoint = fmt.Sprintf("%s:%d", desired.Host(db), desired.Port)
	st.CredentialsSecretName = desired.CredentialsName(db)
	st.ConfigHash = in.cfg.hash
	st.RejectedConfigHash = in.cfg.rejected
	st.TLSEnabled = in.verifies
	if in.rotated {
		st.CredentialsRotation = db.Spec.CredentialsRotation
	}
	if in.pod.exists && in.pod.image != "" {
		// The version actually running, from the pod (not from the spec).
		st.Image = in.pod.image
		if v := in.pod.version; v != "" {
			st.Version = v
		} else if v := versionOf(in.pod.image); v != "" {
			st.Version = v
		}
	}
	if in.pvc != nil {
		if c, ok := in.pvc.Status.Capacity[corev1.ResourceStorage]; ok {
			st.StorageCapacity = &c
		}
	}
	ready := in.pod.ready && in.sts.rolledOut && in.pod.configHash == in.cfg.hash && !in.stsChanged
	if ready {
		st.LastReadyConfigHash = in.cfg.hash
	}

	integrations.SetCondition(db, componentsv1alpha1.ConditionCertificatesAvailable, db.Spec.TLS != nil, in.caps.Certificates, "cert-manager")
	if m := in.tls.certificates; m != "" {
		conditions.Set(db, componentsv1alpha1.ConditionCertificatesAvailable, metav1.ConditionFalse, componentsv1alpha1.ReasonCRDNotInstalled, m)
	}
	integrations.SetCondition(db, componentsv1alpha1.ConditionMonitoringAvailable, monitoringOn(db), in.caps.Monitoring, "Prometheus operator")
	if in.storage.resized {
		conditions.Set(db, componentsv1alpha1.ConditionStorageResized, metav1.ConditionTrue, ReasonAvailable, "the data volume has the requested size")
	} else {
		conditions.Set(db, componentsv1alpha1.ConditionStorageResized, metav1.ConditionFalse, in.storage.reason, in.storage.message)
	}

	switch {
	case in.superuserLost != "":
		conditions.MarkStalled(db, componentsv1alpha1.ReasonSuperuserSecretLost, in.superuserLost)
	case in.major.blocked != "":
		conditions.MarkStalled(db, componentsv1alpha1.ReasonMajorUpgradeBlocked, in.major.blocked)
	case in.restoreSecrets != nil:
		// Only a person can create the Secret; the request waits, Pending, saying the same.
		conditions.MarkStalled(db, in.restoreSecrets.Reason, in.restoreSecrets.Message)
	case in.major.running():
		m := in.major.status
		conditions.MarkReconciling(db, componentsv1alpha1.ReasonMajorUpgrade, fmt.Sprintf(
			"upgrading PostgreSQL %s to %s with the data of %s: %s", m.FromVersion, m.ToVersion,
			m.BackupName, majorStepMessage(m)))
	case in.major.status != nil && in.major.status.Phase == componentsv1alpha1.PhaseFailed &&
		componentsv1alpha1.MajorVersion(in.sts.version) != componentsv1alpha1.MajorVersion(db.Spec.Version):
		m := in.major.status
		conditions.MarkStalled(db, componentsv1alpha1.ReasonMajorUpgradeFailed, fmt.Sprintf(
			"the upgrade to PostgreSQL %s failed and %s runs again on its volume %s (%s); the volume %s of the attempt is kept for inspection. Take a "+
				"new backup to try again",
			m.ToVersion, m.FromVersion, m.PreviousVolumeClaim, m.Message, m.VolumeClaim))
	case in.cfg.rejected != "":
		// The cause (crash loop, timeout) goes into the event: the message stays the same on every
		// reconcile, so status does not flap.
		conditions.MarkStalled(db, ReasonConfigRemediated,
			"PostgreSQL did not become ready with the requested configuration and runs the last configuration that was ready; change spec.parameters "+
				"(or the resources) to try again")
	case in.bootBlocked != "":
		conditions.MarkStalled(db, componentsv1alpha1.ReasonExistingData, in.bootBlocked)
	case db.Status.Bootstrap != nil && db.Status.Bootstrap.Phase == componentsv1alpha1.PhaseFailed:
		conditions.MarkStalled(db, componentsv1alpha1.ReasonRestoreFailed, fmt.Sprintf(
			"restoring %s failed; the database was not changed: %s", db.Status.Bootstrap.BackupName, db.Status.Bootstrap.Message))
	// Before anything that waits on the pod: without its key pair, the pod does not start.
	case in.tls.stalled:
		conditions.MarkStalled(db, in.tls.reason, in.tls.message)
	case in.tls.reason != "":
		conditions.MarkReconciling(db, in.tls.reason, in.tls.message)
	case ready && db.Status.Bootstrap != nil && db.Status.Bootstrap.Phase != componentsv1alpha1.PhaseSucceeded:
		conditions.MarkReconciling(db, componentsv1alpha1.ReasonRestoring, db.Status.Bootstrap.Message)
	case ready && db.Status.Restore != nil && db.Status.Restore.Phase == componentsv1alpha1.PhaseRunning:
		conditions.MarkReconciling(db, componentsv1alpha1.ReasonRestoring, db.Status.Restore.Message)
	case in.rotationErr != nil:
		conditions.MarkReconciling(db, componentsv1alpha1.ReasonRotationFailed,
			"the credentials rotation did not complete and will be retried: "+in.rotationErr.Error())
	case ready && db.Spec.TLS != nil && !in.verifies:
		// Never Ready with TLS asked for before clients verify the server.
		conditions.MarkReconciling(db, ReasonProvisioning, "PostgreSQL serves TLS; the credentials Secret "+
			st.CredentialsSecretName+" does not verify the server yet")
	case ready && in.tls.note != "":
		conditions.MarkReady(db, ReasonAvailable, "PostgreSQL "+st.Version+" is ready at "+st.Endpoint+" with TLS; "+in.tls.note)
	case ready:
		conditions.MarkReady(db, ReasonAvailable, "PostgreSQL "+st.Version+" is ready at "+st.Endpoint)
	case in.pod.exists && in.pod.message != "":
		conditions.MarkReconciling(db, ReasonProvisioning, "the PostgreSQL pod is not ready: "+in.pod.message)
	default:
		conditions.MarkReconciling(db, ReasonProvisioning, "waiting for the PostgreSQL pod to be ready")
	}
}

func majorStepMessage(m *componentsv1alpha1.MajorUpgradeStatus) string {
	switch m.Step {
	case componentsv1alpha1.MajorStepReplacing:
		return "starting PostgreSQL " + m.ToVersion + " on the new volume " + m.VolumeClaim + " (the volume " + m.PreviousVolumeClaim + " is kept)"
	case componentsv1alpha1.MajorStepRestoring:
		return "loading the backup into PostgreSQL " + m.ToVersion
	case componentsv1alpha1.MajorStepRollingBack:
		return "the restore failed (" + m.Message + "); starting PostgreSQL " + m.FromVersion + " again on " + m.PreviousVolumeClaim
	}
	return m.Step
}
