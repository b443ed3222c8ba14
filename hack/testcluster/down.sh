#!/usr/bin/env bash
# down.sh removes everything up.sh created, also after a failed or
# interrupted up.sh: processes (by pid, by network namespace and by cgroup),
# the namespaces with their links, routes, bridges and iptables rules, the
# cgroups, the nodes' mounts (they live in the nodes' mount namespaces and
# go with them), and the state directories. It then checks that nothing is
# left and exits non-zero if something is. The build cache stays.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $EUID == 0 ]] || { log "needs root"; exit 2; }

# Also nodes whose record was lost (a reboot empties $RUN, or up.sh died
# before writing it).
mapfile -t found < <(ip netns list | awk '{print $1}' | grep -E "^$PREFIX-node[0-9]+$")
mapfile -t NODES < <(printf '%s\n' "${NODES[@]}" "${found[@]}" | grep . | sort -u)

# our_pids prints every process the cluster owns: daemons from pid files,
# anything in the cluster's network namespaces (containerd, shims, kubelet,
# host-network pods, forwarders) and anything in its cgroups (pods).
our_pids() {
	local f p ns base mnt
	for f in "$RUN"/*.pid; do
		[[ -f $f ]] || continue
		# The daemon and what it forked (socat's per-connection children).
		for p in $(ps -eo pid=,pgid= | awk -v g="$(cat "$f")" '$2 == g { print $1 }'); do
			ours "$p"
		done
	done
	for ns in "$FABRIC_NS" "${NODES[@]}"; do
		netns_exists "$ns" && ip netns pids "$ns" 2>/dev/null
	done
	base=$(cgroup_base)
	if [[ -n $base ]]; then
		for mnt in $(cgroup_mounts); do
			[[ -d $mnt$base ]] && find "$mnt$base" -name cgroup.procs -exec cat {} + 2>/dev/null
		done
	fi
	true
}

# ours PID: prints PID if its command line names the cluster, so that a
# stale pid file never makes us signal a process that reused the pid.
ours() {
	tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qE "meshbench-testcluster|$PREFIX-" && echo "$1"
	true
}

cgroup_base() {
	if [[ -f $RUN/cgroup-base ]]; then
		cat "$RUN/cgroup-base"
	else
		local b
		b=$(own_memory_cgroup)
		echo "${b%/}/$PREFIX"
	fi
}

# alive PID...: prints those that still exist (zombies count as gone).
alive() {
	local p
	for p in "$@"; do
		[[ -r /proc/$p/stat ]] && [[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]] && echo "$p"
	done
	true
}

# live_pids prints our processes that still run, one per line.
live_pids() {
	local all
	mapfile -t all < <(our_pids | sort -un)
	alive "${all[@]}"
}

kill_all() {
	local pids
	mapfile -t pids < <(live_pids)
	((${#pids[@]})) || return 0
	log "stopping ${#pids[@]} processes"
	# A second of SIGTERM for whatever exits cleanly, then SIGKILL: all
	# state is thrown away, and nothing restarts what is killed.
	kill -TERM "${pids[@]}" 2>/dev/null
	for _ in 1 2 3 4; do
		mapfile -t pids < <(live_pids)
		((${#pids[@]})) || return 0
		sleep 0.25
	done
	for _ in $(seq 1 40); do
		mapfile -t pids < <(live_pids)
		((${#pids[@]})) || return 0
		kill -KILL "${pids[@]}" 2>/dev/null
		sleep 0.25
	done
	log "processes still alive: ${pids[*]}"
	return 1
}

remove_cgroups() {
	local base mnt f
	base=$(cgroup_base)
	for mnt in $(cgroup_mounts); do
		[[ -d $mnt$base ]] && find "$mnt$base" -depth -type d -exec rmdir {} + 2>/dev/null
	done
	# Ancestors up.sh created for the nesting (never pre-existing ones).
	if [[ -f $RUN/cgroups.created ]]; then
		tac "$RUN/cgroups.created" | while read -r f; do
			[[ -d $f ]] && rmdir "$f" 2>/dev/null
		done
	fi
	true
}

# leftovers prints one line per thing of ours still on the host.
leftovers() {
	local ns base mnt pids
	for ns in "$FABRIC_NS" "${NODES[@]}"; do
		netns_exists "$ns" && echo "network namespace $ns"
	done
	pids=$(live_pids | tr '\n' ' ')
	[[ -n $pids ]] && echo "processes $pids"
	base=$(cgroup_base)
	for mnt in $(cgroup_mounts); do
		[[ -d $mnt$base ]] && echo "cgroup $mnt$base"
	done
	grep -E " ($STATE|$RUN|/run/netns/$PREFIX-)[^ ]* " /proc/self/mountinfo | awk '{print "mount " $5}'
	[[ -e $STATE ]] && echo "directory $STATE"
	[[ -e $RUN ]] && echo "directory $RUN"
	ss -Hltn "sport = :$API_PORT" | grep -q . && echo "listener on 127.0.0.1:$API_PORT"
	true
}

t0=$SECONDS
kill_all
for ns in "${NODES[@]}" "$FABRIC_NS"; do
	netns_exists "$ns" && ip netns del "$ns"
done
remove_cgroups
# Nothing of ours should be mounted in the host's namespace; if a crash
# left something, detach it before removing the directories.
grep -E " ($STATE|$RUN)[^ ]* " /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
	umount -l "$m"
done
left=$(leftovers | grep -v "^directory")
if [[ -n $left ]]; then
	log "NOT removing $STATE and $RUN: still in use by"$'\n'"$left"
	exit 1
fi
created_cni=false
[[ -e $RUN/created-var-lib-cni ]] && created_cni=true
rm -rf "$STATE" "$RUN"
if $created_cni; then
	rmdir /var/lib/cni 2>/dev/null || log "/var/lib/cni is not empty; left in place"
fi
left=$(leftovers)
if [[ -n $left ]]; then
	log "left on the host:"$'\n'"$left"
	exit 1
fi
log "down in $((SECONDS - t0))s; nothing left"
