# lib.sh: names, addresses and helpers shared by up.sh, down.sh and smoke.sh.
# Everything the test cluster creates is named from the values here, so that
# down.sh finds all of it again.
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

PREFIX=mbtc                                         # every netns, cgroup and pod name starts with it
STATE=${MBTC_STATE:-/var/lib/meshbench-testcluster} # certificates, configs, node roots, logs
RUN=${MBTC_RUN:-/run/meshbench-testcluster}         # pids and the host side of sockets
CACHE=${MBTC_CACHE:-/var/cache/meshbench}           # Kubernetes binaries and images, kept by down.sh
KUBECONFIG_PATH=$STATE/admin.kubeconfig
API_PORT=${MBTC_API_PORT:-16443} # on the host's 127.0.0.1

# The fabric netns plays the role of kind's docker network: a bridge that
# joins the nodes, and the control plane (etcd, API server, controller
# manager, scheduler) on its address.
FABRIC_NS=$PREFIX-fabric
FABRIC_BR=$PREFIX-br0
FABRIC_IP=172.31.250.1
FABRIC_PREFIXLEN=24
# Nodes are $PREFIX-node1..N: N is MBTC_NODES (default 3, what the quick
# scenario needs) when starting, and what up.sh recorded afterwards.
if [[ -f $RUN/nodes ]]; then
	read -r -a NODES <"$RUN/nodes"
else
	NODES=()
	if [[ ${MBTC_NODES:-3} =~ ^[0-9]+$ ]] && ((${MBTC_NODES:-3} <= 50)); then
		for ((i = 1; i <= ${MBTC_NODES:-3}; i++)); do NODES+=("$PREFIX-node$i"); done
	fi
fi
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
PAUSE_IMAGE=registry.k8s.io/pause:3.10
ECHO_IMAGE=localhost/mbtc-echo:v1

# How meshbench's kube provider puts an image on a node (--image-import).
IMAGE_IMPORT="ctr --address $STATE/nodes/{node}/containerd.sock -n k8s.io images import {archive}"

node_ip() { echo "172.31.250.$((10 + $1))"; }  # node index (1-based)
pod_cidr() { echo "10.244.$1.0/24"; }
pod_gw() { echo "10.244.$1.1"; }
node_index() { echo "${1##*node}"; }             # mbtc-node2 -> 2
node_dir() { echo "$STATE/nodes/$1"; }
containerd_sock() { echo "$STATE/nodes/$1/containerd.sock"; }

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# kbin prints the directory holding the Kubernetes binaries, building them
# on first use.
kbin() { "$HERE/build.sh"; }

# kctl runs kubectl as the cluster admin.
kctl() { "$KBIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" --request-timeout=20s "$@"; }

# wait_for SECONDS WHAT CMD...: retries CMD every half second until it
# succeeds or SECONDS pass.
wait_for() {
	local secs=$1 what=$2
	shift 2
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		((SECONDS < deadline)) || {
			log "timed out after ${secs}s waiting for $what"
			return 1
		}
		sleep 0.5
	done
}

# cgroup_mounts prints the mount point of every cgroup hierarchy (v1 and
# v2), read from /proc/self/mountinfo rather than assumed.
cgroup_mounts() {
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) == "cgroup" || $(i+1) == "cgroup2") print $5; break } }' /proc/self/mountinfo
}

# own_memory_cgroup prints this process's cgroup in the v1 memory hierarchy:
# the cluster's cgroups nest under it.
own_memory_cgroup() {
	awk -F: '$2 ~ /(^|,)memory(,|$)/ { print $3 }' /proc/self/cgroup
}

# netns_exists NAME
netns_exists() { [[ -e /run/netns/$1 ]]; }
