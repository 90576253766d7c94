package database

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	certmanagerv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/desired/common"
	desired "github.com/canopy-dev/canopy/internal/desired/database"
	"github.com/canopy-dev/canopy/internal/issuers"
)

// When a Database asks for TLS, TLS is required: PostgreSQL never runs without it, nothing reports
// Ready before clients can verify the server, and losing cert-manager never turns TLS off. This
// file observes the server certificate and decides from it; the decision is pure (planTLS).

// tlsObserved is what the cluster says about a Database's server certificate.
type tlsObserved struct {
	certManager bool   // cert-manager's Certificate API is installed
	waiting     string // why the Certificate is not Ready ("" when it is, or without cert-manager)
	keyPair     bool   // the certificate's Secret holds a certificate (tls.crt) and a key (tls.key)
	certificate string // desired.CertificateHash of that certificate
	leaf        []byte // the server's certificate (DER), the first of tls.crt
	notAfter    time.Time
	ca          []byte // the Secret's ca.crt, which clients verify the server with
	invalid     string // why the Secret's tls.crt is not a certificate
	// issuerMissing says that the issuer spec.tls.issuerRef names does not exist ("" when it
	// does, or cannot be checked).
	issuerMissing string
}

// observeTLS reads the Certificate (when cert-manager is installed) and its Secret. The Secret is
// read from the cache, which holds it since the Certificate's secretTemplate gives it Canopy's
// labels; its key is never read into anything but this presence check.
func (r *Reconciler) observeTLS(ctx context.Context, db *componentsv1alpha1.Database, certManager bool) (tlsObserved, error) {
	obs := tlsObserved{certManager: certManager}
	if db.Spec.TLS == nil {
		return obs, nil
	}
	name := desired.TLSName(db)
	if certManager {
		cert := &certmanagerv1.Certificate{}
		switch err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: name}, cert); {
		case apierrors.IsNotFound(err):
			// This pass creates it (applyAll): say what the next pass reads from the new Certificate,
			// rather than a message that a status write replaces as soon as it exists.
			cert.Name = name
			obs.waiting = issuers.CertificateWaiting(cert)
		case err != nil:
			return obs, fmt.Errorf("reading the Certificate: %w", err)
		default:
			obs.waiting = issuers.CertificateWaiting(cert)
		}
		if obs.waiting != "" {
			issuer, err := issuers.Observe(ctx, r.APIReader, db.Spec.TLS.IssuerRef, db.Namespace, name)
			if err != nil {
				return obs, err
			}
			obs.issuerMissing = issuer.Missing
			if issuer.NotReady != "" {
				obs.waiting += "; " + issuer.NotReady
			}
		}
	}
	secret := &corev1.Secret{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: name}, secret); apierrors.IsNotFound(err) {
		return obs, nil
	} else if err != nil {
		return obs, fmt.Errorf("reading the Secret %s: %w", name, err)
	}
	crt := secret.Data[corev1.TLSCertKey]
	obs.keyPair = len(crt) > 0 && len(secret.Data[corev1.TLSPrivateKeyKey]) > 0
	obs.ca = secret.Data[common.DatabaseCAKey]
	if obs.keyPair {
		obs.certificate = desired.CertificateHash(crt)
		obs.notAfter, obs.invalid = certificateExpiry(crt)
		if block, _ := pem.Decode(crt); block != nil {
			obs.leaf = block.Bytes
		}
	}
	return obs, nil
}

// certificateExpiry reads the expiry of the first certificate of a PEM chain (the server's own).
func certificateExpiry(crt []byte) (time.Time, string) {
	block, _ := pem.Decode(crt)
	if block == nil || block.Type != "CERTIFICATE" {
		return time.Time{}, "its tls.crt is not a PEM certificate"
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return time.Time{}, "its tls.crt cannot be parsed: " + err.Error()
	}
	return cert.NotAfter, ""
}

// tlsPlan is what a Database does about TLS now.
type tlsPlan struct {
	// on: the configuration turns SSL on and the StatefulSet mounts the certificate's Secret.
	on bool
	// hold: no StatefulSet is created yet. A new one waits for its key pair: created before, its
	// pod would start PostgreSQL as soon as the Secret appeared, and again once the certificate's
	// hash reached the pod template.
	hold bool
	// certificate to stamp on the pod template (desired.AnnotationCertificate): the one a new pod
	// starts with. A renewal does not change it (reload).
	certificate string
	// reload: the running pod serves another certificate than the Secret's; PostgreSQL is to
	// reload it (reloadCertificate).
	reload bool
	// publish: the credentials Secret is brought in line with ca (verify-full with it; plain
	// when it is nil). Otherwise the Secret stays as it is.
	publish bool
	ca      []byte
	// stalled, reason and message say why TLS keeps the Database from being Ready ("" when it
	// does not).
	stalled         bool
	reason, message string
	// note is added to a Ready message, and certificates replaces the message of a False
	// CertificatesAvailable: TLS is served without cert-manager.
	note, certificates string
	// requeue is when the certificate expires, which no watch reports without cert-manager.
	requeue time.Duration
}

// planTLS decides a Database's TLS from what was observed. Pure.
//
// PostgreSQL serves TLS once it is asked for, whether the key pair exists yet or not: a new
// StatefulSet is created once the key pair exists, with it (hold). A running PostgreSQL that serves without
// TLS (spec.tls was just set) keeps doing so until the key pair exists, so that asking for TLS costs
// no outage; one that serves TLS never goes back to plain, even when cert-manager or the Secret
// goes. The credentials Secret says verify-full once the pod runs ready with the current
// certificate, and goes back to plain only when spec.tls is removed.
func planTLS(db *componentsv1alpha1.Database, obs tlsObserved, sts stsState, pod podState, now time.Time) tlsPlan {
	if db.Spec.TLS == nil {
		return tlsPlan{publish: true}
	}
	name := desired.TLSName(db)
	keyPair := obs.keyPair && obs.invalid == ""
	p := tlsPlan{on: keyPair || !sts.exists || sts.tls, hold: !keyPair && !sts.exists, certificate: sts.certificate}
	if keyPair && (!sts.exists || !sts.tls) {
		p.certificate = obs.certificate // a new instance, or one turning TLS on, starts with it
	}
	// A running TLS instance is not restarted for a renewed certificate: PostgreSQL reloads it.
	p.reload = keyPair && sts.exists && sts.tls && pod.exists && pod.ready && !pod.terminating && pod.certificate != obs.certificate
	servesIt := pod.exists && pod.ready && !pod.terminating && pod.certificate == obs.certificate
	if keyPair && len(obs.ca) > 0 && servesIt {
		p.publish, p.ca = true, obs.ca
	}
	expired := keyPair && !now.Before(obs.notAfter)
	validUntil := obs.notAfter.UTC().Format(time.RFC3339)
	switch {
	case !obs.certManager && !keyPair:
		p.stalled, p.reason = true, componentsv1alpha1.ReasonCertManagerMissing
		p.message = "spec.tls asks for TLS, but cert-manager is not installed, so the Certificate " + name + " cannot be requested: "
		if sts.exists && !sts.tls {
			p.message += "PostgreSQL keeps serving without TLS, as before spec.tls was set, until the Secret " + name + " holds a key pair"
		} else {
			p.message += "PostgreSQL does not start before the Secret " + name + " holds a key pair"
		}
		p.message += " (install cert-manager, or remove spec.tls)"
		if obs.invalid != "" {
			p.message += "; the Secret " + name + " is not usable: " + obs.invalid
		}
	case obs.invalid != "":
		p.reason, p.message = componentsv1alpha1.ReasonCertificateNotReady, "the Secret "+name+" is not usable: "+obs.invalid
	case expired:
		p.reason = componentsv1alpha1.ReasonCertificateNotReady
		p.message = "the certificate in the Secret " + name + " expired at " + validUntil
		if !obs.certManager {
			p.message += ", and cert-manager, which renews it, is not installed"
		}
	case obs.issuerMissing != "" && !keyPair:
		p.stalled, p.reason, p.message = true, componentsv1alpha1.ReasonIssuerNotFound, obs.issuerMissing
	case obs.issuerMissing != "":
		// A renewal waits for the issuer; the current certificate serves meanwhile.
		p.reason, p.message = componentsv1alpha1.ReasonIssuerNotFound, obs.issuerMissing
	case obs.waiting != "":
		p.reason, p.message = componentsv1alpha1.ReasonCertificateNotReady, obs.waiting
	case !keyPair:
		p.reason = componentsv1alpha1.ReasonCertificateNotReady
		p.message = "the Certificate " + name + " is issued, but its Secret " + name + " holds no key pair with Canopy's labels (tls.crt and tls.key)"
	case len(obs.ca) == 0:
		p.reason = componentsv1alpha1.ReasonCertificateNotReady
		p.message = "the Secret " + name + " holds no CA certificate (ca.crt), so clients cannot verify the server: " +
			"use an issuer that publishes its CA (CA, SelfSigned, Vault)"
	}
	if !obs.certManager && keyPair {
		p.certificates = "the cert-manager CRDs are not installed: PostgreSQL keeps serving TLS with the key pair in the Secret " + name +
			" (valid until " + validUntil + "), which nothing renews"
		if !expired {
			p.note = "cert-manager is not installed to renew its certificate (valid until " + validUntil + ")"
			p.requeue = obs.notAfter.Sub(now) + time.Second
		}
	} else if !obs.certManager {
		p.certificates = "the cert-manager CRDs are not installed: the Certificate " + name + " is created once they are"
	}
	return p
}

// syncConnection brings the credentials Secret's uri and TLS keys in line with the plan, and
// returns whether the Secret now verifies the server (status.tlsEnabled). Only those keys are
// written, and only when they differ: the password and the rest are the Secret's own.
func (r *Reconciler) syncConnection(ctx context.Context, db *componentsv1alpha1.Database, p tlsPlan) (bool, error) {
	creds := &corev1.Secret{}
	key := client.ObjectKey{Namespace: db.Namespace, Name: desired.CredentialsName(db)}
	err := r.Get(ctx, key, creds)
	if apierrors.IsNotFound(err) { // created by this reconcile, not in the cache yet
		err = r.APIReader.Get(ctx, key, creds)
	}
	if err != nil {
		return false, fmt.Errorf("reading the credentials Secret: %w", err)
	}
	verifies := string(creds.Data[desired.KeySSLMode]) == "verify-full"
	if !p.publish {
		return verifies, nil
	}
	want := desired.Connection(db, string(creds.Data["password"]), p.ca)
	set, remove := map[string]string{}, []string{}
	for _, k := range append([]string{"uri"}, desired.TLSKeys...) {
		v, wanted := want[k]
		have, present := creds.Data[k]
		switch {
		case wanted && string(have) != v:
			set[k] = v
		case !wanted && present:
			remove = append(remove, k)
		}
	}
	if len(set) == 0 && len(remove) == 0 {
		return verifies, nil
	}
	if err := r.writeSecret(ctx, creds, set, remove); err != nil {
		return verifies, err
	}
	return len(p.ca) > 0, nil
}

// revertible says whether the last configuration that was ready can be returned to: it still
// exists, and serves TLS exactly when the wanted one does. Returning to one without TLS would turn
// TLS off; to one with it, PostgreSQL would not start without the key.
func (r *Reconciler) revertible(ctx context.Context, db *componentsv1alpha1.Database, tls bool) (bool, error) {
	hash := db.Status.LastReadyConfigHash
	if hash == "" {
		return false, nil
	}
	cm := &corev1.ConfigMap{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: db.Namespace, Name: desired.ConfigName(db, hash)}, cm); apierrors.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("reading the last ready configuration: %w", err)
	}
	return desired.ServesTLS(cm.Data["postgresql.conf"]) == tls, nil
}
