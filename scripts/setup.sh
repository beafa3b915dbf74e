#!/usr/bin/env bash
# Installs and starts what k3sbox needs on a fresh machine, idempotently:
#   npm packages (Bun, Deno, client-node, x509, yaml) and a reachable Docker
#   engine (Debian's docker.io, started as root when no daemon answers).
# With --node-image it also builds the k3s-compatible node image from
# upstream sources: static busybox and the netfilter userland, the Go-built
# control plane and node agents (testbed/build.sh), containerd, runc, the CNI
# plugins and the in-cluster images (testbed/parts.sh), the node image
# (testbed/image.sh), and loads the in-cluster images into this Docker.
# With --tests, on top of that: Podman, rootless Docker's parts (and a user
# to run it), sshd, and a Docker Engine 29 built from the moby v2 module
# (testbed/docker29.sh), for the topology and image-store tests, and
# k8s.io/sample-apiserver (testbed/sample-apiserver.sh) for the API
# aggregation test. Prints what it does.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { printf 'setup: %s\n' "$*" >&2; }
# --node-image: what the main job needs where rancher/k3s cannot be pulled
# (the node image and its images in this Docker); --tests: that, plus the
# second Docker daemon only the tests use.
with_tests=false node_image=false
case "${1:-}" in
  --tests) with_tests=true node_image=true ;;
  --node-image) node_image=true ;;
esac

apt_updated=false
apt_install() {
  if [ "$(id -u)" != 0 ]; then say "need root to install $* (apt-get install -y $*)"; exit 1; fi
  $apt_updated || { say "apt-get update"; apt-get update -qq; apt_updated=true; }
  say "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# 1. npm packages, reinstalled only when package-lock.json changed.
stamp="node_modules/.k3sbox-lock-sha"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x node_modules/.bin/bun ] || [ ! -x node_modules/.bin/deno ]; then
  # `npm install` (which follows package-lock.json) rather than `npm ci`: the
  # npm here leaves other platforms' optional Bun/Deno binaries out of the
  # lock, and `npm ci` then refuses the lock as out of sync.
  say "npm install (following package-lock.json)"
  npm install --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi

# 2. A Docker engine that answers.
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  if [ "$(id -u)" != 0 ]; then say "no Docker daemon answers and we are not root: start Docker, or set DOCKER_HOST"; exit 1; fi
  say "starting dockerd (log: /tmp/k3sbox-dockerd.log)"
  nohup dockerd >/tmp/k3sbox-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { say "dockerd did not come up; last log lines:"; tail -n 20 /tmp/k3sbox-dockerd.log >&2; exit 1; }
fi
say "Docker $(docker version --format '{{.Server.Version}}') is reachable"

$node_image || exit 0

# 3. Test tiers: a static busybox (test images are built FROM scratch, nothing is pulled).
if ! file -L /bin/busybox 2>/dev/null | grep -q "statically linked"; then
  command -v file >/dev/null 2>&1 || apt_install file
  file -L /bin/busybox 2>/dev/null | grep -q "statically linked" || apt_install busybox-static
fi
# nft and iptables (nf_tables) go into the node image for kube-proxy and CNI.
[ -x /usr/sbin/nft ] && [ -x /usr/sbin/xtables-nft-multi ] || apt_install nftables iptables

# 4. The cluster from upstream sources, and the k3s-compatible node image.
t0=$(date +%s)
bin_dir="$(bash testbed/build.sh | tail -n1)"
say "testbed binaries: $bin_dir ($(( $(date +%s) - t0 ))s)"
t0=$(date +%s)
parts_dir="$(bash testbed/parts.sh | tail -n1)"
say "node parts and images: $parts_dir ($(( $(date +%s) - t0 ))s)"
t0=$(date +%s)
image="$(bash testbed/image.sh "$bin_dir" "$parts_dir" | tail -n1)"
say "testbed image: $image ($(( $(date +%s) - t0 ))s)"
# The in-cluster images also go into this Docker, as a user's Docker has the
# images it pulled: k3sbox's image cache takes them from there (the bare node
# image has none of its own).
t0=$(date +%s)
loaded=0
for t in "$parts_dir"/images/*.tar; do
  ref=$(tar -xOf "$t" manifest.json | sed -n 's/.*"RepoTags":\["\([^"]*\)".*/\1/p')
  if [ -n "$ref" ] && ! docker image inspect "$ref" >/dev/null 2>&1; then docker load -q -i "$t" >/dev/null; loaded=$((loaded + 1)); fi
done
say "in-cluster images in this Docker: $loaded loaded ($(( $(date +%s) - t0 ))s)"
# image.sh tags the same node without its baked airgap images as k3sbox-testbed-bare.
env_lines="$(printf 'K3SBOX_TESTBED_BIN=%s\nK3SBOX_TESTBED_IMAGE=%s\nK3SBOX_TESTBED_BARE_IMAGE=%s\nK3SBOX_TESTBED_PARTS=%s\n' \
  "$bin_dir" "$image" "${image/k3sbox-testbed:/k3sbox-testbed-bare:}" "$parts_dir")"
if ! $with_tests; then echo "$env_lines"; exit 0; fi
# The engines and topologies the tests build for real beside the local
# daemon: Podman (rootful, Docker API socket), rootless Docker (rootlesskit,
# uidmap, slirp4netns, run by an unprivileged user), and ssh:// (sshd in a
# Docker-in-Docker container).
missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman golang-github-containernetworking-plugin-dnsname)
for b in rootlesskit newuidmap slirp4netns; do command -v "$b" >/dev/null 2>&1 || { missing+=(rootlesskit uidmap slirp4netns); break; }; done
[ -x /usr/sbin/sshd ] && command -v ssh >/dev/null 2>&1 || missing+=(openssh-server openssh-client)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
rootless_user="${K3SBOX_ROOTLESS_USER:-k3sboxrl}"
id -u "$rootless_user" >/dev/null 2>&1 || { say "useradd -m $rootless_user (runs the rootless Docker daemon in the tests)"; useradd -m "$rootless_user"; }
# rootlesskit's slirp4netns opens /dev/net/tun as that user.
[ -c /dev/net/tun ] && chmod 666 /dev/net/tun
# A Docker Engine 29 with the containerd image store, for the loadImages test
# on that store (Debian's Docker here is 20.10); scripts/test.sh starts it.
t0=$(date +%s)
docker29_bin="$(bash testbed/docker29.sh build | tail -n1)"
say "Docker 29 (moby v2 module): $docker29_bin ($(( $(date +%s) - t0 ))s)"
# The aggregated API server of the API aggregation test (k8s.io/sample-apiserver).
t0=$(date +%s)
sample_apiserver="$(bash testbed/sample-apiserver.sh | tail -n1)"
say "sample-apiserver: $sample_apiserver ($(( $(date +%s) - t0 ))s)"
env_lines="$env_lines
K3SBOX_SAMPLE_APISERVER=$sample_apiserver"
echo "$env_lines"
