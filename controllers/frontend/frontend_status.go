package frontend

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/conditions"
	desired "github.com/canopy-dev/canopy/internal/desired/frontend"
	"github.com/canopy-dev/canopy/internal/integrations"
)

// Reasons of a Frontend's conditions besides the shared ones.
const (
	ReasonMigrationRunning = "MigrationRunning"
	ReasonRollingOut       = "RollingOut"
	ReasonStopped          = "Stopped"
	ReasonAvailable        = integrations.ReasonAvailable
	ReasonNotRequested     = "NotRequested"
)

// capabilities are the optional APIs found in the cluster.
type capabilities integrations.Available

// computeStatus writes the Frontend's status from the Deployment's rollout and the decision. Pure.
func computeStatus(fe *componentsv1alpha1.Frontend, ro rollout, d decision, caps capabilities) {
	st := &fe.Status
	want := fe.Spec.Version
	st.DesiredVersion = want
	st.Migration = d.migration
	st.FailedVersion = d.failedVersion
	if ro.complete && ro.version != "" {
		st.Version = ro.version
		if ro.version == want && d.failedVersion == "" {
			st.LastGoodVersion = want
		}
	}
	st.Replicas, st.ReadyReplicas = ro.replicas, ro.ready
	st.URL = desired.URL(fe, tlsActive(fe, caps))

	integrations.SetCondition(fe, componentsv1alpha1.ConditionCertificatesAvailable, fe.Spec.TLS != nil && fe.Spec.Ingress != nil, caps.Certificates,
		"cert-manager")
	integrations.SetCondition(fe, componentsv1alpha1.ConditionMonitoringAvailable, fe.Spec.Monitoring.IsEnabledFrontend(), caps.Monitoring,
		"Prometheus operator")

	switch {
	case d.failedVersion != "":
		conditions.MarkStalled(fe, d.failReason, d.failMessage)
		conditions.Set(fe, componentsv1alpha1.ConditionDegraded, metav1.ConditionTrue, d.failReason, d.failMessage)
		return
	case ro.complete && ro.version == want:
		msg := fmt.Sprintf("version %s available on %d of %d replicas", want, ro.ready, ro.replicas)
		reason := ReasonAvailable
		if fe.Spec.Stopped {
			msg, reason = "stopped: scaled to zero", ReasonStopped
		}
		if d.issuerMissing != "" {
			msg += "; HTTPS waits for its certificate: " + d.issuerMissing
		}
		conditions.MarkReady(fe, reason, msg)
	case d.migration != nil && d.migration.Version == want && d.migration.Phase != componentsv1alpha1.PhaseSucceeded:
		conditions.MarkReconciling(fe, ReasonMigrationRunning, fmt.Sprintf("migrating the database for version %s (Job %s)", want, d.migration.JobName))
	default:
		conditions.MarkReconciling(fe, ReasonRollingOut, fmt.Sprintf("rolling out version %s: %d of %d replicas ready", want, ro.ready, ro.replicas))
	}
	// The web tier serves, over HTTP, without the ingress host's certificate: Degraded (not
	// Stalled, which would hold an upgrade or a restore that waits for the web tier to serve) until
	// the issuer exists. cert-manager then issues, and the Certificate's watch brings the Frontend back.
	if d.issuerMissing != "" {
		conditions.Set(fe, componentsv1alpha1.ConditionDegraded, metav1.ConditionTrue, componentsv1alpha1.ReasonIssuerNotFound, d.issuerMissing)
		return
	}
	conditions.Remove(fe, componentsv1alpha1.ConditionDegraded)
}

// tlsActive: the ingress serves TLS when an issuer is named and cert-manager's API exists.
func tlsActive(fe *componentsv1alpha1.Frontend, caps capabilities) bool {
	return fe.Spec.TLS != nil && fe.Spec.Ingress != nil && caps.Certificates
}
