package harness

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StorageClass is the clusters' default class: provisioned by the harness, expandable.
const StorageClass = "canopy-local"

// Provisioner does for StorageClass what a CSI driver's provisioner and resizer would: every
// pending claim of the class gets a volume of its size (which kube-controller-manager binds), and a
// bound claim that asks for more has its volume and capacity grown.
type Provisioner struct {
	// Name is the class's provisioner, and the volumes' provisioned-by.
	Name string
	// Volume says where the volume named name of pvc lives (creating what it needs), and on which
	// nodes, if that matters.
	Volume func(pvc *corev1.PersistentVolumeClaim, name string) (corev1.PersistentVolumeSource, *corev1.VolumeNodeAffinity, error)
	// Log reports a failed pass; the next pass, half a second later, tries again.
	Log func(string, ...any)
}

// Start creates the default StorageClass, then provisions until ctx ends.
func (p Provisioner) Start(ctx context.Context, c client.Client) error {
	sc := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: StorageClass, Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner:          p.Name,
		AllowVolumeExpansion: ptr.To(true),
		ReclaimPolicy:        ptr.To(corev1.PersistentVolumeReclaimRetain),
		VolumeBindingMode:    ptr.To(storagev1.VolumeBindingImmediate),
	}
	if err := c.Create(ctx, sc); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := p.once(ctx, c); err != nil && ctx.Err() == nil {
				p.Log("provisioner: %v", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return nil
}

func (p Provisioner) once(ctx context.Context, c client.Client) error {
	claims := &corev1.PersistentVolumeClaimList{}
	if err := c.List(ctx, claims); err != nil {
		return err
	}
	for i := range claims.Items {
		pvc := &claims.Items[i]
		if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != StorageClass || pvc.DeletionTimestamp != nil {
			continue
		}
		want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
		if pvc.Spec.VolumeName == "" {
			if err := p.create(ctx, c, pvc); err != nil {
				return err
			}
			continue
		}
		if have := pvc.Status.Capacity[corev1.ResourceStorage]; pvc.Status.Phase == corev1.ClaimBound && have.Cmp(want) < 0 {
			if err := grow(ctx, c, pvc, want); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p Provisioner) create(ctx context.Context, c client.Client, pvc *corev1.PersistentVolumeClaim) error {
	name := fmt.Sprintf("pv-%s", pvc.UID)
	source, affinity, err := p.Volume(pvc, name)
	if err != nil {
		return err
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": p.Name}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              StorageClass,
			ClaimRef:                      &corev1.ObjectReference{Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource:        source,
			NodeAffinity:                  affinity,
		},
	}
	if err := c.Create(ctx, pv); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the volume of %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}

// grow gives the claim's volume and the claim's capacity the size it asks for.
func grow(ctx context.Context, c client.Client, pvc *corev1.PersistentVolumeClaim, size resource.Quantity) error {
	pv := &corev1.PersistentVolume{}
	if err := c.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
		return err
	}
	base := pv.DeepCopy()
	pv.Spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: size}
	if err := c.Patch(ctx, pv, client.MergeFrom(base)); err != nil {
		return err
	}
	cbase := pvc.DeepCopy()
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: size}
	return c.Status().Patch(ctx, pvc, client.MergeFrom(cbase))
}
