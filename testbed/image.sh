#!/usr/bin/env bash
# Builds the k3s-compatible test image, a real single-node cluster:
#   FROM scratch; static busybox (/bin/busybox + applet links: sh, ip, awk,
#   cat, printf, mount, ...);
#   from build.sh: k3s (the shim), etcd, kube-apiserver,
#     kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kwok,
#     kubectl, echo-https in /bin;
#   from parts.sh: containerd, containerd-shim-runc-v2, ctr, runc in /bin,
#     the CNI plugins in /opt/cni/bin, and the airgap images (pause, CoreDNS,
#     Traefik, registry, whoami, local-path-provisioner, busybox), imported
#     into containerd's content store at build time, not unpacked (in a last
#     layer, with their list in /var/lib/rancher/k3s/agent/seeded-images: the
#     image without it is tagged k3sbox-testbed-bare:<same tag>, a node that
#     must be handed its images like rancher/k3s, which bakes none);
#   from the host's Debian packages: nft and iptables (nf_tables) with the
#     shared libraries they load, for kube-proxy and the CNI plugins.
# Nothing is pulled. Tagged k3sbox-testbed:<kube version>-<hash of all of
# that and this script> and k3sbox-testbed:latest; an existing tag is reused.
# Usage: image.sh [BIN_DIR [PARTS_DIR]]   (default: what build.sh and
# parts.sh print). Prints the tag on stdout (last line); progress on stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
busybox="${K3SBOX_BUSYBOX:-/bin/busybox}"
log() { printf 'testbed-image: %s\n' "$*" >&2; }

bin="${1:-$(bash "$here/build.sh" | tail -n1)}"
parts="${2:-$(bash "$here/parts.sh" | tail -n1)}"
binaries=(k3s etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kwok kubectl echo-https)
for b in "${binaries[@]}"; do
  [ -x "$bin/$b" ] || { log "missing $bin/$b (run build.sh)"; exit 1; }
done
node_binaries=(containerd containerd-shim-runc-v2 ctr runc)
cni_plugins=(bridge host-local loopback portmap)
for b in "${node_binaries[@]}"; do [ -x "$parts/bin/$b" ] || { log "missing $parts/bin/$b (run parts.sh)"; exit 1; }; done
for b in "${cni_plugins[@]}"; do [ -x "$parts/cni/$b" ] || { log "missing $parts/cni/$b (run parts.sh)"; exit 1; }; done
ls "$parts"/images/*.tar >/dev/null || { log "no airgap images in $parts/images (run parts.sh)"; exit 1; }
# The netfilter userland comes from the host's Debian packages.
netfilter=(/usr/sbin/nft /usr/sbin/xtables-nft-multi)
for b in "${netfilter[@]}"; do [ -x "$b" ] || { log "missing $b (apt-get install nftables iptables)"; exit 1; }; done
# iptables loads its extensions from the directory compiled into it (the
# real path, /usr/lib/..., not the /lib symlink ldd may print).
xtables_dir=$(readlink -f "$(dirname "$(ldd /usr/sbin/xtables-nft-multi | awk '/libxtables/{print $3}')")/xtables")
libs=$(for b in "${netfilter[@]}" "$xtables_dir"/*.so; do ldd "$b" | awk '/=>/{print $3} /ld-linux/{print $1}'; done | sort -u)
# The k3s entry deploys CoreDNS and local-path-provisioner (whose helper pods
# run busybox) under the references their tarballs carry.
image_ref() {
  local ref
  ref=$(tar -xOf "$parts/images/$1.tar" manifest.json | sed -n 's/.*"RepoTags":\["\([^"]*\)".*/\1/p')
  [ -n "$ref" ] || { log "no image reference in $parts/images/$1.tar"; exit 1; }
  echo "$ref"
}
coredns_image=$(image_ref coredns)
local_path_image=$(image_ref local-path)
local_path_helper_image=$(image_ref busybox)
# The applet links need a static busybox (Debian: busybox-static).
if ! "$busybox" --list >/dev/null 2>&1 || ldd "$busybox" >/dev/null 2>&1; then
  log "$busybox is not a static busybox (set K3SBOX_BUSYBOX)"; exit 1
fi

kube_version="$(awk '/^require k8s.io\/kubernetes /{print $3}' "$here/kube/go.mod")"
hash="$( (cd "$bin" && sha256sum "${binaries[@]}"; cd "$parts" && sha256sum bin/* cni/* images/*;
  sha256sum "$busybox" "$here/image.sh" "${netfilter[@]}" $libs | cut -d' ' -f1) | sha256sum | cut -c1-12)"
tag="k3sbox-testbed:${kube_version}-${hash}"
bare_tag="k3sbox-testbed-bare:${kube_version}-${hash}"

if docker image inspect "$tag" >/dev/null 2>&1 && docker image inspect "$bare_tag" >/dev/null 2>&1; then
  log "image $tag exists"
else
  start=$(date +%s)
  ctx="$(mktemp -d "${TMPDIR:-/tmp}/k3sbox-image.XXXXXX")"
  trap 'rm -rf "$ctx"' EXIT
  root="$ctx/rootfs"
  mkdir -p "$root"/{bin,etc/rancher/k3s,var/lib/rancher/k3s,run,var/run,root,usr/bin}
  mkdir -m 1777 "$root/tmp"
  # Hard links where possible: the binaries are ~450 MB.
  for b in "${binaries[@]}"; do cp -l "$bin/$b" "$root/bin/" 2>/dev/null || cp "$bin/$b" "$root/bin/"; done
  for b in "${node_binaries[@]}"; do cp -l "$parts/bin/$b" "$root/bin/" 2>/dev/null || cp "$parts/bin/$b" "$root/bin/"; done
  mkdir -p "$root/opt/cni/bin" "$root/usr/sbin" "$root/var/lib/rancher/k3s/agent/images"
  for b in "${cni_plugins[@]}"; do cp "$parts/cni/$b" "$root/opt/cni/bin/"; done
  mkdir -p "$ctx/airgap"
  for t in "$parts"/images/*.tar; do cp -l "$t" "$ctx/airgap/" 2>/dev/null || cp "$t" "$ctx/airgap/"; done
  cp "${netfilter[@]}" "$root/usr/sbin/"
  for l in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do ln -s xtables-nft-multi "$root/usr/sbin/$l"; done
  for l in $libs; do mkdir -p "$root$(dirname "$l")"; cp -L "$l" "$root$l"; done
  mkdir -p "$root$xtables_dir" && cp "$xtables_dir"/*.so "$root$xtables_dir/"
  cp "$busybox" "$root/bin/busybox"
  for applet in $("$busybox" --list); do
    # Never shadow a bundled binary (busybox has no applet of those names
    # today, but the check is cheap).
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  ln -s ../../bin/busybox "$root/usr/bin/env"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
  printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
  # No ENTRYPOINT: callers run `/bin/sh -c '... exec k3s server ...'` or
  # `k3s server ...` directly as the container command.
  cat > "$ctx/Dockerfile" <<'EOF'
FROM scratch
COPY rootfs/ /
ENV PATH=/bin:/usr/bin:/usr/sbin HOME=/root KUBECONFIG=/etc/rancher/k3s/k3s.yaml
CMD ["/bin/k3s", "server"]
EOF
  echo "ENV K3SBOX_COREDNS_IMAGE=$coredns_image K3SBOX_LOCAL_PATH_IMAGE=$local_path_image K3SBOX_LOCAL_PATH_HELPER_IMAGE=$local_path_helper_image" >> "$ctx/Dockerfile"
  printf 'airgap\nDockerfile.baked\nseed.sh\n' > "$ctx/.dockerignore"
  log "building $bare_tag from $bin"
  docker build --label "k3sbox.testbed.kube-version=$kube_version" -t "$bare_tag" "$ctx" >&2
  # The baked node: the bare one plus its system images already in
  # containerd's content store (as kind bakes its node images), so no node
  # imports ~350 MB of tarballs on every boot. A build stage imports the
  # tarballs without unpacking them (no snapshotter, no privileges needed);
  # the node's CRI unpacks an image the first time a container uses it.
  # Only the content store and its metadata are copied out (where the k3s
  # entry puts them in place at start, testbed/shim/cmd/k3s/node.go), with
  # the list of references (lib/k3s/node-images.ts counts those as built in).
  cat > "$ctx/seed.sh" <<'EOF'
set -e
d=/var/lib/rancher/k3s/agent
sock=/run/seed/containerd.sock
mkdir -p /run/seed
printf 'version = 3\nroot = "/seed/root"\nstate = "/run/seed"\n[grpc]\n  address = "%s"\n' "$sock" > /run/seed/config.toml
containerd --config /run/seed/config.toml > /run/seed/log 2>&1 &
i=0
until [ -S "$sock" ]; do
  i=$((i + 1))
  [ $i -lt 300 ] || { cat /run/seed/log; exit 1; }
  sleep 0.1
done
for t in /seed/airgap/*.tar; do ctr --address "$sock" --namespace k8s.io images import --no-unpack "$t" > /dev/null; done
ctr --address "$sock" --namespace k8s.io images list --quiet | grep -v '^sha256:' > "$d/seeded-images"
kill %1
wait
test -s "$d/seeded-images"
EOF
  cat > "$ctx/Dockerfile.baked" <<EOF
FROM $bare_tag AS seed
COPY airgap/ /seed/airgap/
COPY seed.sh /seed/
RUN sh /seed/seed.sh
FROM $bare_tag
COPY --from=seed /seed/root/io.containerd.content.v1.content/ /var/lib/rancher/k3s/agent/containerd-content/
COPY --from=seed /seed/root/io.containerd.metadata.v1.bolt/meta.db /var/lib/rancher/k3s/agent/containerd-seeded-meta.db
COPY --from=seed /var/lib/rancher/k3s/agent/seeded-images /var/lib/rancher/k3s/agent/seeded-images
EOF
  log "building $tag (the bare image and its system images in containerd's store)"
  docker build -f Dockerfile.baked -t "$tag" - < <(tar -C "$ctx" -c Dockerfile.baked seed.sh airgap) >&2
  log "built $tag in $(( $(date +%s) - start ))s"
fi
docker tag "$tag" k3sbox-testbed:latest
docker tag "$bare_tag" k3sbox-testbed-bare:latest
echo "$tag"
