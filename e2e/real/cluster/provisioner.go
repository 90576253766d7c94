package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// StorageClass is the node's default class, provisioned by the harness.
const StorageClass = "canopy-local"

const provisionerName = "canopy.dev/real-local"

// startProvisioner creates the default StorageClass and then, until ctx ends, gives every pending
// claim of that class a `local` volume: a folder under dir pinned to the node. Unlike hostPath, a
// local volume gets the pod's fsGroup (the kubelet makes it group-writable), as a CSI volume
// would: PostgreSQL, uid 999, writes into it. Growth is recorded only (the folder has no size).
func startProvisioner(ctx context.Context, c client.Client, dir string, log func(string, ...any)) error {
	sc := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: StorageClass, Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner:          provisionerName,
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
			if err := provisionOnce(ctx, c, dir); err != nil && ctx.Err() == nil {
				log("provisioner: %v", err)
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

func provisionOnce(ctx context.Context, c client.Client, dir string) error {
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
			if err := createVolume(ctx, c, dir, pvc); err != nil {
				return err
			}
			continue
		}
		have := pvc.Status.Capacity[corev1.ResourceStorage]
		if pvc.Status.Phase == corev1.ClaimBound && have.Cmp(want) < 0 {
			pv := &corev1.PersistentVolume{}
			if err := c.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
				return err
			}
			base := pv.DeepCopy()
			pv.Spec.Capacity = corev1.ResourceList{corev1.ResourceStorage: want}
			if err := c.Patch(ctx, pv, client.MergeFrom(base)); err != nil {
				return err
			}
			cbase := pvc.DeepCopy()
			pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: want}
			if err := c.Status().Patch(ctx, pvc, client.MergeFrom(cbase)); err != nil {
				return err
			}
		}
	}
	return nil
}

func createVolume(ctx context.Context, c client.Client, dir string, pvc *corev1.PersistentVolumeClaim) error {
	name := fmt.Sprintf("pv-%s", pvc.UID)
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(path, 0o755); err != nil {
		return err
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisionerName}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: pvc.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              StorageClass,
			ClaimRef:                      &corev1.ObjectReference{Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{NodeName}}},
			}}}},
		},
	}
	if err := c.Create(ctx, pv); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the volume of %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}
