#!/usr/bin/env bash
# Wait until PostgreSQL and Redis accept TCP connections (CI service containers start in parallel
# with the job). Hosts/ports come from the same variables the tests read:
#   TRADEOPT_TEST_PG_ADMIN  postgresql://user[:pw]@HOST:PORT/db   (default 127.0.0.1:5432)
#   TRADEOPT_TEST_REDIS     redis://HOST:PORT/N                    (default 127.0.0.1:6379)
# No client tools needed (bash /dev/tcp). Usage: ci/wait-for-services.sh [timeout-seconds]
set -euo pipefail

timeout="${1:-60}"

# host:port of a URL like scheme://[user[:pw]@]host[:port][/path]
host_port() {
  local url="$1" default_port="$2" rest
  rest="${url#*://}"
  rest="${rest%%/*}"
  rest="${rest##*@}"
  if [[ "$rest" == *:* ]]; then echo "$rest"; else echo "$rest:$default_port"; fi
}

wait_for() {
  local name="$1" target="$2" host port
  host="${target%:*}"
  port="${target##*:}"
  for ((i = 0; i < timeout; i++)); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
      echo "wait-for-services: $name is up at $host:$port"
      return 0
    fi
    sleep 1
  done
  echo "wait-for-services: $name did not answer at $host:$port within ${timeout}s" >&2
  return 1
}

wait_for postgresql "$(host_port "${TRADEOPT_TEST_PG_ADMIN:-postgresql://postgres@127.0.0.1:5432/postgres}" 5432)"
wait_for redis "$(host_port "${TRADEOPT_TEST_REDIS:-redis://127.0.0.1:6379/15}" 6379)"
