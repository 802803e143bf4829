#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Training: start a run on a dataset, follow it until it ends, print its model id on stdout.
#
#   DATASET_ID=... [ALGORITHM=ppo] [TIMESTEPS=20000] [SEED=0] bash examples/curl/train.sh
# Without DATASET_ID, datasets.sh creates the SPY sample first.
set -euo pipefail
HERE="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=lib.sh
source "$HERE/lib.sh"

ALGORITHM="${ALGORITHM:-ppo}"
TIMESTEPS="${TIMESTEPS:-20000}"
SEED="${SEED:-0}"
DATASET_ID="${DATASET_ID:-$(IDEMPOTENCY_PREFIX="$IDEMPOTENCY_PREFIX" bash "$HERE/datasets.sh")}"

body=$(jq -n --arg ds "$DATASET_ID" --arg algo "$ALGORITHM" --argjson ts "$TIMESTEPS" \
  --argjson seed "$SEED" \
  '{dataset_id: $ds, algorithm: $algo, total_timesteps: $ts, seed: $seed,
    env: {window: 30, cost_bps: 1.0, slippage_bps: 1.0, action_space: "discrete",
          fill: "next_open"},
    split: {train: 0.7, validation: 0.15, test: 0.15}}')
run=$(create /runs "$body" "run-$ALGORITHM-$SEED")
run_id=$(jq -r .id <<<"$run")
log "training run $run_id ($ALGORITHM, $TIMESTEPS timesteps, seed $SEED)"
run=$(wait_for "/runs/$run_id")
jq -c '{run: .id, model_id, metrics}' <<<"$run" >&2
jq -r .model_id <<<"$run"
