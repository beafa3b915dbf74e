#!/usr/bin/env bash
# Builds the control-plane binaries used by the test tiers from upstream
# sources (Go module proxy only) into a cache outside the repository:
#   kube-apiserver kube-controller-manager kube-scheduler kubectl,
#   kubelet kube-proxy (the node agents of the real-node image)       (testbed/kube)
#   etcd                                                            (testbed/etcd)
#   kwok                                                            (testbed/kwok)
#   k3s (the k3s-compatible entry of the test image), echo-https     (testbed/shim)
# The cache directory is keyed by a hash of every go.mod/go.sum/source file
# here, so changing a pinned version rebuilds and an unchanged tree is a no-op.
# Prints the binary directory on stdout (last line); progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${K3SBOX_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/k3sbox/testbed}"
# build.sh itself is part of the key (ldflags), and so are embedded files.
key="$(cd "$here" && find build.sh kube etcd kwok shim -type f \( -name 'go.*' -o -name '*.go' -o -name '*.yaml' -o -name build.sh \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
out="$cache_root/$key"
log() { printf 'testbed: %s\n' "$*" >&2; }

if [ -f "$out/.complete" ]; then
  log "binaries cached at $out"
  echo "$out"
  exit 0
fi

# Go lives in /usr/local/go on these machines; a non-login shell may not have it on PATH.
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { log "Go toolchain not found on PATH (need Go >= 1.26)"; exit 1; }
mkdir -p "$out.partial"
start=$(date +%s)
# -buildvcs=false: binaries depend on the sources only, not on the commit
# (keeps image.sh's content-hash tag stable across commits).
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false"

kube_version="$(awk '/^require k8s.io\/kubernetes /{print $3}' "$here/kube/go.mod")"
minor="$(echo "$kube_version" | cut -d. -f2)"
pkg=k8s.io/component-base/version
kube_ldflags="-s -w -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
part_start=$(date +%s)
log "building Kubernetes $kube_version (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy); a cold build takes about 9 minutes on 2 cores"
(cd "$here/kube" && go build -ldflags "$kube_ldflags" -o "$out.partial/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
log "Kubernetes built in $(( $(date +%s) - part_start ))s"

part_start=$(date +%s)
etcd_version="$(awk '/^require go.etcd.io\/etcd\/server\/v3 /{print $3}' "$here/etcd/go.mod")"
log "building etcd $etcd_version"
(cd "$here/etcd" && go build -ldflags "-s -w" -o "$out.partial/etcd" .)
log "etcd built in $(( $(date +%s) - part_start ))s"

part_start=$(date +%s)
kwok_version="$(awk '/^require sigs.k8s.io\/kwok /{print $3}' "$here/kwok/go.mod")"
log "building kwok $kwok_version"
(cd "$here/kwok" && go build -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$kwok_version" -o "$out.partial/kwok" sigs.k8s.io/kwok/cmd/kwok)
log "kwok built in $(( $(date +%s) - part_start ))s"

part_start=$(date +%s)
log "building the k3s-compatible entry and the HTTPS echo server"
(cd "$here/shim" && go build -ldflags "-s -w -X main.kubeVersion=$kube_version" -o "$out.partial/" ./cmd/k3s ./cmd/echo-https)
log "shim built in $(( $(date +%s) - part_start ))s"

touch "$out.partial/.complete"
rm -rf "$out" && mv "$out.partial" "$out"
log "built in $(( $(date +%s) - start ))s into $out"
echo "$out"
