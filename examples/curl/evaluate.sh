#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Evaluation: a model out of sample (test split) against buy-and-hold on the same bars and costs;
# prints the metrics side by side, saves the HTML report, prints the evaluation id on stdout.
#
#   MODEL_ID=... DATASET_ID=... [SPLIT=test] [OUT=report.html] bash examples/curl/evaluate.sh
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODEL_ID="${MODEL_ID:?set MODEL_ID (train.sh prints one)}"
DATASET_ID="${DATASET_ID:?set DATASET_ID (datasets.sh prints one)}"
SPLIT="${SPLIT:-test}"
OUT="${OUT:-report.html}"

body=$(jq -n --arg m "$MODEL_ID" --arg ds "$DATASET_ID" --arg split "$SPLIT" \
  '{model_id: $m, dataset_id: $ds, split: $split}')
evaluation_id=$(create /evaluations "$body" "evaluation-$MODEL_ID-$SPLIT" | jq -r .id)
log "evaluation $evaluation_id (model $MODEL_ID, $SPLIT split)"
evaluation=$(wait_for "/evaluations/$evaluation_id")

jq -r '["subject", "total_return", "sharpe", "max_drawdown", "n_trades"],
  (["model"] + ([.metrics.total_return, .metrics.sharpe, .metrics.max_drawdown, .metrics.n_trades])),
  (.benchmarks // {} | to_entries[] | select(.value.sharpe | type == "number")
    | [.key, .value.total_return, .value.sharpe, .value.max_drawdown, .value.n_trades])
  | @tsv' <<<"$evaluation" | column -t >&2
jq -r '"sharpe 95% CI: \(.sharpe_ci)",
  (.benchmarks.random // empty | "random policies (\(.seeds) seeds): sharpe \(.sharpe | tostring)")' \
  <<<"$evaluation" >&2
api GET "/evaluations/$evaluation_id/equity" | jq -r 'length | "equity points: \(.)"' >&2
api GET "/evaluations/$evaluation_id/report" >"$OUT"
log "report: $OUT"
echo "$evaluation_id"
