#!/usr/bin/env bash
# binaries.sh builds the static executables of the node image's control
# plane images that are not Kubernetes' own (etcd, CoreDNS, pause), at the
# versions kubeadm of K8S_VERSION expects, from the Go module proxy, and
# caches them per version. Kubernetes itself (kubelet, kubeadm, kubectl
# and the control plane) comes from hack/testcluster/build.sh.
#
#   hack/kindimage/binaries.sh    # prints the bin directory
#
# Env: ETCD_VERSION, COREDNS_VERSION (defaults: kubeadm 1.32's),
# MBKI_CACHE (default /var/cache/meshbench).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ETCD_VERSION=${ETCD_VERSION:-3.5.24}
COREDNS_VERSION=${COREDNS_VERSION:-1.11.3}
CACHE=${MBKI_CACHE:-/var/cache/meshbench}
TOP=$CACHE/kindimage
BIN=$TOP/bin-etcd$ETCD_VERSION-coredns$COREDNS_VERSION
OUTS=(etcd coredns pause)

log() { printf 'binaries: %s\n' "$*" >&2; }

mkdir -p "$TOP"
exec 9>"$TOP/.binaries.lock"
flock 9
complete=true
for b in "${OUTS[@]}"; do [[ -x $BIN/$b ]] || complete=false; done
if $complete; then
	echo "$BIN"
	exit 0
fi

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
export GOPROXY=${GOPROXY_K8S:-https://proxy.golang.org}
build() { nice -n 19 ionice -c3 go build -trimpath "$@"; }

# wrapper DIR MODULE VERSION: a module that requires MODULE at VERSION, so
# that its own replace directives (which `go install` refuses) do not apply.
wrapper() {
	mkdir -p "$1"
	printf 'module meshbench.local/%s\n\ngo 1.23.0\n\nrequire %s v%s\n' "${1##*/}" "$2" "$3" >"$1/go.mod.new"
	if ! cmp -s "$1/go.mod.new" "$1/go.mod"; then
		mv "$1/go.mod.new" "$1/go.mod"
		rm -f "$1/go.sum"
	else
		rm -f "$1/go.mod.new"
	fi
}

rm -rf "$BIN.new"
mkdir -p "$BIN.new"
start=$(date +%s)
log "etcd v$ETCD_VERSION, CoreDNS v$COREDNS_VERSION, pause (cold: ~10 min on 2 cores)"
wrapper "$TOP/src/etcd" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
wrapper "$TOP/src/coredns" github.com/coredns/coredns "$COREDNS_VERSION"
(cd "$TOP/src/etcd" && build -ldflags '-s -w' -o "$BIN.new/etcd" go.etcd.io/etcd/server/v3)
(cd "$TOP/src/coredns" && build -ldflags "-s -w -X github.com/coredns/coredns/coremain.GitCommit=v$COREDNS_VERSION" \
	-o "$BIN.new/coredns" github.com/coredns/coredns)
(cd "$REPO" && build -ldflags '-s -w' -o "$BIN.new/pause" ./hack/testcluster/images/pause)
rm -rf "$BIN"
mv "$BIN.new" "$BIN"
log "built in $(($(date +%s) - start))s into $BIN"
echo "$BIN"
