//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/e2e/cluster"
	"github.com/canopy-dev/canopy/internal/conditions"
	"github.com/canopy-dev/canopy/internal/scheme"
	"github.com/canopy-dev/canopy/internal/testenv"
)

// childKinds are the kinds of a Stack's objects deleted by hand: the components, the workloads,
// their Services and configuration, and cert-manager's Certificates.
var childKinds = []schema.GroupVersionKind{
	{Group: "components.canopy.dev", Version: "v1alpha1", Kind: "Database"},
	{Group: "components.canopy.dev", Version: "v1alpha1", Kind: "Frontend"},
	{Group: "components.canopy.dev", Version: "v1alpha1", Kind: "BackupPolicy"},
	{Group: "apps", Version: "v1", Kind: "Deployment"},
	{Group: "apps", Version: "v1", Kind: "StatefulSet"},
	{Version: "v1", Kind: "Service"},
	{Version: "v1", Kind: "ConfigMap"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
	{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"},
}

// children lists the objects of ns of a kind in kinds that Canopy manages or that have an owner
// (and every Secret), by "Kind name" → UID.
func children(t *testing.T, ns string, kinds []schema.GroupVersionKind) map[string]types.UID {
	t.Helper()
	out := map[string]types.UID{}
	for _, gvk := range kinds {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		require.NoError(t, c.Client.List(context.Background(), list, client.InNamespace(ns)))
		for _, o := range list.Items {
			// cert-manager writes the Ingress's TLS Secret without Canopy's labels or an owner.
			if o.GetLabels()["app.kubernetes.io/managed-by"] == "canopy" || len(o.GetOwnerReferences()) > 0 || gvk.Kind == "Secret" {
				out[gvk.Kind+" "+o.GetName()] = o.GetUID()
			}
		}
	}
	return out
}

// deleteAll deletes the objects children listed, and the TLS Secrets of ns.
func deleteAll(t *testing.T, ns string, objs map[string]types.UID, kinds []schema.GroupVersionKind) {
	t.Helper()
	ctx := context.Background()
	for key := range objs {
		kind, name, _ := strings.Cut(key, " ")
		for _, gvk := range kinds {
			if gvk.Kind == kind {
				o := &unstructured.Unstructured{}
				o.SetGroupVersionKind(gvk)
				o.SetNamespace(ns)
				o.SetName(name)
				require.NoError(t, client.IgnoreNotFound(c.Client.Delete(ctx, o, client.PropagationPolicy(metav1.DeletePropagationBackground))), key)
			}
		}
	}
}

// requireRecreated waits until each object of before exists again under a new UID and the Stack
// is Ready.
func requireRecreated(t *testing.T, ns, name string, before map[string]types.UID, kinds []schema.GroupVersionKind) {
	t.Helper()
	var missing []string
	defer func() {
		if t.Failed() {
			dumpCertificates(t, ns)
		}
	}()
	start, said := time.Now(), ""
	require.Eventually(t, func() bool {
		now := children(t, ns, kinds)
		missing = missing[:0]
		for key, uid := range before {
			if now[key] == "" || now[key] == uid {
				missing = append(missing, key)
			}
		}
		sort.Strings(missing)
		if m := fmt.Sprint(missing); time.Since(start) > 10*time.Second && m != said {
			said = m
			t.Logf("after %s, still to come back: %s", time.Since(start).Round(100*time.Millisecond), m)
		}
		return len(missing) == 0
	}, wait, 250*time.Millisecond, "every object deleted by hand comes back (missing %v)", &missing)
	waitReady(t, ns, name, "1.0.0")
}

// TestFaultChildrenDeletedByHand: a Stack's objects are deleted by hand — its workloads, Services,
// configuration, Ingress, Certificates and their TLS Secrets; then its components (Database,
// Frontend, BackupPolicy); then cert-manager's Certificate CRD. Each comes back and the Stack is
// Ready again (without the CRD, the Stack says why it waits); its data claims stay the same
// claims throughout; deleted at the end, the Stack goes: no finalizer is wedged.
func TestFaultChildrenDeletedByHand(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	jobs := recordJobs(t, ns)
	l := newLedger()
	newStack(t, ns, "hand", withBackups(""), func(s *canopyv1alpha1.Stack) {
		s.Spec.TLS = &componentsv1alpha1.TLSSpec{IssuerRef: componentsv1alpha1.IssuerReference{Name: cluster.SelfSignedIssuer, Kind: "ClusterIssuer"}}
		s.Spec.Frontend.Ingress = &componentsv1alpha1.IngressSpec{Host: "hand.example.com"}
	})
	waitReady(t, ns, "hand", "1.0.0")
	require.True(t, requireInvariants(t, ns, "hand", jobs, l))
	claims := claimUIDs(t, ns)

	// The workloads and everything around them.
	workloads := childKinds[3:]
	before := children(t, ns, workloads)
	var secrets corev1.SecretList
	require.NoError(t, c.Client.List(ctx, &secrets, client.InNamespace(ns)))
	for _, s := range secrets.Items {
		if s.Type == corev1.SecretTypeTLS {
			before["Secret "+s.Name] = s.UID
			require.NoError(t, c.Client.Delete(ctx, &s))
		}
	}
	require.GreaterOrEqual(t, len(before), 8, "the Stack's objects: %v", before)
	deleteAll(t, ns, before, workloads)
	start := time.Now()
	requireRecreated(t, ns, "hand", before, append(workloads, corev1.SchemeGroupVersion.WithKind("Secret")))
	t.Logf("%d objects deleted by hand, back and the Stack Ready in %s", len(before), time.Since(start).Round(100*time.Millisecond))

	// The components.
	before = children(t, ns, childKinds[:3])
	require.Len(t, before, 3)
	deleteAll(t, ns, before, childKinds[:3])
	start = time.Now()
	requireRecreated(t, ns, "hand", before, childKinds[:3])
	t.Logf("Database, Frontend and BackupPolicy deleted by hand, back and the Stack Ready in %s", time.Since(start).Round(100*time.Millisecond))
	require.Equal(t, claims, claimUIDs(t, ns), "the data and backup claims are the same claims")
	// The Frontend's record of its migrations is its status and the Jobs it owns, which go with
	// it: the new Frontend runs the serving version's migration once more
	// (docs/frontend-controller.md). That is the one Job allowed twice.
	require.Equal(t, []string{"hand/migration/1.0.0: 2 Jobs"}, jobs.duplicates(), "the migration runs again, and nothing else")
	jobs.allow("hand/migration/1.0.0", 2)
	require.True(t, requireInvariants(t, ns, "hand", jobs, l))

	// cert-manager's Certificate CRD deleted, and installed again.
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "certificates.cert-manager.io"}}
	require.NoError(t, c.Client.Delete(ctx, crd))
	require.Eventually(t, func() bool { return apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKeyFromObject(crd), crd)) },
		wait, 200*time.Millisecond, "the CRD is gone")
	var said string
	require.Eventually(t, func() bool {
		db := &componentsv1alpha1.Database{}
		if c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "hand"}, db) != nil {
			return false
		}
		// TLS never turns off: the Database says it cannot renew its certificate, or keeps serving
		// with the key pair it has.
		for _, cond := range db.Status.Conditions {
			if cond.Reason == componentsv1alpha1.ReasonCertManagerMissing || cond.Reason == componentsv1alpha1.ReasonCRDNotInstalled {
				said = fmt.Sprintf("%s=%s %s: %s", cond.Type, cond.Status, cond.Reason, cond.Message)
				return true
			}
		}
		return false
	}, wait, 200*time.Millisecond, "the Database says cert-manager's CRD is missing")
	t.Logf("without the Certificate CRD: %s; Stack Ready=%v", said, conditions.IsTrue(stack(t, ns, "hand"), componentsv1alpha1.ConditionReady))
	dir, err := testenv.ModuleDir("github.com/cert-manager/cert-manager")
	require.NoError(t, err)
	_, err = envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join(dir, "deploy", "crds", "cert-manager.io_certificates.yaml")},
		ErrorIfPathMissing: true, Scheme: scheme.New(), MaxTime: time.Minute})
	require.NoError(t, err)
	start = time.Now()
	require.Eventually(t, func() bool {
		return len(children(t, ns, childKinds[len(childKinds)-1:])) == 2
	}, wait, 250*time.Millisecond, "the Certificates come back with the CRD")
	waitReady(t, ns, "hand", "1.0.0")
	t.Logf("the CRD installed again: Certificates back and the Stack Ready in %s", time.Since(start).Round(100*time.Millisecond))
	require.True(t, requireInvariants(t, ns, "hand", jobs, l))

	// Deleted, the Stack goes.
	require.NoError(t, c.Client.Delete(ctx, stack(t, ns, "hand")))
	require.Eventually(t, func() bool {
		return apierrors.IsNotFound(c.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "hand"}, &canopyv1alpha1.Stack{}))
	}, wait, 200*time.Millisecond, "the Stack is deleted: no finalizer is wedged")
	require.True(t, requireInvariants(t, ns, "", jobs, l))
}

// claimUIDs are the claims of ns by name.
func claimUIDs(t *testing.T, ns string) map[string]types.UID {
	t.Helper()
	var claims corev1.PersistentVolumeClaimList
	require.NoError(t, c.Client.List(context.Background(), &claims, client.InNamespace(ns)))
	out := map[string]types.UID{}
	for _, pvc := range claims.Items {
		out[pvc.Name] = pvc.UID
	}
	return out
}

// dumpCertificates prints, for a failing test, the conditions of ns's Certificates and
// CertificateRequests.
func dumpCertificates(t *testing.T, ns string) {
	t.Helper()
	for _, kind := range []string{"CertificateList", "CertificateRequestList"} {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: kind})
		if err := c.Client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
			t.Logf("dump %s: %v", kind, err)
			continue
		}
		for _, o := range list.Items {
			cs, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
			t.Logf("dump %s %s uid=%s owners=%v conditions=%v", o.GetKind(), o.GetName(), o.GetUID(), o.GetOwnerReferences(), cs)
		}
	}
}
