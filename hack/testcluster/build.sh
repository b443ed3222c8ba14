#!/usr/bin/env bash
# build.sh builds the Kubernetes binaries the test cluster runs, from the Go
# module proxy (no git checkout, no Docker): a wrapper module requires
# k8s.io/kubernetes and replaces every staging module with its published
# v0.x.y twin. Binaries are cached per version, so a second run is instant.
#
#   hack/testcluster/build.sh            # prints the bin directory
#
# kubeadm is for the kind node image (hack/kindimage).
#
# Env: K8S_VERSION (default below), MBTC_CACHE (default /var/cache/meshbench).
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.32.13}
# The proxy refuses k8s.io/endpointslice at v0.32.13 (403 on the zip); its
# previous patch builds fine against the rest of 1.32.13.
ENDPOINTSLICE_VERSION=${ENDPOINTSLICE_VERSION:-0.32.12}
CACHE=${MBTC_CACHE:-/var/cache/meshbench}
TOP=$CACHE/k8s-v$K8S_VERSION
BIN=$TOP/bin
SRC=$TOP/src
CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl kubeadm)

log() { printf 'build: %s\n' "$*" >&2; }

mkdir -p "$TOP"
# One build at a time per version; a run that waited finds the binaries.
exec 9>"$TOP/.lock"
flock 9
complete=true
for c in "${CMDS[@]}"; do [[ -x $BIN/$c ]] || complete=false; done
if $complete; then
	echo "$BIN"
	exit 0
fi

mkdir -p "$SRC"
staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
	cloud-provider cluster-bootstrap code-generator component-base component-helpers
	controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation
	endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
	kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission)
stubs=(sample-apiserver sample-cli-plugin sample-controller)

# k8s.io/kubernetes requires its sample-* staging modules at v0.0.0 but no
# binary imports them: empty local modules satisfy the module graph.
for s in "${stubs[@]}"; do
	mkdir -p "$SRC/stubs/$s"
	printf 'module k8s.io/%s\n\ngo 1.23\n' "$s" >"$SRC/stubs/$s/go.mod"
done

{
	printf 'module meshbench.local/k8sbuild\n\ngo 1.23.0\n\n'
	# Same runtime defaults as upstream's go.mod (godebug only applies in the main module).
	printf 'godebug default=go1.23\n\n'
	printf 'require k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
	for m in "${staging[@]}"; do
		v=0.${K8S_VERSION#1.}
		[[ $m == endpointslice ]] && v=$ENDPOINTSLICE_VERSION
		printf '\tk8s.io/%s => k8s.io/%s v%s\n' "$m" "$m" "$v"
	done
	for s in "${stubs[@]}"; do printf '\tk8s.io/%s => ./stubs/%s\n' "$s" "$s"; done
	printf ')\n'
} >"$SRC/go.mod.new"
if ! cmp -s "$SRC/go.mod.new" "$SRC/go.mod"; then
	mv "$SRC/go.mod.new" "$SRC/go.mod"
	rm -f "$SRC/go.sum"
else
	rm -f "$SRC/go.mod.new"
fi

# Version stamps, as the upstream build sets them (kubectl version, node info).
minor=${K8S_VERSION#1.}
minor=${minor%%.*}
pkg=k8s.io/component-base/version
cpkg=k8s.io/client-go/pkg/version
date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ld="-s -w"
for p in $pkg $cpkg; do
	ld+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
	ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$date"
done

pkgs=()
for c in "${CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done

cd "$SRC"
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
# Only the module proxy: never fall back to direct VCS fetches.
export GOPROXY=${GOPROXY_K8S:-https://proxy.golang.org}
log "Kubernetes v$K8S_VERSION: building ${CMDS[*]} (cold: ~6 min on 2 cores, warm: ~10 s)"
start=$(date +%s)
# Into a fresh directory, renamed when complete: an interrupted build never
# leaves a truncated binary that a later run would take for a cached one.
rm -rf "$BIN.new"
go build -trimpath -ldflags "$ld" -o "$BIN.new/" "${pkgs[@]}"
rm -rf "$BIN"
mv "$BIN.new" "$BIN"
log "built in $(($(date +%s) - start))s into $BIN"
echo "$BIN"
