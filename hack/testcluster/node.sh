#!/usr/bin/env bash
# node.sh NODE: one test-cluster node. up.sh starts it inside the node's
# network namespace and a new mount and UTS namespace:
#
#   nsenter --net=/run/netns/NODE unshare --mount --uts --propagation private node.sh NODE
#
# It gives containerd and the kubelet a private view of the paths they
# hard-code (/run, /var/log, /var/lib/cni) and of the global sysctls the
# kubelet insists on, so that nothing they mount or write reaches the host;
# every mount here dies with the namespace. Then it runs containerd, imports
# the images, and runs the kubelet and kube-proxy until it is killed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODE=$1
KBIN=$2
DIR=$(node_dir "$NODE")
SOCK=$(containerd_sock "$NODE")
I=$(node_index "$NODE")

hostname "$NODE"
mount -t tmpfs -o mode=0755 "$PREFIX-run" /run
mount --bind "$DIR/log" /var/log
mount -t tmpfs -o mode=0755 "$PREFIX-cni" /var/lib/cni
mount --bind "$STATE/etc/resolv.conf" /etc/resolv.conf
mount --bind "$STATE/etc/nsswitch.conf" /etc/nsswitch.conf
# The kubelet sets these global sysctls unless they already hold its values
# (with protectKernelDefaults it refuses to start instead): it reads and
# writes node-local files here, the host keeps its own values.
for f in "$DIR"/sysctl/*; do
	mount --bind "$f" "/proc/sys/$(basename "$f" | tr . /)"
done

containerd --config "$DIR/containerd.toml" >"$DIR/log/containerd.log" 2>&1 &
ctr=(ctr --address "$SOCK" --namespace k8s.io)
deadline=$((SECONDS + 30))
until "${ctr[@]}" version >/dev/null 2>&1; do
	((SECONDS < deadline)) || { echo "containerd did not start, see $DIR/log/containerd.log" >&2; exit 1; }
	sleep 0.2
done
for img in "$STATE"/images/*.tar; do
	"${ctr[@]}" images import "$img" >/dev/null
done

"$KBIN/kubelet" --config="$DIR/kubelet.yaml" --kubeconfig="$DIR/kubelet.kubeconfig" \
	--hostname-override="$NODE" --node-ip="$(node_ip "$I")" --root-dir="$DIR/kubelet" \
	--v=1 >"$DIR/log/kubelet.log" 2>&1 &
"$KBIN/kube-proxy" --config="$DIR/kube-proxy.yaml" --v=1 >"$DIR/log/kube-proxy.log" 2>&1 &
wait
