#!/usr/bin/env bash
# e2e.sh is `make test-kind`: quick with every datapath, and sidecar's
# enrolment under load, on real kind clusters, in meshbench's own Docker engine (hack/kindengine) and its own
# node image (build.sh). It checks that every case is ok, that the
# datapaths rank by hops per request as on the netns provider, that every
# node has its costs, and that nothing is left (kind clusters, containers,
# networks, volumes, namespaces, mounts, /lib/modules) after a run, after
# Ctrl-C, and after SIGKILL followed by `meshbench cleanup`; and that the
# host's network namespace (links, addresses, routes, rules, nftables,
# iptables) is byte for byte what it was.
#
#   hack/kindimage/e2e.sh [MESHBENCH_BINARY]
#
# Env: E2E_FLAGS (default "--duration 1s --repetitions 1").
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
MB=$(realpath "${1:-$REPO/bin/meshbench}")
ENGINE=$REPO/hack/kindengine/engine.sh
FLAGS=${E2E_FLAGS:---duration 1s --repetitions 1}
WORK=$(mktemp -d /tmp/meshbench-e2e-kind.XXXXXX)
export DOCKER_HOST=unix:///run/meshbench-docker.sock

log() { printf 'e2e: %s\n' "$*" >&2; }
# bg is the run in the background, ended if the test fails.
bg=
fail() {
	log "FAIL: $*"
	if [[ -n $bg ]]; then
		kill -INT "$bg" 2>/dev/null || true
		wait "$bg" 2>/dev/null || true
	fi
	exit 1
}

host_state() {
	{
		ip link; ip addr; ip route; ip -6 route; ip rule
		nft list ruleset; iptables-save | sed '/^#/d'; ip6tables-save | sed '/^#/d'
		ls -d /lib/modules /etc/netns /run/netns/mb-docker || true
	} 2>&1
}

# leftovers says what the run with id $1 left in the engine and on the
# host: its kind clusters are containers, kind's network a network, its
# nodes' /var volumes, its kubeconfigs directories in $TMPDIR.
leftovers() {
	local what=()
	[[ -z $(docker ps -aq) ]] || what+=("containers: $(docker ps -a --format '{{.Names}}' | tr '\n' ' ')")
	[[ -z $(docker volume ls -q) ]] || what+=("volumes: $(docker volume ls -q | wc -l)")
	local nets
	nets=$(docker network ls --format '{{.Name}}' | grep -vxE 'bridge|host|none' || true)
	[[ -z $nets ]] || what+=("networks: $nets")
	compgen -G "${TMPDIR:-/tmp}/meshbench-$1*" >/dev/null && what+=("kubeconfig directories: $(compgen -G "${TMPDIR:-/tmp}/meshbench-$1*")")
	((${#what[@]} == 0)) || fail "run $1 left: ${what[*]}"
}

# run_id waits until the run whose stderr is FILE prints its id.
run_id() {
	local deadline=$((SECONDS + 60)) id
	until id=$(sed -n 's/^ *run \([0-9a-f]\{8\}\): .*/\1/p' "$1" | head -1) && [[ -n $id ]]; do
		((SECONDS < deadline)) || fail "no run id in $1"
		sleep 0.5
	done
	echo "$id"
}

# wait_nodes waits until a kind node container of the run exists.
wait_nodes() {
	local deadline=$((SECONDS + 300))
	until docker ps -q --filter "name=meshbench-$1" | grep -q .; do
		((SECONDS < deadline)) || fail "no kind node of run $1 after 300 s"
		sleep 1
	done
}

# An engine that was running stays, and the host is compared with it
# running; one that this script starts is stopped, whatever the outcome.
own_engine=true
"$ENGINE" status >/dev/null 2>&1 && own_engine=false
before=$WORK/host-before
host_state >"$before"

"$ENGINE" start >/dev/null
$own_engine && trap '"$ENGINE" stop' EXIT
# start is idempotent: a second one finds the engine running.
"$ENGINE" start 2>&1 | grep -q '^engine: running' || fail "a second engine.sh start did not find the engine running"
t0=$SECONDS
IMAGE=$("$HERE/build.sh")
log "node image $IMAGE ready in $((SECONDS - t0)) s"

log "quick on netns, for the hop order"
# shellcheck disable=SC2086 # FLAGS are words
"$MB" run quick $FLAGS --out "$WORK/netns" >"$WORK/netns.out" 2>"$WORK/netns.err" || {
	tail -20 "$WORK/netns.err"
	fail "quick on netns"
}

log "quick on kind (every datapath, one kind cluster kept for all cases)"
t0=$SECONDS
# Sequential: interleaved would keep a kind cluster per datapath up at once.
# Reuse: the cases share the kind cluster's nodes, each in a namespace of
# its own (a fresh kind cluster per case costs 33-58 s to create and
# 13-18 s to delete here).
# shellcheck disable=SC2086
"$ENGINE" exec "$MB" run quick $FLAGS --order sequential --clusters reuse --provider kind --kind-image "$IMAGE" --out "$WORK/kind" \
	>"$WORK/kind.out" 2>"$WORK/kind.err" || {
	tail -30 "$WORK/kind.err"
	fail "quick on kind"
}
log "quick on kind took $((SECONDS - t0)) s"
kind_json=$(sed -n 's/^result: //p' "$WORK/kind.out")
netns_json=$(sed -n 's/^result: //p' "$WORK/netns.out")

bad=$(jq -r '.cases[] | select(.status != "ok") | "\(.id): \(.status) \(.error // "")"' "$kind_json")
[[ -z $bad ]] || fail "cases not ok: $bad"
n=$(jq '.cases | length' "$kind_json")
((n == $(jq '.cases | length' "$netns_json"))) || fail "kind has $n cases, netns $(jq '.cases | length' "$netns_json")"
# Costs for every node that runs pods.
jq -e '[.cases[] | (.nodes | length) == .node_count] | all' "$kind_json" >/dev/null ||
	fail "a case lacks the costs of some node: $(jq -c '[.cases[] | {id, nodes: (.nodes | length), node_count}]' "$kind_json")"
# Hop order: the datapaths ranked by hops per request, per placement.
# Equal hops rank equal: "ebpf < none = nodeproxy < sidecar". Hops per
# request are rounded: on a real cluster a retransmission or a stray
# packet in the probe's window adds a fraction (8.02 over 100 requests).
order() {
	jq -r '[.cases[] | {placement, datapath, hops: (.path.hops_per_request | round)}] | group_by(.placement)[] |
		"\(.[0].placement): " + ([group_by(.hops)[] | [.[].datapath] | sort | join(" = ")] | join(" < "))' "$1"
}
if ! diff <(order "$netns_json") <(order "$kind_json") >"$WORK/order.diff"; then
	cat "$WORK/order.diff" >&2
	fail "hop order differs from netns"
fi
order "$kind_json" | sed 's/^/e2e: hop order /' >&2
jq -r '.cases[] | "e2e: \(.id): hops \(.path.hops_per_request), p50 \(.latency_us.p50) µs"' "$kind_json" >&2
leftovers "$(jq -r .id "$kind_json")"

log "sidecar enrolled into a running kind cluster (a rolling replacement through the real webhook)"
t0=$SECONDS
# shellcheck disable=SC2086
"$ENGINE" exec "$MB" run "$REPO/clusters/kube/testdata/enrol.yaml" --datapaths sidecar $FLAGS --order sequential --clusters reuse \
	--provider kind --kind-image "$IMAGE" --out "$WORK/enrol" >"$WORK/enrol.out" 2>"$WORK/enrol.err" || {
	tail -30 "$WORK/enrol.err"
	fail "enrol on kind"
}
enrol_json=$(sed -n 's/^result: //p' "$WORK/enrol.out")
jq -e '[.cases[] | select(.id | endswith("/enrol")) | .status == "ok" and .enrolment.method == "rolling-restart" and
	.enrolment.pods_restarted == 2 and .enrolment.final_share == 1] | . == [true]' "$enrol_json" >/dev/null ||
	fail "sidecar's enrolment on kind: $(jq -c '[.cases[] | {id, status, error, method: .enrolment.method, restarted: .enrolment.pods_restarted, share: .enrolment.final_share}]' "$enrol_json")"
jq -r '.cases[] | select(.id | endswith("/enrol")) | .enrolment |
	"e2e: enrolment: \(.pods_restarted) pods restarted in \(.install_s) s, \(.transition.errors) errors of \(.transition.requests) in the transition"' "$enrol_json" >&2
log "enrol on kind took $((SECONDS - t0)) s"
leftovers "$(jq -r .id "$enrol_json")"

log "Ctrl-C while the first cluster is made"
# shellcheck disable=SC2086
"$ENGINE" exec "$MB" run quick $FLAGS --provider kind --kind-image "$IMAGE" --datapaths none --out "$WORK/int" \
	>/dev/null 2>"$WORK/int.err" &
pid=$! bg=$!
id=$(run_id "$WORK/int.err") || fail "no run id in $WORK/int.err"
wait_nodes "$id"
sleep 5
kill -INT "$pid"
status=0
wait "$pid" || status=$?
bg=
((status != 0)) || fail "the interrupted run exited 0"
leftovers "$id"

log "SIGKILL, then meshbench cleanup --provider kind --run ID"
# shellcheck disable=SC2086
"$ENGINE" exec "$MB" run quick $FLAGS --provider kind --kind-image "$IMAGE" --datapaths none --out "$WORK/kill" \
	>/dev/null 2>"$WORK/kill.err" &
pid=$! bg=$!
id=$(run_id "$WORK/kill.err") || fail "no run id in $WORK/kill.err"
wait_nodes "$id"
sleep 5
# ip netns exec execs meshbench: $pid is meshbench itself.
kill -KILL "$pid"
wait "$pid" || true
bg=
"$ENGINE" exec "$MB" cleanup --provider kind --run "$id" >&2
leftovers "$id"

if $own_engine; then
	trap - EXIT
	"$ENGINE" stop
	"$ENGINE" stop || fail "a second engine.sh stop failed"
	! pgrep -f meshbench-docker >/dev/null || fail "engine processes left: $(pgrep -af meshbench-docker)"
fi
after=$WORK/host-after
host_state >"$after"
diff "$before" "$after" >&2 || fail "the host's network namespace changed"
rm -rf "$WORK"
log "ok"
