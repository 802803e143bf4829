#!/usr/bin/env bash
# Print the image version for this CI run: the tag without its leading "v" on a release tag
# (v1.2.3 -> 1.2.3), else "sha-<short commit>". Reads GitHub's and GitLab's variables.
set -euo pipefail

tag="${CI_COMMIT_TAG:-}"
if [ -z "$tag" ] && [ "${GITHUB_REF_TYPE:-}" = tag ]; then tag="${GITHUB_REF_NAME:-}"; fi
if [ -n "$tag" ]; then
  version="${tag#v}"
  if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z][0-9A-Za-z.-]*)?$ ]]; then
    echo "version.sh: tag '$tag' is not vX.Y.Z[-pre]" >&2
    exit 2
  fi
  echo "$version"
else
  sha="${CI_COMMIT_SHA:-${GITHUB_SHA:-$(git rev-parse HEAD)}}"
  echo "sha-${sha:0:7}"
fi
