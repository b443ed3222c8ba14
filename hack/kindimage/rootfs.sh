#!/usr/bin/env bash
# rootfs.sh builds the node image's Debian bookworm root filesystem with
# debootstrap and caches it as a tarball keyed on its inputs (suite, mirror,
# package list), so that a second build is instant.
#
#   hack/kindimage/rootfs.sh     # prints the tarball's path
#
# Env: MBKI_CACHE (default /var/cache/meshbench), MBKI_MIRROR.
set -euo pipefail

CACHE=${MBKI_CACHE:-/var/cache/meshbench}
MIRROR=${MBKI_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# What a kind node runs: systemd as init, containerd and runc for kubelet,
# the tools kubelet, kube-proxy and kind call (iptables, conntrack, socat,
# mount, nsenter, ctr), and the CNI plugins the node's network uses.
PACKAGES=(systemd systemd-sysv dbus containerd runc iptables iproute2 socat conntrack
	ethtool kmod procps util-linux mount containernetworking-plugins libseccomp2)

key=$(printf '%s\n' "$SUITE" "$MIRROR" "${PACKAGES[@]}" | sha256sum | cut -c1-16)
TOP=$CACHE/kindimage
OUT=$TOP/rootfs-$key.tar

log() { printf 'rootfs: %s\n' "$*" >&2; }

mkdir -p "$TOP"
exec 9>"$TOP/.rootfs.lock"
flock 9
if [[ -s $OUT ]]; then
	echo "$OUT"
	exit 0
fi
command -v debootstrap >/dev/null || {
	log "debootstrap is missing: apt-get install debootstrap"
	exit 2
}

dir=$TOP/rootfs-$key.d
rm -rf "$dir"
log "debootstrap $SUITE minbase + ${#PACKAGES[@]} packages (cold: ~5-10 min)"
start=$(date +%s)
nice -n 19 ionice -c3 debootstrap --variant=minbase \
	--include="$(IFS=,; echo "${PACKAGES[*]}")" "$SUITE" "$dir" "$MIRROR" >&2
# Nothing a node needs: apt's lists and caches, docs and man pages.
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* "$dir"/usr/share/doc/* \
	"$dir"/usr/share/man/* "$dir"/usr/share/locale/*
nice -n 19 ionice -c3 tar -C "$dir" --numeric-owner -cf "$OUT.new" .
mv "$OUT.new" "$OUT"
rm -rf "$dir"
log "built in $(($(date +%s) - start))s: $OUT"
echo "$OUT"
