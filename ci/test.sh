#!/usr/bin/env bash
# Test stage (GitHub Actions and GitLab CI): the same command as .ci/run once PostgreSQL and Redis
# (CI service containers) answer: `make test` installs the venv and the system tools itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash ci/wait-for-services.sh 90
make test
