#!/usr/bin/env bash
# up.sh starts meshbench's offline test cluster: Kubernetes 1.32 built from
# source (build.sh), etcd, one control plane and MBTC_NODES nodes (default
# 3) with containerd, each node in its own network namespace joined by a
# bridge in a "fabric" namespace, like kind's docker network. The host's
# network namespace is not touched; the API server is reached on
# 127.0.0.1:$MBTC_API_PORT (default 16443) through a forwarder. It waits
# until every node is Ready and a pod runs on each, then prints the
# kubeconfig path on stdout.
#
# On failure it tears down what it started (set MBTC_RETAIN=1 to keep it
# for debugging; down.sh removes it). See README.md.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$HERE/pki.sh"

UP_TIMEOUT=${MBTC_UP_TIMEOUT:-180} # seconds for the cluster to become usable, after the build

preflight() {
	[[ $EUID == 0 ]] || { log "needs root: it creates network namespaces, mounts and cgroups"; exit 2; }
	local missing=() c
	for c in etcd containerd containerd-shim-runc-v2 runc ctr socat openssl iptables nsenter unshare ip go; do
		command -v "$c" >/dev/null || missing+=("$c")
	done
	for c in bridge host-local loopback portmap; do
		[[ -x /usr/lib/cni/$c ]] || missing+=("cni/$c")
	done
	if ((${#missing[@]})); then
		log "missing ${missing[*]}: apt-get install etcd-server containerd runc containernetworking-plugins socat openssl iptables"
		exit 2
	fi
	if ((${#NODES[@]} == 0)); then
		log "MBTC_NODES=${MBTC_NODES:-}: want a node count from 1 to 50"
		exit 2
	fi
	if netns_exists "$FABRIC_NS" || [[ -e $RUN || -e $STATE ]]; then
		log "the test cluster is already up (or left over): run hack/testcluster/down.sh first"
		exit 2
	fi
	if ss -Hltn "sport = :$API_PORT" | grep -q .; then
		log "127.0.0.1:$API_PORT is in use: set MBTC_API_PORT to a free port"
		exit 2
	fi
}

# images builds the pause and echo executables and their image archives.
images() {
	local bin=$CACHE/testcluster/bin
	mkdir -p "$bin" "$STATE/images"
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$bin/" \
		./hack/testcluster/images/pause ./hack/testcluster/images/echo ./hack/testcluster/images/ociimage)
	"$bin/ociimage" -o "$STATE/images/pause.tar" -name "$PAUSE_IMAGE" -entrypoint /pause "$bin/pause"
	"$bin/ociimage" -o "$STATE/images/echo.tar" -name "$ECHO_IMAGE" -entrypoint /echo "$bin/echo"
}

# start NAME CMD...: runs CMD as a daemon in its own session (its pid is
# the process group of whatever it forks), logging to $STATE/logs/NAME.log;
# down.sh kills the group.
start() {
	local name=$1
	shift
	setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null &
	echo $! >"$RUN/$name.pid"
	disown
}

# network creates the fabric and node namespaces, links and routes. Every
# sysctl written here belongs to one of these namespaces.
network() {
	ip netns add "$FABRIC_NS"
	ip -n "$FABRIC_NS" link set lo up
	ip -n "$FABRIC_NS" link add name "$FABRIC_BR" type bridge
	ip -n "$FABRIC_NS" addr add "$FABRIC_IP/$FABRIC_PREFIXLEN" dev "$FABRIC_BR"
	ip -n "$FABRIC_NS" link set "$FABRIC_BR" up
	ip netns exec "$FABRIC_NS" sysctl -qw net.ipv4.ip_forward=1
	local n i j
	for n in "${NODES[@]}"; do
		i=$(node_index "$n")
		ip netns add "$n"
		ip -n "$n" link set lo up
		ip -n "$FABRIC_NS" link add name "veth-node$i" type veth peer name eth0 netns "$n"
		ip -n "$FABRIC_NS" link set "veth-node$i" master "$FABRIC_BR" up
		ip -n "$n" addr add "$(node_ip "$i")/$FABRIC_PREFIXLEN" dev eth0
		ip -n "$n" link set eth0 up
		ip -n "$n" route add default via "$FABRIC_IP"
		ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1
		ip -n "$FABRIC_NS" route add "$(pod_cidr "$i")" via "$(node_ip "$i")"
	done
	for n in "${NODES[@]}"; do
		i=$(node_index "$n")
		for j in $(seq 1 ${#NODES[@]}); do
			((i == j)) || ip -n "$n" route add "$(pod_cidr "$j")" via "$(node_ip "$j")"
		done
	done
}

# cgroups creates each node's cgroup root in every hierarchy, nested under
# this process's memory cgroup, and records what it created.
cgroups() {
	local base mnt n path
	base=$(own_memory_cgroup)
	base=${base%/}/$PREFIX
	echo "$base" >"$RUN/cgroup-base"
	for mnt in $(cgroup_mounts); do
		for n in "${NODES[@]}"; do
			path=$mnt$base/$n
			mkdir_cgroup "$mnt" "$path"
		done
	done
}

# mkdir_cgroup MOUNT PATH: like mkdir -p, recording each directory it
# creates, and giving new cpusets their parent's CPUs and memory nodes.
mkdir_cgroup() {
	local mnt=$1 path=$2
	[[ -d $path ]] && return
	mkdir_cgroup "$mnt" "$(dirname "$path")"
	mkdir "$path"
	echo "$path" >>"$RUN/cgroups.created"
	if [[ -f $path/cpuset.cpus ]]; then
		cat "$(dirname "$path")/cpuset.cpus" >"$path/cpuset.cpus"
		cat "$(dirname "$path")/cpuset.mems" >"$path/cpuset.mems"
	fi
}

configs() {
	mkdir -p "$STATE/etc" "$STATE/logs"
	# Nothing in the cluster resolves names: node processes see these
	# instead of the host's, and pods inherit the resolv.conf.
	printf '# meshbench test cluster: no name resolution, IP literals only\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$STATE/etc/resolv.conf"
	printf 'hosts: files\n' >"$STATE/etc/nsswitch.conf"
	local base n i dir
	base=$(cat "$RUN/cgroup-base")
	for n in "${NODES[@]}"; do
		i=$(node_index "$n")
		dir=$(node_dir "$n")
		mkdir -p "$dir/log" "$dir/cni" "$dir/kubelet" "$dir/sysctl" "$dir/ipam"
		# What the kubelet wants (pkg/kubelet/cm setupKernelTunables).
		echo 1 >"$dir/sysctl/vm.overcommit_memory"
		echo 0 >"$dir/sysctl/vm.panic_on_oom"
		echo 10 >"$dir/sysctl/kernel.panic"
		echo 1 >"$dir/sysctl/kernel.panic_on_oops"
		echo 1000000 >"$dir/sysctl/kernel.keys.root_maxkeys"
		echo 25000000 >"$dir/sysctl/kernel.keys.root_maxbytes"
		cat >"$dir/cni/10-$PREFIX.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "$PREFIX",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$dir/ipam",
        "ranges": [[{"subnet": "$(pod_cidr "$i")", "gateway": "$(pod_gw "$i")"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
		cat >"$dir/containerd.toml" <<EOF
version = 2
root = "$dir/containerd"
state = "/run/containerd"
oom_score = 0
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "$(containerd_sock "$n")"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$dir/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
EOF
		cat >"$dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $(node_ip "$i")
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $PKI/$n-serving.crt
tlsPrivateKeyFile: $PKI/$n-serving.key
containerRuntimeEndpoint: unix://$(containerd_sock "$n")
cgroupDriver: cgroupfs
cgroupRoot: $base/$n
failCgroupV1: false
failSwapOn: false
protectKernelDefaults: true
oomScoreAdj: 0
resolvConf: $STATE/etc/resolv.conf
clusterDomain: cluster.local
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
kernelMemcgNotification: false
EOF
		cat >"$dir/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
hostnameOverride: $n
mode: iptables
clusterCIDR: $CLUSTER_CIDR
oomScoreAdj: 0
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
nodePortAddresses: [primary]
# Leave the conntrack table size and timeouts alone: they are not this
# namespace's to change.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
	done
}

control_plane() {
	local fab=(ip netns exec "$FABRIC_NS")
	mkdir -p "$STATE/etcd"
	chmod 700 "$STATE/etcd"
	start etcd "${fab[@]}" etcd --name "$PREFIX" --data-dir "$STATE/etcd" \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster "$PREFIX=http://127.0.0.1:2380" --listen-metrics-urls http://127.0.0.1:2381
	wait_for 30 etcd "${fab[@]}" curl -sf http://127.0.0.1:2379/health

	start kube-apiserver "${fab[@]}" "$KBIN/kube-apiserver" \
		--etcd-servers=http://127.0.0.1:2379 \
		--bind-address=0.0.0.0 --advertise-address="$FABRIC_IP" --secure-port=6443 \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--client-ca-file="$PKI/ca.crt" \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
		--kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$PKI/ca.crt" \
		--kubelet-preferred-address-types=InternalIP \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
		--requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
		--requestheader-allowed-names=front-proxy-client \
		--requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
		--requestheader-extra-headers-prefix=X-Remote-Extra- \
		--proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
		--allow-privileged=true --profiling=false --v=1 \
		--enable-aggregator-routing=true # webhooks by endpoint IP: no kube-proxy in the fabric namespace
	wait_for 60 "the API server" "${fab[@]}" curl -sf --cacert "$PKI/ca.crt" \
		--cert "$PKI/admin.crt" --key "$PKI/admin.key" https://127.0.0.1:6443/readyz

	start kube-controller-manager "${fab[@]}" "$KBIN/kube-controller-manager" \
		--kubeconfig="$STATE/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$STATE/controller-manager.kubeconfig" \
		--authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
		--service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
		--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" --cluster-cidr="$CLUSTER_CIDR" \
		--allocate-node-cidrs=false --controllers='*,-cloud-node-lifecycle' --profiling=false --v=1 \
		--feature-gates=WatchListClient=false # etcd 3.4 cannot serve watch lists
	start kube-scheduler "${fab[@]}" "$KBIN/kube-scheduler" \
		--kubeconfig="$STATE/scheduler.kubeconfig" \
		--authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
		--authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
		--bind-address=127.0.0.1 --leader-elect=false --profiling=false --v=1

	# 127.0.0.1:$API_PORT on the host -> unix socket -> the API server in
	# the fabric namespace; no link between the namespaces.
	start api-forward-fabric "${fab[@]}" socat "UNIX-LISTEN:$RUN/apiserver.sock,fork,unlink-early" TCP:127.0.0.1:6443
	wait_for 10 "the API forwarder" test -S "$RUN/apiserver.sock"
	start api-forward-host socat "TCP-LISTEN:$API_PORT,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$RUN/apiserver.sock"
	wait_for 10 "the API server on 127.0.0.1:$API_PORT" kctl get --raw /readyz
}

nodes() {
	local n
	mkdir -p /var/lib/cni 2>/dev/null || true
	for n in "${NODES[@]}"; do
		start "$n" nsenter --net="/run/netns/$n" unshare --mount --uts --propagation private \
			"$HERE/node.sh" "$n" "$KBIN"
	done
}

# left prints the seconds left of MBTC_UP_TIMEOUT (at least 1).
left() { echo $((deadline > SECONDS ? deadline - SECONDS : 1)); }

ready() {
	local n
	for n in "${NODES[@]}"; do
		wait_for "$(left)" "node $n to be Ready (see $(node_dir "$n")/log/)" \
			kctl wait --for=condition=Ready --timeout=5s "node/$n"
	done
	wait_for "$(left)" "the default service account" kctl -n default get serviceaccount default
	for n in "${NODES[@]}"; do
		kctl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $PREFIX-probe-$n, namespace: default, labels: {app.kubernetes.io/managed-by: $PREFIX}}
spec:
  nodeName: $n
  terminationGracePeriodSeconds: 0
  containers: [{name: pause, image: $PAUSE_IMAGE, imagePullPolicy: Never}]
EOF
	done
	for n in "${NODES[@]}"; do
		wait_for "$(left)" "the probe pod on $n to run" \
			kctl -n default wait --for=condition=Ready --timeout=5s "pod/$PREFIX-probe-$n"
	done
	kctl -n default delete pod -l "app.kubernetes.io/managed-by=$PREFIX" --wait=false >/dev/null
}

failed() {
	local rc=$?
	trap - EXIT
	((rc == 0 || rc == 2)) && exit "$rc"
	if [[ ${MBTC_RETAIN:-} == 1 ]]; then
		log "failed; logs are in $STATE/logs and $STATE/nodes/*/log"
		log "MBTC_RETAIN=1: leaving the cluster up; hack/testcluster/down.sh removes it"
		exit "$rc"
	fi
	if ((rc == 130 || rc == 143)); then
		log "interrupted; tearing down"
	else
		log "failed; the logs' last lines follow, then the teardown (MBTC_RETAIN=1 keeps the cluster)"
		for f in "$STATE"/logs/*.log "$STATE"/nodes/*/log/*.log; do
			[[ -s $f ]] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }
		done
	fi
	"$HERE/down.sh" >&2 || true
	exit "$rc"
}

preflight
KBIN=$(kbin)
t0=$SECONDS
trap failed EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$RUN" "$STATE/logs"
echo "${NODES[*]}" >"$RUN/nodes"
# Remember whether we created /var/lib/cni (the mount point of the nodes'
# private CNI cache), so that down.sh removes only that.
[[ -e /var/lib/cni ]] || touch "$RUN/created-var-lib-cni"
deadline=$((SECONDS + UP_TIMEOUT))
log "building images"
images
network
cgroups
configs
make_pki
log "starting the control plane"
control_plane
log "starting ${NODES[*]}"
nodes
ready
trap - EXIT
log "up in $((SECONDS - t0))s: ${NODES[*]}"
log "kubectl: $KBIN/kubectl --kubeconfig $KUBECONFIG_PATH get nodes"
log "images: meshbench run ... --provider kube --kubeconfig $KUBECONFIG_PATH --image-import '$IMAGE_IMPORT'"
echo "$KUBECONFIG_PATH"
