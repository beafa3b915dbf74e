#!/usr/bin/env bash
# Sets up (npm packages, Docker engine) and runs the main job: `k3sbox smoke`.
# On a host without privileged Docker or image pulls it fails within seconds
# and says why.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
exec "$root/bin/k3sbox" smoke "$@"
