#!/usr/bin/env bash
# Sets up (npm packages, Docker engine) and runs the main job: `k3sbox smoke`
# (boot a cluster, deploy a demo app behind an Ingress, fetch it over HTTPS
# through Traefik, tear down, print the timings).
#
# It runs real rancher/k3s when that image is present or can be pulled. Where
# it cannot (hosts without registry access, like the sandboxes k3sbox is
# developed on), it builds the k3sbox node image from upstream sources
# instead — a real single-node cluster: kubelet, containerd, CNI, kube-proxy,
# CoreDNS, Traefik, registry (testbed/; cached after the first build, which
# takes about 25 minutes on 2 cores) — and runs the same smoke on it, saying
# which image it used and why. Arguments are passed to `k3sbox smoke`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'smoke.sh: %s\n' "$*" >&2; }
bash "$root/scripts/setup.sh"

for arg in "$@"; do
  case "$arg" in --image|--image=*|--version|--version=*|-h|--help) exec "$root/bin/k3sbox" smoke "$@" ;; esac
done

version="$(sed -n 's/^export const DEFAULT_K3S_VERSION = "\(.*\)";$/\1/p' "$root/lib/k3s/options.ts")"
k3s_image="rancher/k3s:${version:?could not read DEFAULT_K3S_VERSION from lib/k3s/options.ts}"
if docker image inspect "$k3s_image" >/dev/null 2>&1; then
  exec "$root/bin/k3sbox" smoke "$@"
fi
if pull_error="$(docker pull "$k3s_image" 2>&1 >/dev/null)"; then
  exec "$root/bin/k3sbox" smoke "$@"
fi
say "$k3s_image cannot be pulled here: $(printf '%s' "$pull_error" | tail -n1)"
say "building the k3sbox node image from upstream sources instead (cached after the first build)"
env_lines="$(bash "$root/scripts/setup.sh" --node-image)"
image="$(printf '%s\n' "$env_lines" | sed -n 's/^K3SBOX_TESTBED_IMAGE=//p')"
say "running the smoke on $image (a real node: kubelet, containerd, CNI, kube-proxy, CoreDNS; see testbed/image.sh)"
exec "$root/bin/k3sbox" smoke --image "$image" "$@"
