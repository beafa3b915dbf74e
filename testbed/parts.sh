#!/usr/bin/env bash
# Builds the parts of the real-node test image from upstream sources only (Go
# module proxy + Debian packages; nothing is pulled from a container registry)
# into a cache outside the repository:
#   bin/     containerd containerd-shim-runc-v2 ctr   (parts/containerd)
#            runc (static, cgo + libseccomp)           (parts/runc)
#   cni/     bridge host-local loopback portmap       (parts/cni)
#   images/  docker-archive tarballs, loadable by `docker load` and
#            `ctr -n k8s.io images import`, under the references the
#            library's manifests use (see images/README.txt, images/index.json):
#            pause (parts/pause: pause.c from k8s.io/kubernetes), coredns,
#            traefik, registry, whoami (a stand-in: the proxy refuses
#            github.com/traefik/whoami), local-path (local-path-provisioner,
#            parts/local-path) and busybox (the host's static busybox, for
#            local-path's helper pods)
#   versions.txt  part -> upstream module@version
# One Go module per upstream project under parts/, so their dependency
# versions are never merged. The cache directory is keyed by a hash of every
# input here (this script, go.mod/go.sum/sources/config, the CA bundle and the
# busybox copied into images, the Go version), so an unchanged tree is a no-op.
# Prints the directory on stdout (last line); progress and per-part build
# times go to stderr.
set -euo pipefail
umask 022
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
parts="$here/parts"
cache_root="${K3SBOX_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/k3sbox/testbed}"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
busybox="${K3SBOX_BUSYBOX:-/bin/busybox}"
log() { printf 'parts: %s\n' "$*" >&2; }

apt_updated=false
apt_install() {
  if [ "$(id -u)" != 0 ]; then log "need root to install $* (apt-get install -y $*)"; exit 1; fi
  $apt_updated || { log "apt-get update"; apt-get update -qq; apt_updated=true; }
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Go lives in /usr/local/go on these machines; a non-login shell may not have it on PATH.
command -v go >/dev/null || export PATH="$PATH:/usr/local/go/bin"
command -v go >/dev/null || { log "Go toolchain not found on PATH (need Go >= 1.26)"; exit 1; }
[ -f "$ca_bundle" ] || apt_install ca-certificates
[ -n "${K3SBOX_BUSYBOX:-}" ] || [ -x "$busybox" ] || apt_install busybox-static
if ! "$busybox" --list >/dev/null 2>&1 || ldd "$busybox" >/dev/null 2>&1; then
  log "$busybox is not a static busybox (apt-get install busybox-static, or set K3SBOX_BUSYBOX)"; exit 1
fi

key="$( { (cd "$here" && find parts.sh parts -type f \( -name 'go.*' -o -name '*.go' -o -name '*.yml' -o -name parts.sh \) -print0 \
  | sort -z | xargs -0 sha256sum); sha256sum "$ca_bundle" "$busybox" | cut -d' ' -f1; go env GOVERSION; } | sha256sum | cut -c1-16)"
out="$cache_root/parts-$key"
if [ -f "$out/.complete" ]; then
  log "parts cached at $out"
  echo "$out"
  exit 0
fi

# runc needs cgo and a static libseccomp; pause.c needs a static libc.
command -v gcc >/dev/null || apt_install gcc libc6-dev
command -v pkg-config >/dev/null || apt_install pkg-config
[ -f "$(gcc -print-file-name=libseccomp.a)" ] && [ "$(gcc -print-file-name=libseccomp.a)" != libseccomp.a ] || apt_install libseccomp-dev

rm -rf "$out.partial"
mkdir -p "$out.partial"/{bin,cni,images}
work="$out.partial/.work"
mkdir -p "$work"
start=$(date +%s)
# Binaries depend on the sources only (no VCS stamps, no local paths); a
# developer's own GOFLAGS (say -mod=mod) must not change what is built.
export CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
arch="$(go env GOARCH)"
static_tags="urfave_cli_no_docs osusergo netgo"

# version_of DIR MODULE: the version DIR/go.mod requires.
version_of() {
  awk -v m="$2" '($1 == "require" && $2 == m) { print $3; exit } ($1 == m) { print $2; exit }' "$parts/$1/go.mod"
}
part_start=0
begin() { part_start=$(date +%s); log "building $*"; }
built() { log "built $* in $(( $(date +%s) - part_start ))s"; }
versions=()
images=()

# --- containerd, shim, ctr -------------------------------------------------
v="$(version_of containerd github.com/containerd/containerd/v2)"
pkg=github.com/containerd/containerd/v2
begin "containerd $v (containerd, containerd-shim-runc-v2, ctr)"
(cd "$parts/containerd" && go build -tags "$static_tags static_build" \
  -ldflags "-s -w -X $pkg/version.Version=$v -X $pkg/version.Package=$pkg" \
  -o "$out.partial/bin/" $pkg/cmd/containerd $pkg/cmd/containerd-shim-runc-v2 $pkg/cmd/ctr)
built "containerd $v"
versions+=("containerd $pkg@$v bin/containerd bin/containerd-shim-runc-v2 bin/ctr")

# --- runc (cgo, static, seccomp) ---------------------------------------------
v="$(version_of runc github.com/opencontainers/runc)"
begin "runc $v"
(cd "$parts/runc" && CGO_ENABLED=1 go build -tags "seccomp $static_tags" \
  -ldflags "-s -w -extldflags -static" -o "$out.partial/bin/runc" github.com/opencontainers/runc)
built "runc $v"
versions+=("runc github.com/opencontainers/runc@$v bin/runc")

# --- CNI plugins -------------------------------------------------------------
v="$(version_of cni github.com/containernetworking/plugins)"
pkg=github.com/containernetworking/plugins
begin "CNI plugins $v (bridge, host-local, loopback, portmap)"
(cd "$parts/cni" && go build -ldflags "-s -w -X $pkg/pkg/utils/buildversion.BuildVersion=$v" -o "$out.partial/cni/" \
  $pkg/plugins/main/bridge $pkg/plugins/ipam/host-local $pkg/plugins/main/loopback $pkg/plugins/meta/portmap)
built "CNI plugins $v"
versions+=("cni $pkg@$v cni/bridge cni/host-local cni/loopback cni/portmap")

# --- images ------------------------------------------------------------------
# rootfs_base DIR [certs]: /etc/passwd, /etc/group, /tmp (1777) and, with
# "certs", the CA bundle where Go looks for it.
rootfs_base() {
  mkdir -p "$1/etc" "$1/tmp"
  chmod 1777 "$1/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' > "$1/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$1/etc/group"
  if [ "${2:-}" = certs ]; then
    mkdir -p "$1/etc/ssl/certs"
    cp "$ca_bundle" "$1/etc/ssl/certs/ca-certificates.crt"
  fi
}

# Deterministic tar: sorted names, fixed owner and mtime, no ./ prefix.
det_tar() { # det_tar OUT DIR
  (cd "$2" && LC_ALL=C tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -cf "$1" $(LC_ALL=C ls -A))
}

# write_image NAME REF UPSTREAM ROOTFS CONFIG: images/NAME.tar, a docker-archive
# (manifest.json + config + one uncompressed layer) tagged REF. CONFIG holds
# the members of the image config's "config" object (JSON, without Labels).
write_image() {
  local name=$1 ref=$2 upstream=$3 rootfs=$4 config=$5
  local dir="$work/image-$name" diff cfg
  mkdir -p "$dir/layer"
  find "$rootfs" -type d ! -path "$rootfs/tmp" -exec chmod 0755 {} +
  det_tar "$dir/layer/layer.tar" "$rootfs"
  diff="$(sha256sum "$dir/layer/layer.tar" | cut -d' ' -f1)"
  mkdir -p "$dir/archive/$diff"
  mv "$dir/layer/layer.tar" "$dir/archive/$diff/layer.tar"
  printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":{%s,"Labels":{"io.k3sbox.upstream":"%s"}},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"k3sbox testbed/parts.sh: %s"}]}' \
    "$arch" "$config" "$upstream" "$diff" "$upstream" > "$dir/config.json"
  cfg="$(sha256sum "$dir/config.json" | cut -d' ' -f1)"
  mv "$dir/config.json" "$dir/archive/$cfg.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$cfg" "$ref" "$diff" > "$dir/archive/manifest.json"
  det_tar "$out.partial/images/$name.tar" "$dir/archive"
  rm -rf "$dir"
  images+=("$ref|$name.tar|$upstream")
}
path_env='"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"'

# pause: build/pause/linux/pause.c of the pinned k8s.io/kubernetes module, as
# its Makefile builds it (gcc -Os -static); image as its Dockerfile makes it.
v="$(version_of pause k8s.io/kubernetes)"
begin "pause (k8s.io/kubernetes $v build/pause/linux/pause.c)"
kube_dir="$(cd "$parts/pause" && go mod download -json k8s.io/kubernetes | awk -F'"' '$2 == "Dir" { print $4 }')"
pause_tag="$(awk '$1 == "TAG" && $2 == "?=" { print $3 }' "$kube_dir/build/pause/Makefile")"
root="$work/rootfs-pause"
rootfs_base "$root"
gcc -Os -Wall -Werror -static -DVERSION="v$pause_tag-k8s.io/kubernetes@$v" -o "$root/pause" "$kube_dir/build/pause/linux/pause.c"
strip "$root/pause"
write_image pause rancher/mirrored-pause:3.6 "k8s.io/kubernetes@$v build/pause/linux/pause.c (pause $pause_tag)" "$root" \
  "$path_env],\"User\":\"65535:65535\",\"Entrypoint\":[\"/pause\"],\"WorkingDir\":\"/\""
built "pause $pause_tag (k8s.io/kubernetes $v)"
versions+=("pause k8s.io/kubernetes@$v/build/pause/linux/pause.c images/pause.tar")

# CoreDNS. Runs as root: upstream runs as nonroot with a file capability
# (cap_net_bind_service) to bind :53; here the pod's securityContext (drop
# all, add NET_BIND_SERVICE) gives root exactly that.
v="$(version_of coredns github.com/coredns/coredns)"
begin "CoreDNS $v"
root="$work/rootfs-coredns"
rootfs_base "$root" certs
(cd "$parts/coredns" && go build -ldflags "-s -w" -o "$root/coredns" github.com/coredns/coredns)
write_image coredns "rancher/mirrored-coredns-coredns:${v#v}" "github.com/coredns/coredns@$v" "$root" \
  "$path_env],\"Entrypoint\":[\"/coredns\"],\"ExposedPorts\":{\"53/tcp\":{},\"53/udp\":{}},\"WorkingDir\":\"/\""
built "CoreDNS $v"
versions+=("coredns github.com/coredns/coredns@$v images/coredns.tar")

# Traefik: ENTRYPOINT /traefik, so a Deployment's args are Traefik's flags.
v="$(version_of traefik github.com/traefik/traefik/v3)"
pkg=github.com/traefik/traefik/v3
begin "Traefik $v (the largest part: several minutes on 2 cores)"
root="$work/rootfs-traefik"
rootfs_base "$root" certs
(cd "$parts/traefik" && go build -ldflags "-s -w -X $pkg/pkg/version.Version=${v#v} -X $pkg/pkg/version.BuildDate=1970-01-01T00:00:00Z" \
  -o "$root/traefik" $pkg/cmd/traefik)
write_image traefik rancher/mirrored-library-traefik:3.3.2 "$pkg@$v" "$root" \
  "$path_env],\"Entrypoint\":[\"/traefik\"],\"ExposedPorts\":{\"80/tcp\":{}},\"WorkingDir\":\"/\""
built "traefik $v"
versions+=("traefik $pkg@$v images/traefik.tar")

# registry: laid out like the distribution v3 image (/bin/registry, config
# at /etc/distribution/config.yml, ENTRYPOINT registry, CMD serve <config>).
v="$(version_of registry github.com/distribution/distribution/v3)"
pkg=github.com/distribution/distribution/v3
begin "distribution registry $v"
root="$work/rootfs-registry"
rootfs_base "$root" certs
mkdir -p "$root/bin" "$root/etc/distribution" "$root/var/lib/registry"
cp "$parts/registry/config.yml" "$root/etc/distribution/config.yml"
chmod 0644 "$root/etc/distribution/config.yml"
(cd "$parts/registry" && go build -ldflags "-s -w -X $pkg/version.version=$v -X $pkg/version.mainpkg=$pkg" \
  -o "$root/bin/registry" $pkg/cmd/registry)
write_image registry registry:2 "$pkg@$v" "$root" \
  "$path_env,\"OTEL_TRACES_EXPORTER=none\"],\"Entrypoint\":[\"/bin/registry\"],\"Cmd\":[\"serve\",\"/etc/distribution/config.yml\"],\"ExposedPorts\":{\"5000/tcp\":{}},\"Volumes\":{\"/var/lib/registry\":{}},\"WorkingDir\":\"/\""
built "registry $v"
versions+=("registry $pkg@$v images/registry.tar")

# whoami: the demo app. github.com/traefik/whoami is refused by the proxy, so
# this is k3sbox's whoami-compatible server (parts/whoami), said so in its label.
begin "whoami (k3sbox stand-in for traefik/whoami)"
root="$work/rootfs-whoami"
rootfs_base "$root"
(cd "$parts/whoami" && go build -ldflags "-s -w" -o "$root/whoami" .)
write_image whoami traefik/whoami:v1.10.3 "k3sbox.local/testbed/parts/whoami (whoami-compatible stand-in; the Go module proxy refuses github.com/traefik/whoami)" "$root" \
  "$path_env],\"Entrypoint\":[\"/whoami\"],\"ExposedPorts\":{\"80/tcp\":{}},\"WorkingDir\":\"/\""
built "whoami"
versions+=("whoami k3sbox.local/testbed/parts/whoami images/whoami.tar")

# local-path-provisioner, laid out like its upstream image
# (package/Dockerfile: /usr/bin/local-path-provisioner, CMD
# local-path-provisioner); VERSION set as its scripts/build does.
v="$(version_of local-path github.com/rancher/local-path-provisioner)"
pkg=github.com/rancher/local-path-provisioner
begin "local-path-provisioner $v"
root="$work/rootfs-local-path"
rootfs_base "$root"
mkdir -p "$root/usr/bin"
(cd "$parts/local-path" && go build -ldflags "-s -w -X main.VERSION=$v" -o "$root/usr/bin/local-path-provisioner" $pkg)
write_image local-path "rancher/local-path-provisioner:$v" "$pkg@$v" "$root" \
  "$path_env],\"Cmd\":[\"local-path-provisioner\"],\"WorkingDir\":\"/\""
built "local-path-provisioner $v"
versions+=("local-path $pkg@$v images/local-path.tar")

# busybox for local-path's helper pods (they run `sh /script/setup`, mkdir,
# chmod, rm): the host's static busybox and its applet links in /bin, tagged
# as the helper image k3s configures; the label names the Debian package.
bb_pkg="$(dpkg-query -S "$busybox" 2>/dev/null | sed -n '1s/:.*//p' || true)"
if [ -n "$bb_pkg" ]; then
  bb_version="$(dpkg-query -W -f='${Version}' "$bb_pkg")"
  bb_id="debian/$bb_pkg@$bb_version"
  bb_upstream="Debian $bb_pkg $bb_version ($busybox)"
else
  bb_version="$("$busybox" --help 2>&1 | sed -n '1s/^BusyBox \(v[^ ]*\).*/\1/p' || true)"
  bb_id="busybox@$bb_version"
  bb_upstream="BusyBox $bb_version ($busybox, not from a Debian package)"
fi
begin "busybox ($bb_upstream)"
root="$work/rootfs-busybox"
rootfs_base "$root"
mkdir -p "$root/bin"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"; done
write_image busybox rancher/mirrored-library-busybox:1.36.1 "$bb_upstream" "$root" \
  "$path_env],\"Cmd\":[\"sh\"],\"WorkingDir\":\"/\""
built "busybox"
versions+=("busybox $bb_id images/busybox.tar")

# --- indexes -----------------------------------------------------------------
{
  echo "Images built by testbed/parts.sh from upstream sources (nothing pulled)."
  echo "Each is tagged with the reference k3sbox's manifests use; what it really"
  echo "is, is in its io.k3sbox.upstream label and below."
  echo
  for i in "${images[@]}"; do IFS='|' read -r ref file upstream <<<"$i"; printf '%s\t%s\t%s\n' "$file" "$ref" "$upstream"; done
} > "$out.partial/images/README.txt"
{
  printf '['
  sep=''
  for i in "${images[@]}"; do
    IFS='|' read -r ref file upstream <<<"$i"
    printf '%s\n  {"ref":"%s","file":"%s","upstream":"%s"}' "$sep" "$ref" "$file" "$upstream"
    sep=','
  done
  printf '\n]\n'
} > "$out.partial/images/index.json"
printf '%s\n' "${versions[@]}" > "$out.partial/versions.txt"

rm -rf "$work"
touch "$out.partial/.complete"
rm -rf "$out" && mv "$out.partial" "$out"
log "built in $(( $(date +%s) - start ))s into $out"
echo "$out"
