#!/bin/sh
# Entrypoint of every service image (run under tini). The first argument picks a role; any other
# command is exec'd unchanged, so compose `command:` / k8s `args:` can spell out the full command.
#   api | worker | beat | migrate | storage-init | <any command>
# The default worker consumes its service queue and `maintenance` (the reaper runs there: an image
# started with just `worker` still recovers lost jobs). TRADEOPT_WORKER_QUEUES overrides both.
set -eu

svc="${TRADEOPT_SERVICE:?TRADEOPT_SERVICE is not set}"
port="${TRADEOPT_PORT:-8001}"
level="${TRADING_OPT_LOG_LEVEL:-INFO}"

role="${1:-api}"
[ "$#" -gt 0 ] && shift

case "$role" in
  api)
    exec uvicorn "tradeopt_${svc}.app:create_app" --factory --host 0.0.0.0 --port "$port" "$@" ;;
  worker)
    exec celery -A "tradeopt_${svc}.worker:celery_app" worker \
      -Q "${TRADEOPT_WORKER_QUEUES:-$svc,maintenance}" --pool="${TRADEOPT_WORKER_POOL:-threads}" --concurrency="${TRADEOPT_WORKER_CONCURRENCY:-2}" \
      --loglevel="$level" "$@" ;;
  beat)
    exec celery -A tradeopt_common.jobs.beat:celery_app beat \
      --schedule /tmp/celerybeat-schedule --loglevel="$level" "$@" ;;
  migrate)
    exec python -m tradeopt_common.db.upgrade "$@" ;;
  storage-init)
    exec python -m tradeopt_common.storage.init "$@" ;;
  *)
    exec "$role" "$@" ;;
esac
