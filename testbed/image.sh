#!/usr/bin/env bash
# Builds the k3s-compatible test image from the binaries build.sh produces:
#   FROM scratch; static busybox (/bin/busybox + applet links: sh, ip, awk,
#   cat, printf, ...); k3s (the shim), etcd, kube-apiserver,
#   kube-controller-manager, kube-scheduler, kwok, kubectl, echo-https in /bin.
# Nothing is pulled. Tagged k3sbox-testbed:<kube version>-<hash of the
# binaries, busybox and this script> and k3sbox-testbed:latest; an existing
# tag is reused as is.
# Usage: image.sh [BIN_DIR]   (default: the directory build.sh prints)
# Prints the tag on stdout (last line); progress goes to stderr.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
busybox="${K3SBOX_BUSYBOX:-/bin/busybox}"
log() { printf 'testbed-image: %s\n' "$*" >&2; }

bin="${1:-$(bash "$here/build.sh" | tail -n1)}"
binaries=(k3s etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl echo-https)
for b in "${binaries[@]}"; do
  [ -x "$bin/$b" ] || { log "missing $bin/$b (run build.sh)"; exit 1; }
done
# The applet links need a static busybox (Debian: busybox-static).
if ! "$busybox" --list >/dev/null 2>&1 || ldd "$busybox" >/dev/null 2>&1; then
  log "$busybox is not a static busybox (set K3SBOX_BUSYBOX)"; exit 1
fi

kube_version="$(awk '/^require k8s.io\/kubernetes /{print $3}' "$here/kube/go.mod")"
hash="$( (cd "$bin" && sha256sum "${binaries[@]}"; sha256sum "$busybox" "$here/image.sh" | cut -d' ' -f1) | sha256sum | cut -c1-12)"
tag="k3sbox-testbed:${kube_version}-${hash}"

if docker image inspect "$tag" >/dev/null 2>&1; then
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
ENV PATH=/bin:/usr/bin HOME=/root KUBECONFIG=/etc/rancher/k3s/k3s.yaml
CMD ["/bin/k3s", "server"]
EOF
  log "building $tag from $bin"
  docker build --label "k3sbox.testbed.kube-version=$kube_version" -t "$tag" "$ctx" >&2
  log "built $tag in $(( $(date +%s) - start ))s"
fi
docker tag "$tag" k3sbox-testbed:latest
echo "$tag"
