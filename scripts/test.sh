#!/usr/bin/env bash
# Sets up and runs every test tier that can run on this machine, under Bun
# and Deno (and Node 24 for the tiers in node_tiers), printing each tier's
# duration and a closing "N passed, N failed, N skipped" line. Exits non-zero
# if anything failed.
#
#   static        deno lint and deno check (types) over the whole module
#   unit          pure functions, no Docker
#   tls           transport and certificates against real local TLS servers, openssl
#   docker        the runner against a real Docker engine (locally built images)
#   controlplane  client, apply, setup, waits against a real kube-apiserver (Go-built)
#   composition   k3s() end to end on the k3s-compatible test image
#   consumers     the npm pack tarball in fresh Bun, Node and Deno projects (tests/consumers/run.sh)
#   e2e           real rancher/k3s: opt-in with K3SBOX_E2E=1 (skipped here, with the reason)
#   testbed       go test of the k3s-compatible entry (testbed/shim)
#
# Run some tiers only: scripts/test.sh unit tls
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

tiers=("$@")
[ ${#tiers[@]} -eq 0 ] && tiers=(static unit tls docker controlplane composition consumers e2e testbed)
needs_testbed=false
for t in "${tiers[@]}"; do case "$t" in controlplane|composition|consumers) needs_testbed=true ;; esac; done

t0=$(date +%s)
if $needs_testbed; then
  env_lines="$(bash scripts/setup.sh --tests)" || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
  eval "export $(echo "$env_lines" | tr '\n' ' ')"
else
  bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi
echo "== setup: $(( $(date +%s) - t0 ))s"

bun="$root/node_modules/.bin/bun"
deno="$root/node_modules/.bin/deno"
node="$root/node_modules/.bin/node"
# Tiers also run under Node (node --test on the .ts sources, types stripped).
node_tiers=" unit tls docker controlplane composition "
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
passed=0 failed=0 skipped=0 status=0

# Adds a runner's own counts to the totals.
count_bun() {
  local p f s
  p=$(grep -E '^ *[0-9]+ pass$' "$1" | tail -1 | tr -dc 0-9); f=$(grep -E '^ *[0-9]+ fail$' "$1" | tail -1 | tr -dc 0-9)
  s=$(grep -E '^ *[0-9]+ skip$' "$1" | tail -1 | tr -dc 0-9)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
}
count_deno() {
  local line p ps f fs i
  line=$(sed 's/\x1b\[[0-9;]*m//g' "$1" | grep -E '^(ok|FAILED) \| ' | tail -1)
  p=$(echo "$line" | grep -oE '[0-9]+ passed' | tr -dc 0-9); ps=$(echo "$line" | grep -oE 'passed \([0-9]+ step' | tr -dc 0-9)
  f=$(echo "$line" | grep -oE '[0-9]+ failed' | tr -dc 0-9); fs=$(echo "$line" | grep -oE 'failed \([0-9]+ step' | tr -dc 0-9)
  i=$(echo "$line" | grep -oE '[0-9]+ ignored' | tr -dc 0-9)
  passed=$((passed + ${p:-0} + ${ps:-0})); failed=$((failed + ${f:-0} + ${fs:-0})); skipped=$((skipped + ${i:-0}))
}

count_node() {
  local p f s
  p=$(grep -E '^ℹ pass [0-9]+$' "$1" | tail -1 | tr -dc 0-9); f=$(grep -E '^ℹ fail [0-9]+$' "$1" | tail -1 | tr -dc 0-9)
  s=$(grep -E '^ℹ skipped [0-9]+$' "$1" | tail -1 | tr -dc 0-9)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
}

# Each "check ok:"/"check FAILED:" line of tests/consumers/run.sh is one check; its test
# commands' logs are counted by their runner's counter.
run_consumers_tier() {
  local start rc f
  start=$(date +%s)
  echo "== consumers"
  bash tests/consumers/run.sh "$logs/consumers" 2>&1 | tee "$logs/consumers.log"; rc=${PIPESTATUS[0]}
  passed=$((passed + $(grep -c '^check ok: ' "$logs/consumers.log"))); failed=$((failed + $(grep -c '^check FAILED: ' "$logs/consumers.log")))
  for f in "$logs"/consumers/test-*.log; do
    case "$f" in */test-bun*) count_bun "$f" ;; */test-node*) count_node "$f" ;; */test-deno*) count_deno "$f" ;; esac
  done
  if [ "$rc" != 0 ]; then status=1; grep -qE '^check FAILED: |^ *[1-9][0-9]* fail$|^ℹ fail [1-9]|^FAILED \| ' <(sed 's/\x1b\[[0-9;]*m//g' "$logs/consumers.log") || failed=$((failed + 1)); fi
  echo "== consumers: $(( $(date +%s) - start ))s, exit $rc"
}

run_go_tier() {
  local start rc p f
  start=$(date +%s)
  echo "== testbed (go test)"
  (cd testbed/shim && go test -v -count=1 ./...) 2>&1 | tee "$logs/testbed.log"; rc=${PIPESTATUS[0]}
  p=$(grep -cE '^\s*--- PASS' "$logs/testbed.log"); f=$(grep -cE '^\s*--- FAIL' "$logs/testbed.log")
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$rc" != 0 ]; then status=1; [ "$f" = 0 ] && failed=$((failed + 1)); fi
  echo "== testbed (go test): $(( $(date +%s) - start ))s, exit $rc"
}

# One check per command: counted as one passed or one failed test.
run_static_tier() {
  local start name
  start=$(date +%s)
  echo "== static"
  for name in lint check; do
    if [ $name = lint ]; then "$deno" lint; else "$deno" check mod.ts cli.ts bench/*.ts $(find tests -name '*.ts' -not -path 'tests/consumers/*'); fi
    if [ $? = 0 ]; then passed=$((passed + 1)); echo "static: deno $name ok"; else failed=$((failed + 1)); status=1; echo "static: deno $name FAILED"; fi
  done
  echo "== static: $(( $(date +%s) - start ))s"
}

run_tier() {
  local tier=$1 start rc
  [ "$tier" = testbed ] && { run_go_tier; return; }
  [ "$tier" = static ] && { run_static_tier; return; }
  [ "$tier" = consumers ] && { run_consumers_tier; return; }
  [ -d "tests/$tier" ] || { echo "no tier $tier"; failed=$((failed + 1)); status=1; return; }
  local runtimes=(bun deno)
  [[ "$node_tiers" == *" $tier "* ]] && runtimes+=(node)
  for rt in "${runtimes[@]}"; do
    start=$(date +%s)
    echo "== $tier ($rt)"
    if [ "$rt" = bun ]; then
      "$bun" test "tests/$tier" 2>&1 | tee "$logs/$tier-$rt.log"; rc=${PIPESTATUS[0]}
      count_bun "$logs/$tier-$rt.log"
    elif [ "$rt" = node ]; then
      NODE_OPTIONS="--experimental-transform-types --disable-warning=ExperimentalWarning" \
        "$node" --test --test-reporter=spec "tests/$tier/"*.test.ts 2>&1 | tee "$logs/$tier-$rt.log"; rc=${PIPESTATUS[0]}
      count_node "$logs/$tier-$rt.log"
    else
      "$deno" test -A --quiet "tests/$tier" 2>&1 | tee "$logs/$tier-$rt.log"; rc=${PIPESTATUS[0]}
      count_deno "$logs/$tier-$rt.log"
    fi
    if [ "$rc" != 0 ]; then
      status=1
      # A runner that died without reporting still counts as a failure.
      grep -qE '^ *[0-9]+ fail$|^(ok|FAILED) \| |^ℹ fail [0-9]+$' <(sed 's/\x1b\[[0-9;]*m//g' "$logs/$tier-$rt.log") || failed=$((failed + 1))
    fi
    echo "== $tier ($rt): $(( $(date +%s) - start ))s, exit $rc"
  done
}

for tier in "${tiers[@]}"; do run_tier "$tier"; done
echo "== total: $(( $(date +%s) - t0 ))s"
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
