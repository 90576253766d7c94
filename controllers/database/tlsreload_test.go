package database

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
)

// TestDecideReload: a renewed certificate reaches a running PostgreSQL in steps — wait for the
// kubelet to write it, ask for a reload once, look again, record it once presented — and a reload
// that does not take within reloadWait is reported, not asked for again and again.
func TestDecideReload(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	oldCrt, newCrt := []byte("old tls.crt"), []byte("new tls.crt")
	obs := tlsObserved{keyPair: true, certificate: desired.CertificateHash(newCrt), leaf: []byte("new DER")}
	asked := func(at time.Time) *componentsv1alpha1.TLSCertificateStatus {
		return &componentsv1alpha1.TLSCertificateStatus{ReloadRequested: obs.certificate, ReloadRequestedAt: &metav1.Time{Time: at}}
	}
	for _, tc := range []struct {
		name      string
		was       *componentsv1alpha1.TLSCertificateStatus
		presented []byte
		file      []byte
		want      reloadOutcome
		ask       bool
	}{
		{name: "the kubelet has not written the renewed files yet", presented: []byte("old DER"), file: oldCrt,
			want: reloadOutcome{status: &componentsv1alpha1.TLSCertificateStatus{}, requeue: reloadLook}},
		{name: "written: PostgreSQL is asked to reload", presented: []byte("old DER"), file: newCrt, ask: true,
			want: reloadOutcome{status: asked(now), requeue: reloadLook}},
		{name: "asked, not presented yet: look again, do not ask again", was: asked(now.Add(-10 * time.Second)), presented: []byte("old DER"), file: newCrt,
			want: reloadOutcome{status: asked(now.Add(-10 * time.Second)), requeue: reloadLook}},
		{name: "asked a minute ago and still not presented: reported, not asked again", was: asked(now.Add(-reloadWait)),
			presented: []byte("old DER"), file: newCrt,
			want: reloadOutcome{status: asked(now.Add(-reloadWait)), failed: "PostgreSQL did not load the renewed certificate of the Secret " +
				"shop-postgres-tls within 1m0s of being asked (its log says why); it serves the previous one"}},
		{name: "presented after the reload: recorded for this pod", was: asked(now.Add(-10 * time.Second)), presented: obs.leaf, file: newCrt,
			want: reloadOutcome{status: &componentsv1alpha1.TLSCertificateStatus{Served: obs.certificate, Pod: "uid-1"}, reloaded: true}},
		{name: "a new pod started with it: recorded, nothing reloaded", presented: obs.leaf, file: newCrt,
			want: reloadOutcome{status: &componentsv1alpha1.TLSCertificateStatus{Served: obs.certificate, Pod: "uid-1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ask := decideReload(tc.was, tc.presented, tc.file, obs, "uid-1", "shop-postgres-tls", now)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.ask, ask)
		})
	}
}

// TestServedCertificate: the certificate a pod serves is the one status records it reloaded, for
// that pod only; otherwise the one its template started it with.
func TestServedCertificate(t *testing.T) {
	db := &componentsv1alpha1.Database{Status: componentsv1alpha1.DatabaseStatus{
		TLSCertificate: &componentsv1alpha1.TLSCertificateStatus{Served: "c2", Pod: "uid-1"}}}
	require.Equal(t, "c2", servedCertificate(db, podState{uid: "uid-1", certificate: "c1"}))
	require.Equal(t, "c1", servedCertificate(db, podState{uid: "uid-2", certificate: "c1"}), "another pod: its template's")
	require.Equal(t, "c1", servedCertificate(&componentsv1alpha1.Database{}, podState{uid: "uid-1", certificate: "c1"}))
}
