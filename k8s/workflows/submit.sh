#!/bin/sh
# Submit one API call through the gateway, then follow the resource it created until it ends.
#   submit.sh METHOD COLLECTION_PATH JSON_BODY      e.g. submit.sh POST /api/v1/runs '{"...": 1}'
# Env: TRADING_OPT_API_KEY (required), TRADEOPT_GATEWAY_URL (default http://gateway:8080),
#      IDEMPOTENCY_KEY (a retried pod returns the first result instead of a second job),
#      WAIT=true|false, POLL_SECONDS (5), TIMEOUT_SECONDS (86400).
# Exit: 0 succeeded (or created synchronously), 1 failed/canceled/timeout, 2 request rejected.
set -eu

method="$1"
collection="${2%/}"
body="$3"
base="${TRADEOPT_GATEWAY_URL:-http://gateway:8080}"
auth="Authorization: Bearer ${TRADING_OPT_API_KEY:?TRADING_OPT_API_KEY is not set}"
poll="${POLL_SECONDS:-5}"
timeout="${TIMEOUT_SECONDS:-86400}"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

log() { printf '%s workflow: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

code="$(curl -sS -o "$out" -w '%{http_code}' -X "$method" "${base}${collection}" \
  -H "$auth" -H "Content-Type: application/json" -H "Accept: application/json" \
  ${IDEMPOTENCY_KEY:+-H "Idempotency-Key: ${IDEMPOTENCY_KEY}"} \
  --data "$body")"
case "$code" in
  200|201) log "$method $collection -> $code"; cat "$out"; echo; exit 0 ;;
  202) ;;
  *) log "$method $collection -> $code"; cat "$out" >&2; echo >&2; exit 2 ;;
esac

id="$(jq -r '.id // empty' "$out")"
if [ -z "$id" ]; then
  log "202 without an id"; cat "$out" >&2; exit 2
fi
log "$method $collection -> 202, id=$id status=$(jq -r '.status // "?"' "$out")"
if [ "${WAIT:-true}" != "true" ]; then cat "$out"; echo; exit 0; fi

started="$(date +%s)"
last=""
while :; do
  code="$(curl -sS -o "$out" -w '%{http_code}' "${base}${collection}/${id}" -H "$auth" \
    -H "Accept: application/json" || echo 000)"
  if [ "$code" = 200 ]; then
    status="$(jq -r '.status // empty' "$out")"
    progress="$(jq -r '.progress // empty' "$out")"
    if [ "$status/$progress" != "$last" ]; then
      log "$id status=$status${progress:+ progress=$progress}"
      last="$status/$progress"
    fi
    case "$status" in
      succeeded|ready|completed) cat "$out"; echo; exit 0 ;;
      failed|canceled|cancelled|error) cat "$out" >&2; echo >&2; exit 1 ;;
    esac
  else
    log "GET ${collection}/${id} -> $code (retrying)"
  fi
  if [ $(( $(date +%s) - started )) -ge "$timeout" ]; then
    log "timed out after ${timeout}s"; exit 1
  fi
  sleep "$poll"
done
