package cluster

// The components' configurations; ${STATE}, ${NODE_IP}, ${NODE} and ${POD_CIDR} are replaced.
// Each setting that is not a default was found by a failure (docs/real-pods.md).

// containerdConfig: containerd 1.6 (Debian bookworm). restrict_oom_score_adj: the kubelet asks for
// negative OOM scores, which need CAP_SYS_RESOURCE that the machine does not give; without it runc
// fails with "can't get final child's PID from pipe". containerd still creates /run/containerd,
// /opt/containerd, /var/lib/cni and /run/netns whatever the configuration says: the caller of Enter
// removes them.
const containerdConfig = `version = 2
root = "${STATE}/containerd/root"
state = "${STATE}/containerd/state"
[grpc]
  address = "${STATE}/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "` + PauseImage + `"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${STATE}/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
[plugins."io.containerd.internal.v1.opt"]
  path = "${STATE}/containerd/opt"
`

// cniConfig: one bridge with the pods' range; the bridge is the pods' gateway, through which they
// reach the node's address (the API server, CoreDNS, versitygw).
const cniConfig = `{
  "cniVersion": "0.4.0",
  "name": "canopy-real",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "${POD_CIDR}"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": "${STATE}/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
`

// kubeletConfig: cgroup v1 here, hence failCgroupV1 false and the cgroupfs driver (containerd 1.6
// does not answer the CRI RuntimeConfig call, so the kubelet takes the driver from here). The
// serving certificate is signed by the cluster's CA so that the API server reaches the kubelet
// (logs, exec). The cluster DNS is CoreDNS on the node's address.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://${STATE}/containerd/containerd.sock
imageServiceEndpoint: unix://${STATE}/containerd/containerd.sock
podLogsDir: ${LOGS}/pods
staticPodPath: ${STATE}/manifests
address: ${NODE_IP}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
tlsCertFile: ${STATE}/pki/kubelet-serving.crt
tlsPrivateKeyFile: ${STATE}/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: ${STATE}/pki/ca.crt}
authorization: {mode: AlwaysAllow}
failSwapOn: false
resolvConf: ${STATE}/resolv.conf
clusterDomain: cluster.local
clusterDNS: [${NODE_IP}]
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%", "nodefs.inodesFree": "1%"}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
serializeImagePulls: false
registerNode: true
maxPods: 60
`

// kubeProxyConfig: iptables mode (the kernel has no IPVS); conntrack.maxPerCore 0 leaves the
// host's conntrack table size alone (setting it needs rights the sandbox lacks).
const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: ${STATE}/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: ${POD_CIDR}
hostnameOverride: ${NODE}
bindAddress: ${NODE_IP}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0}
`

// corefile: cluster.local from the API server, nothing forwarded (nothing outside is reachable).
const corefile = `.:53 {
    errors
    health 127.0.0.1:8081
    ready 127.0.0.1:8182
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${STATE}/admin.kubeconfig
        pods insecure
    }
    cache 5
}
`
