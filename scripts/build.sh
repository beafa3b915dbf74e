#!/usr/bin/env bash
# Builds the npm package's runtime files from the TypeScript sources (the only
# source of truth): ES modules, .d.ts and source maps under dist/
# (tsconfig.build.json). Run by `npm pack`/`npm publish` (prepack) and by the
# test command's consumers tier.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rm -rf dist
node_modules/.bin/tsc -p tsconfig.build.json
chmod +x dist/bin/k3sbox.js
echo "build: dist/ ($(find dist -name '*.js' | wc -l) modules)" >&2
