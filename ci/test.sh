#!/usr/bin/env bash
# Test stage (GitHub Actions and GitLab CI): the same steps as .ci/run once PostgreSQL and Redis
# (CI service containers) answer: install the venv, then the system tools, then `make test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash ci/wait-for-services.sh 90
make install
bash scripts/install-system-deps.sh
make test
