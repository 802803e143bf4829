#!/usr/bin/env bash
# Node.js for CI images that have none (GitLab's python:3.11-bookworm test job; GitHub uses
# actions/setup-node): `make test` runs `npm ci` in web/ and tools/api and builds the dashboard,
# which needs Node >= 20.19 (Debian bookworm ships 18). Installs the official linux tarball of
# NODE_VERSION into /usr/local after checking it against the release's SHASUMS256.txt.
# Usage: NODE_VERSION=20.20.2 bash ci/install-node.sh   (a no-op when that major.minor is there)
set -euo pipefail

version="${NODE_VERSION:?NODE_VERSION (e.g. 20.20.2) is required}"
prefix="${NODE_PREFIX:-/usr/local}"

if command -v node >/dev/null && [[ "$(node --version)" == "v${version%.*}."* ]]; then
  echo "node $(node --version) already installed"
  exit 0
fi

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "install-node: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

name="node-v${version}-linux-${arch}.tar.xz"
base="https://nodejs.org/dist/v${version}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 -o "$work/$name" "$base/$name"
curl -fsSL --retry 3 -o "$work/SHASUMS256.txt" "$base/SHASUMS256.txt"
(cd "$work" && grep " ${name}\$" SHASUMS256.txt | sha256sum -c -)
tar -xJf "$work/$name" -C "$prefix" --strip-components=1 --no-same-owner
echo "installed node $(node --version), npm $(npm --version)"
