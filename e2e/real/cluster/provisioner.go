package cluster

import (
	"context"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/canopy-dev/canopy/e2e/harness"
)

// StorageClass is the node's default class, provisioned by the harness.
const StorageClass = harness.StorageClass

// startProvisioner creates the default StorageClass and then, until ctx ends, gives every pending
// claim of that class a `local` volume: a folder under dir pinned to the node. Unlike hostPath, a
// local volume gets the pod's fsGroup (the kubelet makes it group-writable), as a CSI volume
// would: PostgreSQL, uid 999, writes into it. Growth is recorded only (the folder has no size).
func startProvisioner(ctx context.Context, c client.Client, dir string, log func(string, ...any)) error {
	return harness.Provisioner{Name: "canopy.dev/real-local", Log: log,
		Volume: func(_ *corev1.PersistentVolumeClaim, name string) (corev1.PersistentVolumeSource, *corev1.VolumeNodeAffinity, error) {
			path := filepath.Join(dir, name)
			if err := os.MkdirAll(path, 0o755); err != nil {
				return corev1.PersistentVolumeSource{}, nil, err
			}
			return corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: path}},
				&corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{
						Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{NodeName}}},
				}}}}, nil
		},
	}.Start(ctx, c)
}
