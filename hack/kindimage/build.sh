#!/usr/bin/env bash
# build.sh builds meshbench's offline kind node image and loads it into the
# Docker engine (DOCKER_HOST; hack/kindengine/engine.sh starts one). Nothing
# is pulled: the Debian root filesystem comes from debootstrap, Kubernetes,
# etcd, CoreDNS and pause are built from the Go module proxy, and the
# control-plane images kubeadm asks for are made here and imported into
# the node's containerd. The image's filesystem is cached under
# $MBKI_CACHE/kindimage keyed on every input, so a second build only
# imports it into the engine (or does nothing when the engine has it).
#
#   hack/kindimage/build.sh      # prints the image, e.g. meshbench.local/kind-node:v1.32.13-1a2b3c4d5e6f
#
# Env: K8S_VERSION (default 1.32.13, at most 1.34 on cgroup v1 hosts),
# MBKI_CACHE (default /var/cache/meshbench).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
K8S_VERSION=${K8S_VERSION:-1.32.13}
export K8S_VERSION
CACHE=${MBKI_CACHE:-/var/cache/meshbench}
TOP=$CACHE/kindimage
REPOSITORY=meshbench.local/kind-node
# The images kubeadm v1.32 pulls, by the names it pulls them.
ETCD_TAG=3.5.24-0
COREDNS_TAG=v1.11.3
PAUSE_TAG=3.10

log() { printf 'kindimage: %s\n' "$*" >&2; }
nicely() { nice -n 19 ionice -c3 "$@"; }

if ! timeout 20 docker info >/dev/null 2>&1; then
	log "no Docker engine answers at ${DOCKER_HOST:-the default socket}: start one (hack/kindengine/engine.sh start) and set DOCKER_HOST"
	exit 2
fi
for c in containerd ctr tar; do
	command -v "$c" >/dev/null || {
		log "$c is missing: apt-get install containerd tar"
		exit 2
	}
done

start=$(date +%s)
rootfs=$("$HERE/rootfs.sh")
kbin=$("$REPO/hack/testcluster/build.sh")
xbin=$("$HERE/binaries.sh")

# The key: every input's content.
key=$({
	sha256sum "$rootfs" | cut -d' ' -f1
	for b in kubelet kubeadm kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do sha256sum <"$kbin/$b"; done
	for b in etcd coredns pause; do sha256sum <"$xbin/$b"; done
	cat "$HERE"/files/* "$HERE/build.sh"
} | sha256sum | cut -c1-12)
IMAGE=$REPOSITORY:v$K8S_VERSION-$key
NODE_TAR=$TOP/node-$key.tar

mkdir -p "$TOP"
exec 9>"$TOP/.node.lock"
flock 9
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
	echo "$IMAGE"
	exit 0
fi

if [[ ! -s $NODE_TAR ]]; then
	log "building the node filesystem $key (cold: ~2-3 min)"
	dir=$TOP/node-$key.d
	ctrd=$TOP/containerd-$key
	rm -rf "$dir" "$ctrd"
	mkdir -p "$dir" "$ctrd"
	cleanup_build() {
		[[ -s $ctrd/pid ]] && kill "$(cat "$ctrd/pid")" 2>/dev/null
		rm -rf "$dir" "$ctrd"
	}
	trap cleanup_build EXIT
	nicely tar -C "$dir" -xf "$rootfs"

	# Kubernetes on the node, the node's services and kind's files.
	install -m 0755 "$kbin/kubelet" "$kbin/kubeadm" "$kbin/kubectl" "$dir/usr/local/bin/"
	install -m 0755 "$HERE/files/entrypoint" "$HERE/files/mbnet" "$dir/usr/local/bin/"
	install -m 0644 "$HERE/files/kubelet.service" "$HERE/files/mbnet.service" "$dir/etc/systemd/system/"
	install -D -m 0644 "$HERE/files/10-kubeadm.conf" "$dir/etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
	install -D -m 0644 "$HERE/files/containerd.toml" "$dir/etc/containerd/config.toml"
	install -D -m 0644 "$HERE/files/default-cni.yaml" "$dir/kind/manifests/default-cni.yaml"
	echo "v$K8S_VERSION" >"$dir/kind/version"
	for u in kubelet mbnet containerd; do
		ln -sf "/etc/systemd/system/$u.service" "$dir/etc/systemd/system/multi-user.target.wants/$u.service" 2>/dev/null || true
	done
	ln -sf /lib/systemd/system/containerd.service "$dir/etc/systemd/system/multi-user.target.wants/containerd.service"
	# A container has no consoles, clocks or udev to manage.
	for u in getty@tty1 console-getty systemd-udevd systemd-timesyncd systemd-networkd; do
		ln -sf /dev/null "$dir/etc/systemd/system/$u.service"
	done
	mkdir -p "$dir/opt/cni" "$dir/etc/cni/net.d"
	ln -sfn /usr/lib/cni "$dir/opt/cni/bin"

	# The images kubeadm asks for: one static binary each, apart from
	# kube-proxy, which runs iptables and so gets the node's own root.
	images=()
	single() { # NAME BINARY_PATH
		local d=$ctrd/img-${1//[\/:]/_}
		mkdir -p "$d/usr/local/bin"
		cp "$2" "$d/usr/local/bin/"
		tar -C "$d" -cf "$d.tar" .
		nicely docker import -c "ENTRYPOINT [\"/usr/local/bin/${2##*/}\"]" \
			-c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' "$d.tar" "$1" >/dev/null
		images+=("$1")
	}
	for c in kube-apiserver kube-controller-manager kube-scheduler; do
		single "registry.k8s.io/$c:v$K8S_VERSION" "$kbin/$c"
	done
	single "registry.k8s.io/etcd:$ETCD_TAG" "$xbin/etcd"
	single "registry.k8s.io/coredns/coredns:$COREDNS_TAG" "$xbin/coredns"
	single "registry.k8s.io/pause:$PAUSE_TAG" "$xbin/pause"
	cp "$rootfs" "$ctrd/kube-proxy.tar"
	mkdir -p "$ctrd/kp/usr/local/bin" && cp "$kbin/kube-proxy" "$ctrd/kp/usr/local/bin/"
	tar -C "$ctrd/kp" -rf "$ctrd/kube-proxy.tar" ./usr/local/bin/kube-proxy
	nicely docker import -c 'ENTRYPOINT ["/usr/local/bin/kube-proxy"]' "$ctrd/kube-proxy.tar" \
		"registry.k8s.io/kube-proxy:v$K8S_VERSION" >/dev/null
	images+=("registry.k8s.io/kube-proxy:v$K8S_VERSION")
	nicely docker save -o "$ctrd/images.tar" "${images[@]}"
	docker rmi "${images[@]}" >/dev/null

	# Into the node's containerd store, by a containerd of our own with the
	# node's store as its root (nothing but import runs in it).
	cat >"$ctrd/config.toml" <<-TOML
		version = 2
		root = "$dir/var/lib/containerd"
		state = "$ctrd/state"
		disabled_plugins = ["io.containerd.grpc.v1.cri"]
		[grpc]
		  address = "$ctrd/containerd.sock"
	TOML
	containerd --config "$ctrd/config.toml" >"$ctrd/containerd.log" 2>&1 &
	echo $! >"$ctrd/pid"
	ctr=(ctr --address "$ctrd/containerd.sock" --namespace k8s.io)
	deadline=$((SECONDS + 30))
	until "${ctr[@]}" version >/dev/null 2>&1; do
		((SECONDS < deadline)) || { log "containerd did not start: $(tail -3 "$ctrd/containerd.log")"; exit 1; }
		sleep 0.2
	done
	nicely "${ctr[@]}" images import --all-platforms --digests --snapshotter overlayfs "$ctrd/images.tar" >/dev/null
	kill "$(cat "$ctrd/pid")"
	wait "$(cat "$ctrd/pid")" 2>/dev/null || true
	rm -f "$ctrd/pid"

	nicely tar -C "$dir" --numeric-owner -cf "$NODE_TAR.new" .
	mv "$NODE_TAR.new" "$NODE_TAR"
	# One node filesystem is cached: the one of the current inputs.
	for old in "$TOP"/node-*.tar; do
		[[ $old == "$NODE_TAR" ]] || rm -f "$old"
	done
	cleanup_build
	trap - EXIT
fi

log "importing $IMAGE into the engine (~1 min)"
nicely docker import \
	-c 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' \
	-c 'ENV container=docker' \
	"$NODE_TAR" "$IMAGE" >/dev/null
# The engine keeps one node image of ours too.
docker images --format '{{.Repository}}:{{.Tag}}' "$REPOSITORY" | grep -vxF "$IMAGE" | xargs -r docker rmi >/dev/null || true
log "ready in $(($(date +%s) - start))s: $IMAGE"
echo "$IMAGE"
