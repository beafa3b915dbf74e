#!/usr/bin/env bash
# End-to-end check of the testbed, both ways the test suite uses it:
#   host:      k3s server as a plain process (temp data dir, free port)
#   container: the image from image.sh, unprivileged, with the library's
#              /bin/sh wrapper, API port published on 127.0.0.1
# Each: /readyz, node Ready, a Deployment reaching readyReplicas=1 through
# kwok, TLS verified from the host, clean shutdown. Prints timings.
# Usage: smoke.sh [host|container|all]   (default all)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mode="${1:-all}"
bin="$(bash "$here/build.sh" | tail -n1)"
kubectl="$bin/kubectl"
work="$(mktemp -d "${TMPDIR:-/tmp}/k3sbox-smoke.XXXXXX")"
pid="" container=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  [ -n "$container" ] && docker rm -f "$container" >/dev/null 2>&1
  rm -rf "$work"
  return 0
}
trap cleanup EXIT

now() { date +%s%N; }
since() { local d=$(( ($(now) - $1) / 1000000 )); printf '%d.%03ds' $((d / 1000)) $((d % 1000)); }
say() { printf 'smoke: %s\n' "$*"; }
fail() { say "FAIL: $*"; exit 1; }
until_ok() { # until_ok SECONDS CMD...: retry CMD every 0.1s
  local end=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.1; done
}
free_port() {
  local p
  while :; do p=$(( 20000 + RANDOM % 40000 )); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }; done
}
node_ready() { [ "$("$kubectl" --kubeconfig "$1" get nodes -o jsonpath='{.items[0].status.conditions[?(@.type=="Ready")].status}')" = True ]; }
deploy_ready() { [ "$("$kubectl" --kubeconfig "$1" get deploy smoke -o jsonpath='{.status.readyReplicas}')" = 1 ]; }
workload() { # workload KUBECONFIG START
  until_ok 60 node_ready "$1" || fail "node not Ready"
  say "node Ready after $(since "$2")"
  until_ok 30 "$kubectl" --kubeconfig "$1" create deployment smoke --image=registry:2 || fail "cannot create a Deployment"
  until_ok 60 deploy_ready "$1" || fail "Deployment not ready"
  say "Deployment readyReplicas=1 after $(since "$2")"
  "$kubectl" --kubeconfig "$1" get nodes,pods -o wide
}

if [ "$mode" = host ] || [ "$mode" = all ]; then
  say "host mode ($bin)"
  port=$(free_port) kc="$work/host/kubeconfig.yaml"
  start=$(now)
  "$bin/k3s" server --data-dir="$work/host" --https-listen-port="$port" --bind-address=127.0.0.1 \
    --write-kubeconfig="$kc" 2>"$work/host.log" &
  pid=$!
  until_ok 120 "$kubectl" --kubeconfig "$kc" get --raw=/readyz || { cat "$work/host.log"; fail "no /readyz"; }
  say "/readyz 200 after $(since "$start")"
  workload "$kc" "$start"
  start=$(now)
  kill -TERM "$pid"
  wait "$pid" || fail "k3s server exited with $? on SIGTERM"
  pid=""
  say "stopped after $(since "$start")"
  if pgrep -f "$work/host" >/dev/null; then pgrep -af "$work/host"; fail "processes left behind"; fi
fi

if [ "$mode" = container ] || [ "$mode" = all ]; then
  image="$(bash "$here/image.sh" "$bin" | tail -n1)"
  say "container mode ($image)"
  # The shape of the library's wrapper (lib/k3s/command.ts).
  script='GW=$(ip route | awk "/^default/{print \$3; exit}"); printf "nameserver %s\n" "$GW" > /run/x.conf; exec k3s server --resolv-conf=/run/x.conf --disable=traefik --disable=servicelb --disable=metrics-server --cluster-cidr=10.44.0.0/16 --service-cidr=10.45.0.0/16 --cluster-dns=10.45.0.10 --flannel-backend=host-gw --write-kubeconfig-mode=644 --kube-proxy-arg=proxy-mode=nftables --tls-san=127.0.0.1 --tls-san=k8s.internal'
  start=$(now)
  container=$(docker run -d --tmpfs /run --tmpfs /var/run -p 127.0.0.1::6443 "$image" /bin/sh -c "$script")
  until_ok 120 docker exec "$container" /bin/sh -c 'kubectl get --raw=/readyz' || { docker logs "$container"; fail "no /readyz in the container"; }
  say "/readyz 200 (docker exec kubectl) after $(since "$start")"
  hostport=$(docker port "$container" 6443/tcp | head -n1 | sed 's/.*://')
  kc="$work/container.yaml"
  docker exec "$container" cat /etc/rancher/k3s/k3s.yaml | sed "s#https://127.0.0.1:6443#https://127.0.0.1:$hostport#" > "$kc"
  "$kubectl" --kubeconfig "$kc" --tls-server-name=k8s.internal get --raw=/version >/dev/null || fail "TLS for the k8s.internal SAN"
  workload "$kc" "$start"
  start=$(now)
  docker stop "$container" >/dev/null
  say "docker stop took $(since "$start"), exit code $(docker inspect -f '{{.State.ExitCode}}' "$container")"
fi
say "OK"
