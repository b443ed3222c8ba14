#!/usr/bin/env bash
# engine.sh starts and stops a Docker engine of meshbench's own, for kind,
# inside a network namespace of its own (mb-docker), so that Docker's
# bridges, addresses and iptables rules live there and never in the host's
# network namespace. The namespace has no link out: nothing the engine or
# its containers send can leave the machine.
#
#   hack/kindengine/engine.sh start          # idempotent; prints DOCKER_HOST=...
#   hack/kindengine/engine.sh exec CMD...    # runs CMD in the namespace, DOCKER_HOST set
#   hack/kindengine/engine.sh status
#   hack/kindengine/engine.sh stop           # removes everything but the image store
#   hack/kindengine/engine.sh purge          # stop, and remove the image store too
#
# The kind API server's port is published on 127.0.0.1 of that namespace:
# whatever talks to a cluster (meshbench, kubectl) runs there, through exec.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NS=${MBKE_NETNS:-mb-docker}
SOCK=/run/meshbench-docker.sock
ROOT=/var/lib/meshbench-docker # images and containers; kept by stop, removed by purge
EXEC=/run/meshbench-docker     # engine state, pid file, log; removed by stop
PIDFILE=$EXEC/dockerd.pid
LOG=$EXEC/dockerd.log
CGROUP_PARENT=meshbench-docker
RESOLV_DIR=/etc/netns/$NS
MODULES_MARK=$ROOT/.created-lib-modules
CACHE=${MBKI_CACHE:-/var/cache/meshbench}
export DOCKER_HOST=unix://$SOCK

log() { printf 'engine: %s\n' "$*" >&2; }

running() { [[ -S $SOCK ]] && timeout 10 docker info >/dev/null 2>&1; }

# cgroup_mounts prints "TYPE OPTIONS MOUNTPOINT" for every cgroup hierarchy
# of the host, from /proc/self/mountinfo.
cgroup_mounts() {
	awk '{ for (i = 7; i <= NF; i++) if ($i == "-") {
		if ($(i+1) == "cgroup") { n = split($(i+3), o, ","); opts = "";
			for (j = 1; j <= n; j++) if (o[j] != "rw" && o[j] != "ro") opts = opts (opts ? "," : "") o[j];
			print "cgroup", opts, $5 }
		else if ($(i+1) == "cgroup2") print "cgroup2", "-", $5
		break } }' /proc/self/mountinfo
}

start() {
	if running; then
		log "running (netns $NS)"
		echo "DOCKER_HOST=$DOCKER_HOST"
		return
	fi
	local missing=()
	for c in dockerd docker runc ip go; do command -v "$c" >/dev/null || missing+=("$c"); done
	if ((${#missing[@]})); then
		log "missing ${missing[*]}: apt-get install docker.io runc iproute2 (and Go for the runtime wrapper)"
		exit 2
	fi
	stop_quiet
	mkdir -p "$EXEC" "$ROOT" "$CACHE/kindengine"
	# The runtime that drops the capabilities this host's bounding set lacks.
	(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$CACHE/kindengine/capdrop" ./hack/kindengine/capdrop)
	ip netns add "$NS"
	ip -n "$NS" link set lo up
	# The engine's upstream DNS: a documentation address that no route in
	# the namespace reaches, so that no name is ever sent to the host's
	# resolver. Names of containers still resolve (Docker's embedded DNS).
	mkdir -p "$RESOLV_DIR"
	echo "nameserver 192.0.2.53" >"$RESOLV_DIR/resolv.conf"
	# kind mounts /lib/modules into its nodes; Docker would create it.
	if [[ ! -e /lib/modules ]]; then
		mkdir /lib/modules
		touch "$MODULES_MARK"
	fi
	# ip netns exec remounts /sys, which hides the cgroup hierarchies that
	# dockerd needs: mount them again in its private mount namespace.
	local mounts
	mounts=$(cgroup_mounts | awk -v q="'" '{
		if ($1 == "cgroup2") printf "mkdir -p %s && mount -t cgroup2 cgroup2 %s && ", $3, $3;
		else if ($3 != "/sys/fs/cgroup") printf "mkdir -p %s && mount -t cgroup -o %s cgroup %s && ", $3, $2, $3 }')
	log "starting dockerd in netns $NS (log: $LOG)"
	setsid ip netns exec "$NS" bash -c "mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup && $mounts exec dockerd \
		--data-root $ROOT --exec-root $EXEC --pidfile $PIDFILE -H unix://$SOCK \
		--containerd-namespace meshbench-docker --containerd-plugins-namespace meshbench-docker-plugins \
		--add-runtime capdrop=$CACHE/kindengine/capdrop --default-runtime capdrop \
		--cgroup-parent /$CGROUP_PARENT --exec-opt native.cgroupdriver=cgroupfs \
		--storage-driver overlay2 --log-level warn" </dev/null >"$LOG" 2>&1 &
	local deadline=$((SECONDS + 60))
	until running; do
		if ((SECONDS > deadline)) || ! kill -0 $! 2>/dev/null; then
			log "dockerd did not start: $(tail -3 "$LOG" | tr '\n' ' ')"
			stop_quiet
			exit 1
		fi
		sleep 0.5
	done
	log "running (netns $NS, data root $ROOT)"
	echo "DOCKER_HOST=$DOCKER_HOST"
}

# stop_quiet removes the containers, networks and volumes, the engine, its
# namespace and everything start created, apart from the image store.
stop_quiet() {
	if running; then
		local ids
		ids=$(docker ps -aq)
		[[ -z $ids ]] || docker rm -f -v $ids >/dev/null
		docker network prune -f >/dev/null
		docker volume prune -f >/dev/null
	fi
	if [[ -s $PIDFILE ]]; then
		local pid
		pid=$(cat "$PIDFILE")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	# What is left in the namespace is the engine's (containerd, shims).
	if [[ -e /run/netns/$NS ]]; then
		local pids
		pids=$(ip netns pids "$NS" || true)
		[[ -z $pids ]] || { kill $pids 2>/dev/null || true; sleep 1; kill -9 $pids 2>/dev/null || true; }
		ip netns del "$NS"
	fi
	# Cgroups are removed deepest first; a busy one says so.
	cgroup_mounts | while read -r _ _ mnt; do
		[[ -d $mnt/$CGROUP_PARENT ]] || continue
		find "$mnt/$CGROUP_PARENT" -depth -type d -exec rmdir {} + 2>/dev/null || log "cgroup $mnt/$CGROUP_PARENT is still in use"
	done
	rm -rf "$EXEC" "$SOCK" "$RESOLV_DIR"
	rmdir /etc/netns 2>/dev/null || true
	if [[ -e $MODULES_MARK ]]; then
		rmdir /lib/modules 2>/dev/null || log "/lib/modules is not empty: left in place"
		rm -f "$MODULES_MARK"
	fi
}

case ${1:-} in
start) start ;;
stop)
	stop_quiet
	log "stopped; image store kept in $ROOT (purge removes it)"
	;;
purge)
	stop_quiet
	rm -rf "$ROOT"
	log "stopped and removed $ROOT"
	;;
status)
	if running; then
		echo "running: DOCKER_HOST=$DOCKER_HOST netns=$NS"
	else
		echo "stopped"
		exit 1
	fi
	;;
exec)
	shift
	running || {
		log "the engine is not running: hack/kindengine/engine.sh start"
		exit 2
	}
	exec ip netns exec "$NS" "$@"
	;;
*)
	log "usage: engine.sh start|stop|purge|status|exec CMD..."
	exit 2
	;;
esac
