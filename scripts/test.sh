#!/usr/bin/env bash
# Sets up and runs every test tier that can run on this machine, under Bun
# and Deno (and Node 24 for the tiers in node_tiers), and ends with a closing
# "N passed, N failed, N skipped" line. Exits non-zero if anything failed.
#
# Jobs run side by side (K3SBOX_TEST_JOBS at a time, default 4): each test
# file of the Docker tiers under each runtime is a job, each other tier under
# each runtime is one, and static, consumers and testbed are one each. A job's
# output is printed whole when it ends, with its duration, CPU time and end
# time. Test files named *.alone.test.ts (they lower a host-wide limit for a
# moment) run before all others, with nothing beside them. Files named
# *.serial.test.ts run next, one at a time, beside only the jobs that leave
# no dead environment (consumers, static, testbed, unit, tls, controlplane): the ones that
# remove every dead environment on the daemon (prune, the sweep at start),
# and the fault tests, whose reports quote dockerd's answers (slow with a
# dozen clusters booting beside them). Every other job runs after them with
# the sweep at start off (K3SBOX_SWEEP=0), so a test may keep a dead
# environment to inspect it (cli-down, daemon-outage, dood-liveness) while
# other jobs start theirs. Tests keep to their own environments (labels of
# their process, definitions of their own), so jobs cannot disturb each other.
#
#   static        deno lint and deno check (types) over the whole module; the public API's JSDoc examples
#                 type-checked (deno check --doc), the Docker-free ones also run (deno test --doc)
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

# The Docker host's inotify limits. Every node's kubelet, containerd and API
# server take instances from one host-wide budget (default 128; a server with
# two agents takes about 35), and four jobs side by side, several of them
# multi-node, need more: at 128 a kubelet exits with "inotify_init: too many
# open files" (seen in CI). Raised to what kind recommends, as a user running
# clusters side by side would (`k3sbox doctor` advises it);
# tests/composition/host-limits.alone.test.ts reproduces the default's failure.
if $needs_testbed && [ -w /proc/sys/fs/inotify/max_user_instances ]; then
  for kv in max_user_instances=512 max_user_watches=524288; do
    f="/proc/sys/fs/inotify/${kv%%=*}"
    [ "$(cat "$f")" -lt "${kv#*=}" ] && { echo "== fs.inotify.${kv%%=*}: $(cat "$f") -> ${kv#*=} (clusters side by side)"; echo "${kv#*=}" >"$f"; }
  done
fi

bun="$root/node_modules/.bin/bun"
deno="$root/node_modules/.bin/deno"
node="$root/node_modules/.bin/node"
# Tiers also run under Node (node --test on the .ts sources, types stripped).
node_tiers=" unit tls docker controlplane composition "
runtimes_of() { if [[ "$node_tiers" == *" $1 "* ]]; then echo bun deno node; else echo bun deno; fi; }
# Tiers that start containers or control planes run as one job per test
# file and runtime; the others as one job per runtime.
per_file_tiers=" docker controlplane composition "
# Jobs run side by side, this many at a time: most of a test's time is spent
# waiting on Docker, kubelets and deadlines, not on the CPU. At 8, with the
# topology and image-cache suites, dockerd took seconds to answer (load 20+
# on 2 cores) and timing-bound checks failed; 4 keeps it answering.
max_jobs="${K3SBOX_TEST_JOBS:-4}"
logs="$(mktemp -d)"
docker29_started=false
dind_started=false
cleanup() {
  rm -rf "$logs"
  if $docker29_started; then bash testbed/docker29.sh stop 2>/dev/null; fi
  if $dind_started; then "$bun" tests/support/dind.ts stop 2>/dev/null; fi
}
trap cleanup EXIT
passed=0 failed=0 skipped=0 status=0
has_tier() { [[ " ${tiers[*]} " == *" $1 "* ]]; }

# The composition tier's containerd-image-store test runs on a second daemon,
# Docker 29 (testbed/docker29.sh), started here and stopped at exit.
if has_tier composition && [ -n "${K3SBOX_TESTBED_PARTS:-}" ]; then
  if store="$(bash testbed/docker29.sh start "$K3SBOX_TESTBED_PARTS" 2>"$logs/docker29.log")"; then
    docker29_started=true
    export K3SBOX_CONTAINERD_STORE_HOST="${store#DOCKER_HOST=}"
    echo "== Docker 29 with the containerd image store: $K3SBOX_CONTAINERD_STORE_HOST"
  else
    docker29_started=true # stop removes whatever the failed start left
    echo "== Docker 29 did not start:"; tail -n 20 "$logs/docker29.log"
    failed=$((failed + 1)); status=1
  fi
fi

# The tcp:// topology tests (tests/*/dind*.test.ts) share two Docker-in-Docker
# daemons, plain (:2375) and TLS (:2376), started here and removed at exit.
if has_tier docker || has_tier composition; then
  if dind_env="$("$bun" tests/support/dind.ts start 2>"$logs/dind.log")"; then
    dind_started=true
    eval "export $(echo "$dind_env" | tr '\n' ' ')"
    echo "== Docker-in-Docker for the tcp:// topology: $K3SBOX_DIND_HOST, $K3SBOX_DIND_TLS_HOST (TLS)"
  else
    dind_started=true # stop removes whatever the failed start left
    echo "== Docker-in-Docker did not start (the tcp:// tests start their own):"; tail -n 20 "$logs/dind.log"
  fi
fi

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
# K3SBOX_SWEEP=0: it runs beside the serial files, whose dead environments
# its starts would otherwise sweep (lib/runner/sweep.ts).
run_consumers_tier() {
  K3SBOX_SWEEP=0 bash tests/consumers/run.sh "$logs/consumers" >"$logs/consumers.log" 2>&1
}
count_consumers() {
  local f
  passed=$((passed + $(grep -c '^check ok: ' "$logs/consumers.log"))); failed=$((failed + $(grep -c '^check FAILED: ' "$logs/consumers.log")))
  for f in "$logs"/consumers/test-*.log; do
    case "$f" in */test-bun*) count_bun "$f" ;; */test-node*) count_node "$f" ;; */test-deno*) count_deno "$f" ;; esac
  done
  if [ "$(job_rc consumers)" != 0 ]; then status=1; grep -qE '^check FAILED: |^ *[1-9][0-9]* fail$|^ℹ fail [1-9]|^FAILED \| ' <(sed 's/\x1b\[[0-9;]*m//g' "$logs/consumers.log") || failed=$((failed + 1)); fi
}

run_testbed_tier() {
  (cd testbed/shim && go test -v -count=1 ./...) >"$logs/testbed.log" 2>&1
}
count_testbed() {
  local p f
  p=$(grep -cE '^\s*--- PASS' "$logs/testbed.log"); f=$(grep -cE '^\s*--- FAIL' "$logs/testbed.log")
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$(job_rc testbed)" != 0 ]; then status=1; [ "$f" = 0 ] && failed=$((failed + 1)); fi
}

# The modules whose JSDoc documents the public API: mod.ts, cli.ts and every
# module mod.ts re-exports from (Deno reads the code blocks of the files it
# is given only, not of their imports).
doc_modules() { echo mod.ts cli.ts; sed -nE 's#^.*from "\./([^"]+)";$#\1#p' mod.ts | grep -vx deps.ts | sort -u; }
# The documented modules whose examples run without Docker (pure functions,
# error classes of option checks, Recorder, wrap, certificates): `deno test
# --doc` runs them, with no permission beyond the one importing k3sbox needs,
# so an example that reached for Docker would fail. The other examples start
# clusters; Deno has no marker for "type-check but do not run" a code block,
# so they are type-checked only.
doc_test_modules=(cli.ts lib/provenance.ts lib/recorder.ts lib/service.ts lib/pki/ca.ts lib/pki/leaf.ts lib/k3s/options.ts lib/runner/validate.ts
  lib/kube/admission.ts lib/kube/describe.ts lib/kube/rollout-status.ts)

# One check per command: counted as one passed or one failed test.
run_static_tier() {
  local rc=0
  # Examples import "k3sbox", as users do; this map points it at mod.ts.
  printf '{ "imports": { "k3sbox": "%s/mod.ts" } }\n' "$root" >"$logs/doc-imports.json"
  { "$deno" lint && echo "static: deno lint ok" || { rc=1; echo "static: deno lint FAILED"; }
    # shellcheck disable=SC2046
    "$deno" check mod.ts cli.ts bench/*.ts $(find tests -name '*.ts' -not -path 'tests/consumers/*') && echo "static: deno check ok" || { rc=1; echo "static: deno check FAILED"; }
    # shellcheck disable=SC2046
    "$deno" check --import-map "$logs/doc-imports.json" --doc-only $(doc_modules) && echo "static: deno check --doc ok" || { rc=1; echo "static: deno check --doc FAILED"; }
    # --no-check: the line above type-checked these examples.
    "$deno" test --doc --no-check --allow-sys=hostname --import-map "$logs/doc-imports.json" "${doc_test_modules[@]}" && echo "static: deno test --doc ok" ||
      { rc=1; echo "static: deno test --doc FAILED"; }
  } >"$logs/static.log" 2>&1
  return $rc
}
count_static() {
  passed=$((passed + $(grep -cE '^static: deno [a-z -]+ ok$' "$logs/static.log")))
  failed=$((failed + $(grep -cE '^static: deno [a-z -]+ FAILED$' "$logs/static.log")))
  [ "$(job_rc static)" = 0 ] || status=1
}

# run_runtime <runtime> <files…>: one test runner over some test files.
run_runtime() {
  local rt=$1
  shift
  case "$rt" in
    bun) "$bun" test "${@/#/./}" ;;
    # --no-check: the static tier type-checks every file once, not once per job.
    deno) "$deno" test -A --quiet --no-check "$@" ;;
    # NODE_COMPILE_CACHE: Node caches the stripped and compiled .ts sources, for
    # the test files and for every child they start (CLI runs, watchdogs).
    node) NODE_COMPILE_CACHE="${HOME:-/tmp}/.cache/k3sbox/node-compile-cache" NODE_OPTIONS="--experimental-transform-types --disable-warning=ExperimentalWarning" \
      "$node" --test --test-reporter=spec "$@" ;;
  esac
}

# run_job <name> <runtime> <files…>: one job; its output goes to
# $logs/<name>.log and is printed whole when it ends (jobs run side by side).
# static, consumers and testbed are jobs of their own (runtime "-").
run_job() {
  local name=$1 rt=$2 start rc
  shift 2
  start=$(date +%s)
  case "$name" in
    static) run_static_tier ;;
    consumers) run_consumers_tier ;;
    testbed) run_testbed_tier ;;
    *) run_runtime "$rt" "$@" >"$logs/$name.log" 2>&1 ;;
  esac
  rc=$?
  echo "$rt $rc" >"$logs/$name.rc"
  # CPU seconds of the job and the processes it waited for (the CPUs are the limit when jobs run side by side).
  local cpu me=$BASHPID
  cpu="$(awk '{ printf "%.1f", ($14 + $15 + $16 + $17) / 100 }' "/proc/$me/stat" 2>/dev/null)"
  flock "$logs/print.lock" bash -c 'echo "== $1"; cat "$2"; echo "== $1: $3s (cpu ${5}s), exit $4, ended at +${6}s"' _ "$name" "$logs/$name.log" \
    "$(( $(date +%s) - start ))" "$rc" "${cpu:-?}" "$(( $(date +%s) - t0 ))"
}

job_rc() { cut -d' ' -f2 "$logs/$1.rc"; }

# count_job <name>: adds a finished job's counts to the totals.
count_job() {
  local name=$1 rt rc
  case "$name" in static|consumers|testbed) count_"$name"; return ;; esac
  read -r rt rc <"$logs/$name.rc"
  case "$rt" in bun) count_bun "$logs/$name.log" ;; deno) count_deno "$logs/$name.log" ;; node) count_node "$logs/$name.log" ;; esac
  if [ "$rc" != 0 ]; then
    status=1
    # A runner that died without reporting still counts as a failure.
    grep -qE '^ *[0-9]+ fail$|^(ok|FAILED) \| |^ℹ fail [0-9]+$' <(sed 's/\x1b\[[0-9;]*m//g' "$logs/$name.log") || failed=$((failed + 1))
  fi
}

# The jobs of the chosen tiers, one per line: "<name> <runtime> <files…>".
# Files named *.serial.test.ts are left out here: they run on their own (below).
list_jobs() {
  local tier rt f
  for tier in "${tiers[@]}"; do
    case "$tier" in static|consumers|testbed) continue ;; esac
    [ -d "tests/$tier" ] || continue
    for rt in $(runtimes_of "$tier"); do
      if [[ "$per_file_tiers" == *" $tier "* ]]; then
        for f in "tests/$tier/"*.test.ts; do
          [[ "$f" == *.serial.test.ts || "$f" == *.alone.test.ts ]] && continue
          echo "$tier-$(basename "$f" .test.ts)-$rt $rt $f"
        done
      else
        echo "$tier-$rt $rt $(ls "tests/$tier/"*.test.ts | grep -vE '\.(serial|alone)\.test\.ts$' | tr '\n' ' ')"
      fi
    done
  done
}

for tier in "${tiers[@]}"; do
  [ "$tier" = static ] || [ "$tier" = consumers ] || [ "$tier" = testbed ] || [ -d "tests/$tier" ] || { echo "no tier $tier"; failed=$((failed + 1)); status=1; }
done

# The jobs, "<name> <runtime> <files…>" per line, the longest first.
jobs_file="$logs/jobs"
{
  has_tier consumers && echo "consumers - -"
  list_jobs | sort -t' ' -k1,1 -s | awk '{ w = ($1 ~ /^composition-(real-node|containerd-store|multi-node|image-cache)/) ? 0 : ($1 ~ /^(docker-kill-cycle|controlplane-workflow|composition-)/) ? 1 : ($1 ~ /^docker-/) ? 2 : 3; print w, $0 }' | sort -n -s -k1,1 | cut -d' ' -f2-
  has_tier static && echo "static - -"
  has_tier testbed && echo "testbed - -"
} >"$jobs_file"
# Jobs that start no environment on the Docker daemon (the consumers tier
# packs and installs for its first minute, and its environments are all live;
# the controlplane tier runs its control planes as host processes).
no_dead_environments='^(consumers|static|testbed|unit-[a-z]+|tls-[a-z]+|controlplane-[a-z-]+) '

names=()
# launch <name> <runtime> <files…>: starts a job once fewer than max_jobs run.
launch() {
  while [ "$(jobs -rp | wc -l)" -ge "$max_jobs" ]; do wait -n; done
  names+=("$1")
  run_job "$@" &
}

# Before everything, with nothing beside them, the files that change
# something host-wide for a moment (*.alone.test.ts: the host's inotify limit).
for f in $(for tier in "${tiers[@]}"; do ls "tests/$tier/"*.alone.test.ts 2>/dev/null; done); do
  tier="$(basename "$(dirname "$f")")"
  for rt in $(runtimes_of "$tier"); do
    name="$tier-$(basename "$f" .test.ts)-$rt"
    ( run_job "$name" "$rt" "$f" )
    count_job "$name"
  done
done

# Then the light jobs, and beside them, in a lane of their own, one at a
# time, the files that must run with no other test file that leaves dead
# environments (*.serial.test.ts: prune removes every dead environment on the
# daemon). The lane is one more than K3SBOX_TEST_JOBS while it runs: the
# light jobs need little of Docker, and the serial files little of the CPUs.
serial_jobs=()
for f in $(for tier in "${tiers[@]}"; do ls "tests/$tier/"*.serial.test.ts 2>/dev/null; done); do
  tier="$(basename "$(dirname "$f")")"
  for rt in $(runtimes_of "$tier"); do serial_jobs+=("$tier-$(basename "$f" .test.ts)-$rt $rt $f"); done
done
(
  for job in "${serial_jobs[@]}"; do
    # shellcheck disable=SC2086
    ( run_job $job ) # a subshell of its own, as in the parallel phase: its CPU count is the job's
  done
) &
serial_lane=$!
for job in "${serial_jobs[@]}"; do names+=("${job%% *}"); done
max_jobs=$((max_jobs + 1))
while read -r name rt files; do
  # shellcheck disable=SC2086
  launch "$name" "$rt" $files
done < <(grep -E "$no_dead_environments" "$jobs_file")
wait "$serial_lane"
max_jobs=$((max_jobs - 1))

# Then every other job, side by side, with the sweep at start off: nothing
# that removes another process's dead environment runs from here on, so the
# tests that keep one to inspect it can run beside the others.
export K3SBOX_SWEEP=0
while read -r name rt files; do
  # shellcheck disable=SC2086
  launch "$name" "$rt" $files
done < <(grep -vE "$no_dead_environments" "$jobs_file")
wait
for name in "${names[@]}"; do count_job "$name"; done

# The failures again, at the end, where a reader of only the last lines
# (CI's report) sees them: each failed job's failing tests and their errors.
failure_digest() {
  local f name
  for f in "$logs"/*.rc; do
    [ -e "$f" ] || continue
    name="$(basename "$f" .rc)"
    [ "$(cut -d' ' -f2 "$f")" = 0 ] && continue
    echo "== failed: $name"
    # The failing tests' names and the first lines of each error (bun, deno and node spell them differently).
    sed 's/\x1b\[[0-9;]*m//g' "$logs/$name.log" \
      | grep -E -A3 '^\(fail\) |^ *✖ |FAILED|^check FAILED: |^ *(error: )?[A-Za-z]*Error( \[[A-Z_]+\])?: |\[ERROR\]: |^error\[' \
      | grep -vE '^ *(at |[0-9]+ \| |ℹ )|^\(pass\) |✔ | ok \(|^--$' | cut -c1-300 | tail -n 24
  done
}
digest="$(failure_digest)"
[ -n "$digest" ] && printf '== failures (again, in short)\n%s\n' "$(echo "$digest" | tail -n 140)"

echo "== total: $(( $(date +%s) - t0 ))s"
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
