#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Jobs: every long operation is a job (DESIGN §4). Start a long run, look at its job, stream a
# few of its events (SSE), cancel it, and see that a second cancel is a 409 problem+json.
#
#   DATASET_ID=... bash examples/curl/jobs.sh
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DATASET_ID="${DATASET_ID:?set DATASET_ID (datasets.sh prints one)}"

body=$(jq -n --arg ds "$DATASET_ID" '{dataset_id: $ds, algorithm: "ppo", total_timesteps: 1000000}')
run=$(create /runs "$body" jobs-long-run)
run_id=$(jq -r .id <<<"$run")
job_id=$(jq -r .job_id <<<"$run")
log "run $run_id, job $job_id"
api GET "/jobs/$job_id" | jq -c '{id, kind, status, progress, attempts}' >&2
api GET "/jobs?limit=5" | jq -r '.items[] | "  \(.id) \(.kind) \(.status)"' >&2

# The live stream (Server-Sent Events) for a few seconds: status and progress events.
{ curl -sN --max-time 3 -H "Authorization: Bearer $KEY" "$API_V1/jobs/$job_id/events" || true; } \
  | sed -n 's/^data: //p' | jq -c '{status, progress, message}' >&2

api POST "/jobs/$job_id/cancel" | jq -c '{id, status}' >&2
while [[ $(api GET "/jobs/$job_id" | jq -r .status) != canceled ]]; do
  sleep "$POLL_SECONDS"
done
log "job $job_id canceled; cancelling again is a conflict:"
if api POST "/jobs/$job_id/cancel" >/dev/null 2>&1; then
  log "unexpected: the second cancel succeeded"
  exit 1
fi
curl "${CURL_OPTS[@]}" -X POST -H "Authorization: Bearer $KEY" "$API_V1/jobs/$job_id/cancel" \
  | jq -c '{status, title, detail}' >&2
api GET "/runs/$run_id" | jq -r .status
