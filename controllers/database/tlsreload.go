package database

import (
	"bytes"
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/pgadmin"
)

// A renewed server certificate used to restart PostgreSQL: the certificate's hash on the pod
// template changed, and the StatefulSet rolled the pod, every renewal (every 60 days with
// cert-manager's defaults). PostgreSQL reloads its key pair with its configuration, so a running
// instance is told to reload instead, once the kubelet has written the renewed Secret into the
// pod (it does within about a minute; read back through the server).
const (
	// reloadLook is how soon to look again while the kubelet has not written the renewed files yet,
	// or PostgreSQL has just been asked to reload: a renewal takes a minute or two of these looks.
	reloadLook = 10 * time.Second
	// reloadWait is how long a requested reload may take before it counts as failed.
	reloadWait = time.Minute
)

// reloadOutcome is what a reload pass found.
type reloadOutcome struct {
	status  *componentsv1alpha1.TLSCertificateStatus
	requeue time.Duration
	// failed says that PostgreSQL did not take the renewed certificate (it serves the previous one).
	failed string
	// reloaded: the server now presents the certificate it was asked to reload.
	reloaded bool
}

// servedCertificate is the certificate the pod serves: the one status records it reloaded, or the
// one its template started it with.
func servedCertificate(db *componentsv1alpha1.Database, ps podState) string {
	if c := db.Status.TLSCertificate; c != nil && c.Served != "" && c.Pod == ps.uid {
		return c.Served
	}
	return ps.certificate
}

// reloadCertificate has the running PostgreSQL serve the certificate of its Secret (obs), as the
// superuser over TLS: what a new connection is presented and what the server's file holds decide
// (decideReload) whether PostgreSQL is asked to reload its configuration now.
func (r *Reconciler) reloadCertificate(ctx context.Context, db *componentsv1alpha1.Database, ps podState, obs tlsObserved,
	now time.Time) (reloadOutcome, error) {
	super := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: desired.SuperuserName(db)}, super); err != nil {
		return reloadOutcome{status: db.Status.TLSCertificate}, fmt.Errorf("reading the superuser Secret: %w", err)
	}
	admin, err := r.Connect(ctx, pgadmin.ConnInfo{Host: desired.Host(db), Port: desired.Port, User: desired.SuperUser,
		Password: string(super.Data[corev1.BasicAuthPasswordKey]), SSLMode: "require"})
	if err != nil {
		return reloadOutcome{status: db.Status.TLSCertificate}, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer func() { _ = admin.Close(ctx) }()
	file, err := admin.ReadServerFile(ctx, desired.TLSDir+"/"+corev1.TLSCertKey)
	if err != nil {
		return reloadOutcome{status: db.Status.TLSCertificate}, err
	}
	out, ask := decideReload(db.Status.TLSCertificate, admin.PresentedCertificate(), file, obs, ps.uid, desired.TLSName(db), now)
	if ask {
		if err := admin.ReloadConfiguration(ctx); err != nil {
			return reloadOutcome{status: db.Status.TLSCertificate}, err
		}
	}
	if out.reloaded {
		r.Recorder.Eventf(db, corev1.EventTypeNormal, "CertificateReloaded",
			"PostgreSQL serves the renewed certificate of the Secret %s, without a restart", desired.TLSName(db))
	}
	return out, nil
}

// decideReload is one step of a reload, from what was observed: the certificate the server
// presented to a new connection, the server's certificate file, the Secret's certificate (obs)
// and the reload status so far. ask says that PostgreSQL is to reload its configuration now. Pure.
func decideReload(was *componentsv1alpha1.TLSCertificateStatus, presented, file []byte, obs tlsObserved, pod, secret string,
	now time.Time) (out reloadOutcome, ask bool) {
	st := &componentsv1alpha1.TLSCertificateStatus{}
	if was != nil {
		st = was.DeepCopy()
	}
	out.status = st
	switch {
	case bytes.Equal(presented, obs.leaf):
		out.reloaded = st.ReloadRequested == obs.certificate
		st.Served, st.Pod, st.ReloadRequested, st.ReloadRequestedAt = obs.certificate, pod, "", nil
	case desired.CertificateHash(file) != obs.certificate:
		out.requeue = reloadLook // the kubelet has not written the renewed Secret into the pod yet
	case st.ReloadRequested == obs.certificate && st.ReloadRequestedAt != nil && now.Sub(st.ReloadRequestedAt.Time) >= reloadWait:
		out.failed = fmt.Sprintf("PostgreSQL did not load the renewed certificate of the Secret %s within %s of being asked (its log says why); "+
			"it serves the previous one", secret, reloadWait)
	case st.ReloadRequested == obs.certificate && st.ReloadRequestedAt != nil:
		out.requeue = reloadLook
	default:
		st.ReloadRequested, st.ReloadRequestedAt = obs.certificate, &metav1.Time{Time: now}
		out.requeue, ask = reloadLook, true
	}
	return out, ask
}

// followCertificate carries out a reload (tls.reload) and records what it found in db's status.
// It returns the certificate the pod serves now, and adds to tls when to look again and, when the
// reload failed, a note for the Ready condition. A reload that cannot be carried out now
// (PostgreSQL unreachable) is an event, not a failed reconcile: the pod serves its previous
// certificate meanwhile, which is still valid.
func (r *Reconciler) followCertificate(ctx context.Context, db *componentsv1alpha1.Database, tls *tlsPlan, ps podState, obs tlsObserved,
	now time.Time) string {
	if !tls.reload {
		if c := db.Status.TLSCertificate; c != nil && c.Pod != ps.uid {
			db.Status.TLSCertificate = nil // about a pod that is gone
		}
		return ps.certificate
	}
	out, err := r.reloadCertificate(ctx, db, ps, obs, now)
	db.Status.TLSCertificate = out.status
	if err != nil {
		r.Recorder.Eventf(db, corev1.EventTypeWarning, "CertificateReloadFailed", "reloading the renewed certificate of the Secret %s: %v",
			desired.TLSName(db), err)
		out.requeue = 3 * reloadLook
	}
	if out.failed != "" {
		tls.note = joinNotes(tls.note, out.failed)
	}
	if out.requeue > 0 && (tls.requeue == 0 || out.requeue < tls.requeue) {
		tls.requeue = out.requeue
	}
	return servedCertificate(db, ps)
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
