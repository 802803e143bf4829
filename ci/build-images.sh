#!/usr/bin/env bash
# Build (and optionally push) every image of docker/images.mk: trading-optimization-<name>:<version>.
#   ci/build-images.sh --version V [--registry R] [--push] [--buildx-cache TYPE]
# Default: the docker daemon builds (`make images`), `--push` then runs `make images-push`
# (GitLab docker-in-docker, release jobs). With --buildx-cache (GitHub: gha), a buildx builder
# builds with a per-image cache scope and pushes every image as it is built, because service
# images build FROM the base image and a container builder only sees registries, never the
# daemon's images; so --registry is required then (a local registry on pull requests).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version="" registry="" push=0 cache=""
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --registry) registry="$2"; shift 2 ;;
    --push) push=1; shift ;;
    --buildx-cache) cache="$2"; shift 2 ;;
    *) echo "build-images.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$version" ] || { echo "build-images.sh: --version is required" >&2; exit 2; }
if [ -n "$registry" ]; then registry="${registry%/}/"; fi

if [ -n "$cache" ]; then
  [ -n "$registry" ] || { echo "build-images.sh: --buildx-cache needs --registry" >&2; exit 2; }
  make images REGISTRY="$registry" VERSION="$version" BUILD_CACHE="$cache" \
    DOCKER_BUILD="docker buildx build --push"
else
  make images REGISTRY="$registry" VERSION="$version"
  if [ "$push" = 1 ]; then
    [ -n "$registry" ] || { echo "build-images.sh: --push needs --registry" >&2; exit 2; }
    make images-push REGISTRY="$registry" VERSION="$version"
  fi
fi
make --no-print-directory images-list REGISTRY="$registry" VERSION="$version"
