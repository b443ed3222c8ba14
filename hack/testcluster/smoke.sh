#!/usr/bin/env bash
# smoke.sh checks the test cluster end to end: up.sh, an echo pod on every
# node and a Service in front of the first, then
#   - each pod answers HTTP from the fabric namespace (pod IPs are routed),
#   - pod-to-pod across nodes, every node to the next (the echo's /fetch),
#   - kubectl exec and logs (API server -> kubelet -> containerd),
#   - the ClusterIP Service from every node, its own backend's included
#     (kube-proxy, hairpin),
# then down.sh, which fails if anything of the cluster is left, and a
# comparison of the host's network state and sysctls before and after.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NS=$PREFIX-smoke
t0=$SECONDS
phase() { log "$* ($((SECONDS - t0))s)"; }
fail() {
	log "FAIL: $*"
	exit 1
}

# host_state prints what the cluster must not change on the host: the host
# network namespace's links, addresses, routes and firewall rules, the
# sysctls the kubelet, kube-proxy, CNI and containerd are known to write,
# and the paths they use by default.
host_state() {
	ip -d link show | sed -E 's/ (qlen|txqueuelen) [0-9]+//'
	ip addr show | grep -v valid_lft
	ip route show table all
	ip -6 route show table all
	{ iptables-save; ip6tables-save; } 2>/dev/null | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//'
	sysctl vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops \
		kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward \
		net.ipv4.conf.all.forwarding net.ipv4.conf.all.route_localnet net.ipv4.ping_group_range \
		net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables \
		net.netfilter.nf_conntrack_max net.netfilter.nf_conntrack_tcp_timeout_established \
		net.netfilter.nf_conntrack_tcp_timeout_close_wait net.netfilter.nf_conntrack_tcp_be_liberal 2>&1
	cat /sys/module/nf_conntrack/parameters/hashsize 2>/dev/null
	ls -d /var/lib/cni /run/containerd /var/log/pods /var/log/containers /etc/cni /opt/cni \
		/var/lib/kubelet /var/lib/containerd /opt/containerd /etc/netns 2>/dev/null
	true
}

KBIN=$(kbin)
before=$(host_state)
phase "building (cached after the first run)"
"$HERE/up.sh" >/dev/null
phase "cluster up"
finish() {
	local rc=$?
	trap - EXIT
	phase "tearing down"
	"$HERE/down.sh" || rc=1
	if ! diff <(echo "$before") <(host_state) >&2; then
		log "FAIL: the host's state changed (diff above)"
		rc=1
	fi
	if ((rc == 0)); then
		log "PASS in $((SECONDS - t0))s; the host is as before"
	else
		log "FAILED (exit $rc)"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

kctl create namespace "$NS" >/dev/null
for n in "${NODES[@]}"; do
	kctl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: echo-$n, namespace: $NS, labels: {app: echo-$n}}
spec:
  nodeName: $n
  terminationGracePeriodSeconds: 1
  containers:
  - name: echo
    image: $ECHO_IMAGE
    imagePullPolicy: Never
    ports: [{containerPort: 8080}]
    readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
EOF
done
kctl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: $NS}
spec:
  selector: {app: echo-${NODES[0]}}
  ports: [{port: 80, targetPort: 8080}]
EOF
for n in "${NODES[@]}"; do
	kctl -n "$NS" wait --for=condition=Ready --timeout=60s "pod/echo-$n" >/dev/null || fail "pod echo-$n not ready"
done
phase "pods ready"

declare -A ip
for n in "${NODES[@]}"; do
	ip[$n]=$(kctl -n "$NS" get pod "echo-$n" -o jsonpath='{.status.podIP}')
done
svc=$(kctl -n "$NS" get service echo -o jsonpath='{.spec.clusterIP}')
log "pod IPs: $(for n in "${NODES[@]}"; do printf '%s=%s ' "$n" "${ip[$n]}"; done)service: $svc"
fab() { ip netns exec "$FABRIC_NS" curl -sSf --max-time 5 "$@"; }

# expect WHAT WANT CMD...: CMD's output must contain WANT.
expect() {
	local what=$1 want=$2 out
	shift 2
	out=$("$@" 2>&1) || fail "$what: $out"
	[[ $out == *"$want"* ]] || fail "$what: got $out, want $want"
	log "ok: $what"
}

first=${NODES[0]}
count=${#NODES[@]}
for ((k = 0; k < count; k++)); do
	n=${NODES[k]}
	next=${NODES[(k + 1) % count]}
	expect "fabric -> pod on $n" "echo-$n" fab "http://${ip[$n]}:8080/"
	((count > 1)) && expect "pod on $n -> pod on $next" "echo-$next" \
		fab "http://${ip[$n]}:8080/fetch?url=http://${ip[$next]}:8080/"
done
last=${NODES[count - 1]}
expect "kubectl exec on $last, to the pod on $first" "echo-$first" \
	kctl -n "$NS" exec "echo-$last" -- /echo get "http://${ip[$first]}:8080/"
expect "kubectl logs" "serving on" kctl -n "$NS" logs "echo-$first"
for n in "${NODES[@]}"; do
	# Each node's kube-proxy programs a new Service within a second or two.
	wait_for 30 "the service from $n" fab "http://${ip[$n]}:8080/fetch?url=http://$svc:80/" || true
	what="pod on $n -> service -> pod on $first"
	[[ $n == "$first" ]] && what+=" (hairpin)"
	expect "$what" "echo-$first" fab "http://${ip[$n]}:8080/fetch?url=http://$svc:80/"
done

kctl delete namespace "$NS" --timeout=60s >/dev/null || fail "namespace $NS not deleted"
phase "checks passed"
