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

body=$(run_body "$DATASET_ID" "$ALGORITHM" "$TIMESTEPS" "$SEED")
run=$(create /runs "$body" "run-$ALGORITHM-$SEED")
run_id=$(jq -r .id <<<"$run")
log "training run $run_id ($ALGORITHM, $TIMESTEPS timesteps, seed $SEED)"
run=$(wait_for "/runs/$run_id")
jq -c '{run: .id, model_id, metrics}' <<<"$run" >&2
jq -r .model_id <<<"$run"
