#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis that the tests talk to answer on 127.0.0.1:5432 / :6379,
# starting this machine's own servers when they are down. Idempotent; a no-op when both answer.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379

answers() {  # answers <port>: something accepts TCP connections on 127.0.0.1:<port>
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for() {  # wait_for <what> <command...>: up to 30 s
  local what=$1; shift
  for _ in $(seq 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "ensure-services: $what did not come up" >&2
  return 1
}

if ! answers "$PG_PORT"; then
  cluster="$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf "%f\n" | sort -V | tail -1)"
  echo "ensure-services: starting PostgreSQL $cluster/main"
  pg_ctlcluster --skip-systemctl-redirect "$cluster" main start
  wait_for PostgreSQL pg_isready -h "$PG_HOST" -p "$PG_PORT" -q
fi

if ! answers "$REDIS_PORT"; then
  echo "ensure-services: starting Redis on :$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /tmp --logfile /tmp/redis-tradeopt.log
  wait_for Redis answers "$REDIS_PORT"
fi
echo "ensure-services: PostgreSQL and Redis answer"
