package common

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	componentsv1alpha1 "github.com/canopy-dev/canopy/apis/components/v1alpha1"
	"github.com/canopy-dev/canopy/internal/agent"
)

// Resources of the containers of backup, restore and purge Jobs. pg_dump and pg_restore stream
// and sort in memory (a large table's index build during a restore), hence the larger limit; the
// agent only copies files and objects. Requests are small so that a backup fits beside the
// database on a small node.
var (
	pgToolRequests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")}
	pgToolLimits   = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}
	agentRequests  = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	agentLimits    = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}
)

// PGToolResources bound a pg_dump or pg_restore container; scratch, when set, is the
// ephemeral-storage it writes (the dump) and requests.
func PGToolResources(scratch *resource.Quantity) corev1.ResourceRequirements {
	return withScratch(pgToolRequests, pgToolLimits, scratch)
}

// AgentResources bound a `canopy agent` container; scratch as for PGToolResources.
func AgentResources(scratch *resource.Quantity) corev1.ResourceRequirements {
	return withScratch(agentRequests, agentLimits, scratch)
}

func withScratch(requests, limits corev1.ResourceList, scratch *resource.Quantity) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: requests.DeepCopy(), Limits: limits.DeepCopy()}
	if scratch != nil && !scratch.IsZero() {
		r.Requests[corev1.ResourceEphemeralStorage] = scratch.DeepCopy()
	}
	return r
}

// ScratchVolume is the emptyDir a dump is written to before it is stored or loaded, bounded by
// size (unbounded when nil): a dump that outgrows it gets its pod evicted, reported as a failed
// backup or restore, instead of filling the node's disk.
func ScratchVolume(name string, size *resource.Quantity) corev1.Volume {
	dir := &corev1.EmptyDirVolumeSource{}
	if size != nil && !size.IsZero() {
		dir.SizeLimit = new(resource.Quantity)
		*dir.SizeLimit = size.DeepCopy()
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: dir}}
}

// EncryptionKeysVolume is the name of the volume of the destination's encryption Secret.
const EncryptionKeysVolume = "encryption-keys"

// EncryptionKeys gives the agent container c the keys of a destination's encryption Secret: the
// Secret mounted read-only at agent.EncryptionKeyMount, one file per key, readable by the pod's
// group only (fsGroup), and the flag that names the folder. A key is never an environment
// variable or an argument, which the pod spec, `kubectl describe` and process listings show.
// It returns the pod volumes to add; none without encryption.
func EncryptionKeys(enc *componentsv1alpha1.BackupEncryption, c *corev1.Container) []corev1.Volume {
	if enc == nil {
		return nil
	}
	c.Args = append(c.Args, agent.FlagEncryptionKeyDir+"="+agent.EncryptionKeyMount)
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: EncryptionKeysVolume, MountPath: agent.EncryptionKeyMount, ReadOnly: true})
	return []corev1.Volume{{Name: EncryptionKeysVolume, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: enc.KeySecret.Name, DefaultMode: ptr.To[int32](0o440)}}}}
}

// LiteralArgs returns args with every '$' doubled. The kubelet expands $(VAR) in a container's
// command and args with the container's environment, and "$$" is its escape for a plain '$': a
// value taken from a spec (an S3 prefix, a region) must reach the program as written, never as
// the value of a variable such as the S3 secret key the agent's environment holds.
func LiteralArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strings.ReplaceAll(a, "$", "$$")
	}
	return out
}
