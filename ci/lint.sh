#!/usr/bin/env bash
# Lint stage (GitHub Actions and GitLab CI): ruff (as `make lint`), yamllint (strict) on every YAML
# file, actionlint on the GitHub workflows (with shellcheck on their run: blocks when installed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

make lint
.venv/bin/yamllint --strict --config-file .yamllint.yml .
.venv/bin/actionlint -no-color .github/workflows/*.yml
