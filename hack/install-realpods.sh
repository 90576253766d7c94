#!/usr/bin/env bash
# Installs the Debian packages the real-pods tier (e2e/real) runs or builds images with: containerd
# and runc (the container runtime), the CNI plugins (bridge, host-local, loopback), iptables (for
# kube-proxy), mmdebstrap (image root filesystems) and PostgreSQL 15 (its client and pg_dump run in
# the test). Idempotent: does nothing when every command is there. Needs root (apt-get), as the tier
# itself does (namespaces, mounts, cgroups).
set -euo pipefail

need=()
for pair in containerd:containerd runc:runc /usr/lib/cni/bridge:containernetworking-plugins \
	iptables:iptables mmdebstrap:mmdebstrap /usr/lib/postgresql/15/bin/postgres:postgresql-15 \
	ip:iproute2 nsenter:util-linux; do
	cmd=${pair%%:*} pkg=${pair#*:}
	if [[ $cmd == /* ]]; then [ -x "$cmd" ] && continue; else command -v "$cmd" >/dev/null 2>&1 && continue; fi
	need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then
	echo "install-realpods: packages already installed"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-realpods: must run as root to install ${need[*]} with apt-get" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${need[@]}"
# The containerd package would start a containerd for the host where an init system runs one; the
# tier starts its own inside its namespaces and needs none outside.
echo "install-realpods: installed ${need[*]}"
