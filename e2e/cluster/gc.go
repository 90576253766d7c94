package cluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	canopyv1alpha1 "github.com/canopy-dev/canopy/apis/canopy/v1alpha1"
	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
)

// gcProbeNamespace holds the objects of waitForGarbageCollector.
const gcProbeNamespace = "canopy-gc-probe"

// gcProbes are the smallest valid objects of Canopy's kinds.
func gcProbes() []client.Object {
	meta := metav1.ObjectMeta{Namespace: gcProbeNamespace, Name: "probe"}
	return []client.Object{
		&canopyv1alpha1.Stack{ObjectMeta: meta, Spec: canopyv1alpha1.StackSpec{Version: "0.0.0",
			Frontend: canopyv1alpha1.StackFrontend{Image: "probe"}}},
		&componentsv1alpha1.Database{ObjectMeta: meta, Spec: componentsv1alpha1.DatabaseSpec{Version: "17",
			Storage: componentsv1alpha1.StorageSpec{Size: resource.MustParse("1Gi")}}},
		&componentsv1alpha1.Frontend{ObjectMeta: meta, Spec: componentsv1alpha1.FrontendSpec{Image: "probe", Version: "0.0.0"}},
		&componentsv1alpha1.BackupPolicy{ObjectMeta: meta, Spec: componentsv1alpha1.BackupPolicySpec{DatabaseName: "probe",
			Destination: componentsv1alpha1.BackupDestination{Volume: &componentsv1alpha1.VolumeDestination{ClaimName: "probe"}}}},
	}
}

// waitForGarbageCollector returns once the garbage collector of kube-controller-manager handles
// every kind of crds. The collector learns new resources from discovery only every 30 seconds:
// when its first discovery ran before the CRDs were installed (about one start in three here), it
// neither sees an owner of those kinds being deleted with propagationPolicy Orphan nor maps their
// owner references, so orphaning and cascading deletion wait up to 30 seconds, and a test that
// deletes a Stack in that window waits for the collector instead of for Canopy.
//
// The signal is the collector's own work: an object deleted with propagationPolicy Orphan carries
// the orphan finalizer until the collector — through its informer on that resource — orphans the
// object's dependents and removes the finalizer. So each kind's probe is gone exactly when the
// collector watches that resource and can map its kind. Run before Canopy's manager starts, which
// would reconcile the probes.
func waitForGarbageCollector(ctx context.Context, c client.Client, crds []*apiextensionsv1.CustomResourceDefinition, logf func(string, ...any)) error {
	start := time.Now()
	probes := gcProbes()
	covered := map[schema.GroupKind]bool{}
	for _, p := range probes {
		gvk, err := c.GroupVersionKindFor(p)
		if err != nil {
			return err
		}
		covered[gvk.GroupKind()] = true
	}
	for _, crd := range crds {
		if gk := (schema.GroupKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind}); !covered[gk] {
			return fmt.Errorf("no garbage-collector probe for %s: add its smallest valid object to gcProbes", gk)
		}
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: gcProbeNamespace}}
	if err := c.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("creating the namespace %s: %w", gcProbeNamespace, err)
	}
	defer func() { _ = c.Delete(context.Background(), ns) }()
	for _, p := range probes {
		if err := c.Create(ctx, p); client.IgnoreAlreadyExists(err) != nil {
			return fmt.Errorf("creating the probe %T: %w", p, err)
		}
		if err := c.Delete(ctx, p, client.PropagationPolicy(metav1.DeletePropagationOrphan)); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting the probe %T: %w", p, err)
		}
	}
	// Two discovery periods of the collector, and some slack for a loaded machine.
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for _, p := range probes {
		for {
			err := c.Get(ctx, client.ObjectKeyFromObject(p), p)
			if apierrors.IsNotFound(err) {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("the garbage collector did not remove the orphan finalizer of the probe %T (finalizers %v): it does not handle "+
					"Canopy's kinds: %w",
					p, p.GetFinalizers(), ctx.Err())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	logf("the garbage collector handles Canopy's kinds (%s)", time.Since(start).Round(100*time.Millisecond))
	return nil
}
