package cluster

import (
	"context"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canopy-dev/canopy/e2e/harness"
)

// StorageClass is the cluster's default class: provisioned by the harness, expandable.
const StorageClass = harness.StorageClass

// startProvisioner creates the default StorageClass and then, until ctx ends, gives every pending
// claim of that class a hostPath volume under dir and grows volumes whose claims ask for more.
// Nothing is written into the volumes: kwok runs no containers.
func startProvisioner(ctx context.Context, c client.Client, dir string, log func(string, ...any)) error {
	return harness.Provisioner{Name: "canopy.dev/local-hostpath", Log: log,
		Volume: func(_ *corev1.PersistentVolumeClaim, name string) (corev1.PersistentVolumeSource, *corev1.VolumeNodeAffinity, error) {
			return corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: filepath.Join(dir, "volumes", name), Type: ptr.To(corev1.HostPathDirectoryOrCreate)}}, nil, nil
		},
	}.Start(ctx, c)
}
