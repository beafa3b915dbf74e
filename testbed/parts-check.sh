#!/usr/bin/env bash
# Checks what testbed/parts.sh built (no Go needed):
#   - bin/runc, bin/containerd, bin/ctr, the shim and the CNI plugins are
#     static and report their versions (CNI: CNI_COMMAND=VERSION);
#   - every images/*.tar loads with `docker load`, carries its
#     io.k3sbox.upstream label, and its binary starts in `docker run`
#     (registry/whoami/traefik answer HTTP, REGISTRY_* env overrides work);
#   - with root: every tarball imports with `ctr -n k8s.io images import` into
#     a throwaway containerd started from bin/ (its own root, state, socket).
# Nothing is left behind: containers carry a label and are removed, loaded tags
# are removed, and a reference that already exists in the daemon (someone
# else's image) is never touched: that image is checked under a private tag.
# Usage: parts-check.sh [PARTS_DIR]   (default: the directory parts.sh prints)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-$(bash "$here/parts.sh" | tail -n1)}"
label="k3sbox.parts-check=$$"
failures=0
log() { printf 'parts-check: %s\n' "$*" >&2; }
ok() { log "ok   $*"; }
bad() { log "FAIL $*"; failures=$((failures + 1)); }
# expect WHAT PATTERN OUTPUT
expect() { if grep -qE "$2" <<<"$3"; then ok "$1: $(head -n1 <<<"$3")"; else bad "$1: expected /$2/, got: $3"; fi; }
static() { if ldd "$1" >/dev/null 2>&1; then bad "$1 is dynamically linked"; else ok "$(basename "$1") is static"; fi; }

[ -f "$dir/.complete" ] || { log "$dir is not a complete parts directory"; exit 1; }
version() { awk -v p="$1" '$1 == p { sub(/.*@/, "", $2); print $2 }' "$dir/versions.txt"; }

# --- binaries ----------------------------------------------------------------
for b in containerd containerd-shim-runc-v2 ctr runc; do static "$dir/bin/$b"; done
expect "runc --version" "runc version $(version runc | tr -d v)" "$("$dir/bin/runc" --version 2>&1)"
expect "runc seccomp" "libseccomp: [0-9]" "$("$dir/bin/runc" --version 2>&1)"
expect "containerd --version" "containerd .* $(version containerd)" "$("$dir/bin/containerd" --version 2>&1)"
expect "ctr --version" "ctr .*$(version containerd)" "$("$dir/bin/ctr" --version 2>&1)"
expect "containerd-shim-runc-v2 -v" "$(version containerd)" "$("$dir/bin/containerd-shim-runc-v2" -v 2>&1)"
for p in bridge host-local loopback portmap; do
  static "$dir/cni/$p"
  expect "CNI $p VERSION" '"supportedVersions":.*"1.0.0"' "$(CNI_COMMAND=VERSION "$dir/cni/$p" </dev/null 2>&1)"
done

# --- images in Docker ----------------------------------------------------------
containers=()
tags=()
cleanup() {
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  for t in "${tags[@]}"; do docker rmi "$t" >/dev/null 2>&1 || true; done
  [ -z "${ctr_pid:-}" ] || { kill "$ctr_pid" 2>/dev/null || true; wait "$ctr_pid" 2>/dev/null || true; }
  [ -z "${ctr_root:-}" ] || { umount -R "$ctr_root" 2>/dev/null || true; rm -rf "$ctr_root"; }
}
trap cleanup EXIT

# load FILE REF: loads the tarball and sets $tag to the tag to use. If REF
# already names an image in the daemon, loads a copy retagged
# k3sbox-parts-check/NAME:PID. (Sets globals, not stdout: a $(...) subshell
# would lose what cleanup must remove.)
load() {
  local file=$1 ref=$2 tmp private
  if ! docker image inspect "$ref" >/dev/null 2>&1; then
    tags+=("$ref"); tag="$ref"
    docker load -q -i "$file" >&2
    return
  fi
  private="k3sbox-parts-check/$(basename "$file" .tar):$$"
  log "$ref already exists in this daemon (not ours to touch): checking $file as $private"
  tags+=("$private"); tag="$private"
  tmp="$(mktemp -d)"
  tar -xf "$file" -C "$tmp"
  sed -i "s|\"RepoTags\":\[\"[^\"]*\"\]|\"RepoTags\":[\"$private\"]|" "$tmp/manifest.json"
  (cd "$tmp" && tar -cf - -- *) | docker load -q >&2
  rm -rf "$tmp"
}
run() { docker run --rm --label "$label" "$@" 2>&1; }
start() { # start NAME IMAGE ARGS...: a detached container; sets $ip to its address
  local name="k3sbox-parts-check-$1-$$"; shift
  containers+=("$name")
  docker run -d --label "$label" --name "$name" "$@" >/dev/null
  ip="$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$name")"
}
# http URL: status code and body of a GET, retrying for up to 10 s.
http() {
  local deadline=$(( $(date +%s) + 10 )) out
  while :; do
    out="$(curl -s -m 2 -w '\n%{http_code}' "$@" 2>&1)" && [ "${out##*$'\n'}" != 000 ] && { echo "$out"; return; }
    [ "$(date +%s)" -lt "$deadline" ] || { echo "no answer within 10s: $out"; return; }
    sleep 0.3
  done
}

if ! docker info >/dev/null 2>&1; then
  bad "no Docker daemon answers: images not checked"
else
  while IFS=$'\t' read -r file ref upstream; do
    load "$dir/images/$file" "$ref"
    got="$(docker image inspect -f '{{index .Config.Labels "io.k3sbox.upstream"}}' "$tag")"
    [ "$got" = "$upstream" ] && ok "$ref: io.k3sbox.upstream=$got" || bad "$ref: label is '$got', want '$upstream'"
    case "$file" in
      pause.tar)
        expect "pause -v" "pause.c v" "$(run "$tag" -v)"
        expect "pause user" "^65535:65535$" "$(docker image inspect -f '{{.Config.User}}' "$tag")" ;;
      coredns.tar)
        expect "coredns -version" "CoreDNS-$(version coredns | tr -d v)" "$(run "$tag" -version)" ;;
      traefik.tar)
        expect "traefik version" "Version: +$(version traefik | tr -d v)" "$(run "$tag" version)"
        start traefik "$tag" --entrypoints.web.address=:80 --ping=true --ping.entrypoint=web
        expect "traefik answers /ping on :80" "^OK" "$(http "http://$ip/ping")" ;;
      registry.tar)
        expect "registry --version" "$(version registry)" "$(run "$tag" --version)"
        start registry "$tag"
        expect "registry serves /v2/ on :5000" "^200$" "$(http "http://$ip:5000/v2/" | tail -n1)"
        expect "registry: deletes disabled by default" "^405$" "$(http -X DELETE "http://$ip:5000/v2/x/manifests/sha256:$(printf %064d 0)" | tail -n1)"
        start registry-env -e REGISTRY_HTTP_ADDR=:5050 -e REGISTRY_STORAGE_DELETE_ENABLED=true "$tag"
        expect "registry: REGISTRY_HTTP_ADDR=:5050" "^200$" "$(http "http://$ip:5050/v2/" | tail -n1)"
        expect "registry: REGISTRY_STORAGE_DELETE_ENABLED=true" "^404$" "$(http -X DELETE "http://$ip:5050/v2/x/manifests/sha256:$(printf %064d 0)" | tail -n1)" ;;
      whoami.tar)
        start whoami "$tag"
        expect "whoami answers on :80" "^Hostname: " "$(http "http://$ip/")" ;;
      local-path.tar)
        expect "local-path-provisioner --version" "version $(version local-path)\$" "$(run "$tag" local-path-provisioner --version)" ;;
      busybox.tar)
        # What local-path's setup and teardown scripts run.
        expect "busybox: sh, mkdir -m, chmod, rm" "^777 gone$" \
          "$(run "$tag" sh -c 'set -eu; mkdir -m 0777 -p /v/a/b; chmod 700 /v/a; echo "$(stat -c %a /v/a/b) $(rm -rf /v/a/b && [ ! -e /v/a/b ] && echo gone)"')" ;;
      *) bad "$file: no check written for it" ;;
    esac
  done < <(awk -F'\t' 'NF == 3' "$dir/images/README.txt")
fi

# --- ctr import into a throwaway containerd -----------------------------------
if [ "$(id -u)" != 0 ]; then
  log "skip ctr import: starting containerd needs root"
else
  ctr_root="$(mktemp -d /tmp/k3sbox-parts-check.XXXXXX)"
  sock="$ctr_root/containerd.sock"
  # Only what an import needs: no CRI, no NRI socket, no /opt/containerd.
  cat > "$ctr_root/config.toml" <<EOF
version = 3
root = "$ctr_root/root"
state = "$ctr_root/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime", "io.containerd.cri.v1.images", "io.containerd.nri.v1.nri", "io.containerd.internal.v1.opt"]
[grpc]
  address = "$sock"
EOF
  PATH="$dir/bin:$PATH" "$dir/bin/containerd" --config "$ctr_root/config.toml" >"$ctr_root/log" 2>&1 &
  ctr_pid=$!
  for _ in $(seq 1 50); do "$dir/bin/ctr" -a "$sock" version >/dev/null 2>&1 && break; sleep 0.2; done
  if ! "$dir/bin/ctr" -a "$sock" version >/dev/null 2>&1; then
    bad "throwaway containerd did not answer within 10s: $(tail -n 5 "$ctr_root/log")"
  else
    while IFS=$'\t' read -r file ref _; do
      if out="$("$dir/bin/ctr" -a "$sock" -n k8s.io images import "$dir/images/$file" 2>&1)"; then
        expect "ctr import $file" "^docker.io/(library/)?$ref$" "$("$dir/bin/ctr" -a "$sock" -n k8s.io images ls -q 2>/dev/null | grep -F -- "$ref")"
      else
        bad "ctr import $file: $out"
      fi
    done < <(awk -F'\t' 'NF == 3' "$dir/images/README.txt")
  fi
fi

if [ "$failures" -gt 0 ]; then log "$failures check(s) failed"; exit 1; fi
log "all checks passed for $dir"
