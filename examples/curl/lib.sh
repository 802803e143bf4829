#!/usr/bin/env bash
# Shared helpers of examples/curl/*.sh (sourced, not run): the gateway's API with curl + jq.
#
#   API                  gateway base URL (default http://localhost:8080)
#   TRADING_OPT_API_KEY  an API key; `write` scope for the scripts that create things
#   IDEMPOTENCY_PREFIX   prefix of the Idempotency-Key of every creating POST (default "curl").
#                        Each key ends with a digest of what the POST sends, and a POST repeated
#                        with the same key returns the first response: curl's retries (--retry:
#                        timeouts, 429, 5xx) never create twice, re-running a script with the same
#                        inputs returns what the first run created (keys are per API key), and a
#                        changed input creates anew. Another prefix starts over.
#   POLL_SECONDS         interval of wait_for (default 2)
# Progress goes to stderr; stdout carries only the results (ids, JSON), so scripts compose.

API_ROOT="${API:-http://localhost:8080}"
API_V1="$API_ROOT/api/v1"
KEY="${TRADING_OPT_API_KEY:?set TRADING_OPT_API_KEY to an API key (write scope to create)}"
IDEMPOTENCY_PREFIX="${IDEMPOTENCY_PREFIX:-curl}"
POLL_SECONDS="${POLL_SECONDS:-2}"
CURL_OPTS=(-sS --retry 3 --retry-delay 1 --connect-timeout 10)

log() { printf '%s\n' "$*" >&2; }

# idempotency_key NAME < CONTENT: "$IDEMPOTENCY_PREFIX-NAME-<16 hex digits of CONTENT's sha256>".
idempotency_key() { printf '%s-%s-%s' "$IDEMPOTENCY_PREFIX" "$1" "$(sha256sum | cut -c1-16)"; }

# request METHOD PATH [JSON [IDEMPOTENCY_NAME]]: prints the response body; on 4xx/5xx logs the
# problem+json to stderr and fails (status 22, like curl -f).
request() {
  local method=$1 path=$2 out status
  local args=("${CURL_OPTS[@]}" -X "$method" -H "Authorization: Bearer $KEY" -w '\n%{http_code}')
  if [[ $# -ge 3 ]]; then
    args+=(-H 'Content-Type: application/json' --data "$3")
  fi
  if [[ $# -ge 4 ]]; then
    args+=(-H "Idempotency-Key: $(idempotency_key "$4" <<<"$method $path $3")")
  fi
  out=$(curl "${args[@]}" "$API_V1$path")
  status=${out##*$'\n'}
  out=${out%$'\n'*}
  if [[ $status -ge 400 ]]; then
    log "$method $path -> HTTP $status: $out"
    return 22
  fi
  printf '%s' "$out"
}

# api METHOD PATH [JSON]: a call without an idempotency key (reads, cancel, ...).
api() { request "$@"; }

# create PATH JSON NAME: a creating POST whose Idempotency-Key is idempotency_key NAME of it.
create() { request POST "$1" "$2" "$3"; }

# wait_for PATH: polls until the resource is ready/succeeded (prints it) or failed/canceled (fails).
wait_for() {
  local path=$1 body status
  while true; do
    body=$(api GET "$path")
    status=$(jq -r .status <<<"$body")
    case "$status" in
      ready|succeeded) printf '%s' "$body"; return 0 ;;
      failed|canceled) log "$path $status: $(jq -c .error <<<"$body")"; return 1 ;;
    esac
    log "  $path $status $(jq -r '(.progress // 0) * 100 | floor' <<<"$body")%"
    sleep "$POLL_SECONDS"
  done
}

# run_body DATASET_ID ALGORITHM TIMESTEPS SEED: the JSON of a training run, the same for train.sh
# and pipeline.sh, so that (with the same IDEMPOTENCY_PREFIX) the pipeline reuses train.sh's run.
run_body() {
  jq -n --arg ds "$1" --arg algo "$2" --argjson ts "$3" --argjson seed "$4" \
    '{dataset_id: $ds, algorithm: $algo, total_timesteps: $ts, seed: $seed,
      env: {window: 30, cost_bps: 1.0, slippage_bps: 1.0, action_space: "discrete",
            fill: "next_open"},
      split: {train: 0.7, validation: 0.15, test: 0.15}}'
}
