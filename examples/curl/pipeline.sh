#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The demo pipeline (examples/spy_ppo.yaml, without the study) through the gateway with curl + jq:
# dataset -> training runs (one per seed, in parallel) -> out-of-sample comparison with the
# baselines -> HTML report. Prints the comparison's evaluation id on stdout.
#
#   API=http://localhost:8080 TRADING_OPT_API_KEY=... bash examples/curl/pipeline.sh
#   TIMESTEPS=2000 SEEDS=0 OUT=/tmp/report.html bash examples/curl/pipeline.sh   # a quick one
#
# Needs a running fleet (`make dev` or docker compose) and a key with the `write` scope
# (`tradeopt keys create --name demo --scope write`). Every creating POST carries an
# Idempotency-Key derived from what it sends (lib.sh): re-running with the same inputs returns
# the same resources instead of training again.
set -euo pipefail
HERE="$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=lib.sh
source "$HERE/lib.sh"
export IDEMPOTENCY_PREFIX

TIMESTEPS="${TIMESTEPS:-20000}"
read -r -a SEEDS <<<"${SEEDS:-0 1}"  # one PPO run per seed
OUT="${OUT:-report.html}"

dataset_id=$(bash "$HERE/datasets.sh")

run_ids=()
for seed in "${SEEDS[@]}"; do
  # same body and key as train.sh's: a run train.sh started with these inputs is reused
  body=$(run_body "$dataset_id" ppo "$TIMESTEPS" "$seed")
  run_ids+=("$(create /runs "$body" "run-ppo-$seed" | jq -r .id)")
done

model_ids=()
for run_id in "${run_ids[@]}"; do
  log "training run $run_id"
  model_ids+=("$(wait_for "/runs/$run_id" | jq -r .model_id)")
done

compare=$(jq -n --arg ds "$dataset_id" '$ARGS.positional as $m |
  {dataset_id: $ds, model_ids: $m, split: "test",
   baselines: ["buy_and_hold", "flat", "sma_crossover", "momentum"]}' --args "${model_ids[@]}")
evaluation_id=$(create /evaluations/compare "$compare" pipeline-compare | jq -r .id)
log "evaluation $evaluation_id"
evaluation=$(wait_for "/evaluations/$evaluation_id")

jq -r '["subject", "total_return", "sharpe", "max_drawdown", "turnover"],
  (.comparison[] | [.subject, .total_return, .sharpe, .max_drawdown, .turnover])
  | @tsv' <<<"$evaluation" | column -t >&2
jq -r '"sharpe 95% CI of the first model: \(.sharpe_ci)"' <<<"$evaluation" >&2
api GET "/evaluations/$evaluation_id/report" >"$OUT"
log "report: $OUT"
echo "$evaluation_id"
