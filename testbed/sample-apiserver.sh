#!/usr/bin/env bash
# Builds k8s.io/sample-apiserver (pinned in testbed/sample-apiserver) from
# the Go module proxy into a cache outside the repository, keyed by a hash of
# that module and this script: the aggregated API server the composition
# tier registers through an APIService (tests/composition/aggregation.test.ts).
# Prints the binary's path on stdout (last line); progress on stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${K3SBOX_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/k3sbox/testbed}"
key="$(cd "$here" && sha256sum sample-apiserver.sh sample-apiserver/go.mod sample-apiserver/go.sum sample-apiserver/tools.go | sha256sum | cut -c1-16)"
out="$cache_root/sample-apiserver-$key"
log() { printf 'sample-apiserver: %s\n' "$*" >&2; }

if [ -x "$out/sample-apiserver" ]; then
  log "cached at $out"
  echo "$out/sample-apiserver"
  exit 0
fi
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { log "Go toolchain not found on PATH"; exit 1; }
version="$(awk '/^require k8s.io\/sample-apiserver /{print $3}' "$here/sample-apiserver/go.mod")"
log "building k8s.io/sample-apiserver $version"
start=$(date +%s)
mkdir -p "$out.partial"
(cd "$here/sample-apiserver" && CGO_ENABLED=0 GOFLAGS="${GOFLAGS:-} -trimpath -buildvcs=false" \
  go build -ldflags "-s -w" -o "$out.partial/sample-apiserver" k8s.io/sample-apiserver)
rm -rf "$out" && mv "$out.partial" "$out"
log "built in $(( $(date +%s) - start ))s into $out"
echo "$out/sample-apiserver"
