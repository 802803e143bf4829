#!/usr/bin/env bash
# The demo pipeline (examples/spy_ppo.yaml, without the study) through the gateway with curl + jq:
# dataset -> training runs (two seeds) -> out-of-sample comparison with the baselines -> report.
#
#   API=http://localhost:8080 TRADING_OPT_API_KEY=... bash examples/curl_pipeline.sh
#
# Needs a running fleet (`make dev` or docker compose) and a key with the `write` scope
# (`tradeopt keys create --name demo --scope write`).
set -euo pipefail

API="${API:-http://localhost:8080}/api/v1"
KEY="${TRADING_OPT_API_KEY:?set TRADING_OPT_API_KEY to an API key with the write scope}"
TIMESTEPS="${TIMESTEPS:-20000}"
OUT="${OUT:-report.html}"

call() {  # call METHOD PATH [JSON]
  local method=$1 path=$2
  if [[ $# -ge 3 ]]; then
    curl -fsS -X "$method" -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
      --data "$3" "$API$path"
  else
    curl -fsS -X "$method" -H "Authorization: Bearer $KEY" "$API$path"
  fi
}

wait_for() {  # wait_for PATH -> prints the final resource; fails unless ready/succeeded
  local path=$1 body status
  while true; do
    body=$(call GET "$path")
    status=$(jq -r .status <<<"$body")
    case "$status" in
      ready|succeeded) echo "$body"; return 0 ;;
      failed|canceled) echo "$path $status: $(jq -r .error <<<"$body")" >&2; return 1 ;;
    esac
    printf '  %s %s %s\n' "$path" "$status" "$(jq -r '(.progress // 0) * 100 | floor' <<<"$body")%" >&2
    sleep 2
  done
}

echo "dataset: SPY sample" >&2
dataset=$(call POST /datasets '{"source": "sample", "symbol": "SPY"}')
dataset_id=$(jq -r .id <<<"$dataset")
wait_for "/datasets/$dataset_id" >/dev/null

env_json='{"window": 30, "cost_bps": 1.0, "slippage_bps": 1.0, "action_space": "discrete",
  "fill": "next_open"}'
run_ids=()
for seed in 0 1; do
  body=$(jq -n --arg ds "$dataset_id" --argjson seed "$seed" --argjson ts "$TIMESTEPS" \
    --argjson env "$env_json" \
    '{dataset_id: $ds, algorithm: "ppo", total_timesteps: $ts, seed: $seed, env: $env,
      split: {train: 0.7, validation: 0.15, test: 0.15}}')
  run_ids+=("$(call POST /runs "$body" | jq -r .id)")
done

model_ids=()
for run_id in "${run_ids[@]}"; do
  echo "training run $run_id" >&2
  model_ids+=("$(wait_for "/runs/$run_id" | jq -r .model_id)")
done

compare=$(jq -n --arg ds "$dataset_id" '$ARGS.positional as $m |
  {dataset_id: $ds, model_ids: $m, split: "test",
   baselines: ["buy_and_hold", "flat", "sma_crossover", "momentum"]}' --args "${model_ids[@]}")
evaluation_id=$(call POST /evaluations/compare "$compare" | jq -r .id)
echo "evaluation $evaluation_id" >&2
evaluation=$(wait_for "/evaluations/$evaluation_id")

jq -r '["subject", "total_return", "sharpe", "max_drawdown", "turnover"],
  (.comparison[] | [.subject, .total_return, .sharpe, .max_drawdown, .turnover])
  | @tsv' <<<"$evaluation" | column -t
jq -r '"sharpe 95% CI of the first model: \(.sharpe_ci)"' <<<"$evaluation"
call GET "/evaluations/$evaluation_id/report" >"$OUT"
echo "report: $OUT" >&2
