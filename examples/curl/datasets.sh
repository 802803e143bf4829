#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Datasets: create one (the bundled SPY sample, or upload a CSV), wait until it is ready, show its
# summary and first bars. Prints the dataset id on stdout (progress on stderr).
#
#   API=http://localhost:8080 TRADING_OPT_API_KEY=... bash examples/curl/datasets.sh
#   CSV=SPY.csv SYMBOL=SPY bash examples/curl/datasets.sh      # upload instead (multipart)
#   BAD_CSV=bad.csv bash examples/curl/datasets.sh             # also show a rejected upload's row report
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SYMBOL="${SYMBOL:-SPY}"

if [[ -n "${BAD_CSV:-}" ]]; then
  # A file that fails validation answers 422 problem+json with the offending rows and why.
  log "upload of $BAD_CSV (expected to be rejected):"
  report=$(curl "${CURL_OPTS[@]}" -H "Authorization: Bearer $KEY" \
    -H "Idempotency-Key: $({ sha256sum <"$BAD_CSV"; echo "$SYMBOL"; } | idempotency_key bad-upload)" \
    -F "file=@$BAD_CSV" -F "symbol=$SYMBOL" "$API_V1/datasets")
  # errors: [{row, line, symbol, column, value, problem}] (the first 50), counts per problem
  jq -r '"  \(.status) \(.title): \(.detail)",
         (.errors // [] | .[:10][]
           | "  - row \(.row // "-") line \(.line // "-") \(.column // ""): \(.problem) (\(.value))")' \
    <<<"$report" >&2
fi

if [[ -n "${CSV:-}" ]]; then
  log "dataset: upload $CSV ($SYMBOL)"
  out=$(curl "${CURL_OPTS[@]}" -H "Authorization: Bearer $KEY" \
    -H "Idempotency-Key: $({ sha256sum <"$CSV"; echo "$SYMBOL"; } | idempotency_key upload)" \
    -w '\n%{http_code}' \
    -F "file=@$CSV" -F "symbol=$SYMBOL" "$API_V1/datasets")
  status=${out##*$'\n'}
  dataset=${out%$'\n'*}
  if [[ $status -ge 400 ]]; then
    log "upload -> HTTP $status: $dataset"
    exit 22
  fi
else
  log "dataset: bundled $SYMBOL sample"
  dataset=$(create /datasets "$(jq -n --arg s "$SYMBOL" '{source: "sample", symbol: $s}')" dataset)
fi
dataset_id=$(jq -r .id <<<"$dataset")
dataset=$(wait_for "/datasets/$dataset_id")
jq -r '"  \(.name): \(.symbols | join(",")) \(.timeframe), \(.rows) rows, \(.start) .. \(.end)"' \
  <<<"$dataset" >&2

api GET "/datasets/$dataset_id/summary" \
  | jq -c '.symbols | map_values({rows, total_return, max_drawdown, missing_sessions: .gaps.missing_sessions})' >&2
api GET "/datasets/$dataset_id/bars?symbol=$SYMBOL&format=csv&start=2020-01-02&end=2020-01-08" >&2
echo "$dataset_id"
