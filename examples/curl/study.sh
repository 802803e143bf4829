#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Tuning: an Optuna study whose trials are ordinary training runs (on the training workers); wait
# for it, print its trials and best trial, then the history (and the importances once at least two
# trials completed). Prints the best model's id on stdout.
#
#   DATASET_ID=... [N_TRIALS=8] [PARALLELISM=2] [TIMESTEPS=10000] [SEED=7] bash examples/curl/study.sh
# Without DATASET_ID, datasets.sh creates the SPY sample first.
set -euo pipefail
HERE="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
export IDEMPOTENCY_PREFIX

N_TRIALS="${N_TRIALS:-8}"
PARALLELISM="${PARALLELISM:-2}"
TIMESTEPS="${TIMESTEPS:-10000}"
SEED="${SEED:-7}"
DATASET_ID="${DATASET_ID:-$(bash "$HERE/datasets.sh")}"

body=$(jq -n --arg ds "$DATASET_ID" --argjson n "$N_TRIALS" --argjson p "$PARALLELISM" \
  --argjson ts "$TIMESTEPS" --argjson seed "$SEED" \
  '{dataset_id: $ds, algorithm: "ppo", n_trials: $n, parallelism: $p, timesteps_per_trial: $ts,
    objective: {metric: "sharpe", direction: "maximize"}, seed: $seed, sampler: "tpe",
    pruner: "none", env: {window: 30},
    search_space: {learning_rate: {type: "float", low: 0.00001, high: 0.01, log: true},
                   n_steps: {type: "categorical", choices: [64, 128]}}}')
study_id=$(create /studies "$body" "study-$SEED" | jq -r .id)
log "study $study_id ($N_TRIALS trials, $PARALLELISM at once, $TIMESTEPS timesteps each)"
study=$(wait_for "/studies/$study_id")

api GET "/studies/$study_id/trials" \
  | jq -r '(["trial", "state", "value", "learning_rate", "n_steps"]),
           (.[] | [.number, .state, .value, .params.learning_rate, .params.n_steps]) | @tsv' \
  | column -t >&2
jq -c '{n_complete, best_trial}' <<<"$study" >&2
api GET "/studies/$study_id/history" | jq -c '.' >&2
if [[ $(jq -r .n_complete <<<"$study") -ge 2 ]]; then
  api GET "/studies/$study_id/importances" | jq -c '.' >&2
fi
jq -r .best_model_id <<<"$study"
