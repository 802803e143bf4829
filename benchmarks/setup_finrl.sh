#!/usr/bin/env bash
# Create the FinRL benchmark folder (.bench/finrl) used by benchmarks/bench_env.py.
# FinRL goes in without its (heavy) dependencies; only what env_stocktrading.py imports and the
# main venv lacks (matplotlib and its small deps) is added next to it. Nothing touches .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${1:-.bench/finrl}"
PIP="${PIP:-.venv/bin/pip}"
mkdir -p "$TARGET"
"$PIP" install --quiet --no-deps --target "$TARGET" \
  finrl==0.3.7 matplotlib==3.11.2 contourpy==1.3.3 cycler==0.12.1 fonttools==4.68.0 \
  kiwisolver==1.5.1
echo "FinRL benchmark folder ready: $TARGET"
