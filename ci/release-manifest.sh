#!/usr/bin/env bash
# Render the k8s overlay (default prod) with every image pinned to REGISTRY/...:VERSION into OUT,
# the release asset. One implementation: scripts/deploy.sh --render.
#   ci/release-manifest.sh VERSION REGISTRY OUT [OVERLAY]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ $# -lt 3 ]; then
  echo "usage: ci/release-manifest.sh VERSION REGISTRY OUT [OVERLAY]" >&2
  exit 2
fi
bash scripts/deploy.sh --target k8s --version "$1" --registry "$2" --overlay "${4:-prod}" --render >"$3"
echo "release-manifest: $(grep -c '^kind:' "$3") objects -> $3"
