#!/usr/bin/env bash
# Webhooks (issue 17): what emitting events costs requests. Address create
# and profile patch (each emits one event, inside its commit) with no
# endpoint, one endpoint that answers at once, and one dead endpoint (its
# port refuses), each on a fresh copy of one seeded store.
#
#   scripts/bench/webhooks.sh             # 20 s per test
#   DURATION=5 scripts/bench/webhooks.sh  # a quick look
#
# Needs wrk. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"

DURATION=${DURATION:-20}
C=${C:-16}
PORT=${PORT:-18182}
HOOK_PORT=${HOOK_PORT:-18183}
URL="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
S=scripts/bench
SECRET="bench-secret-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PID="" RPID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; [ -n "$RPID" ] && kill "$RPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

CGO_ENABLED=0 go build -tags bench -trimpath -o "$WORK/marbelle" .
go build -o "$WORK/hookreceiver" ./$S/hookreceiver
env_for() { echo "MARBELLE_DATA_DIR=$1 MARBELLE_SECRET_KEY=$SECRET MARBELLE_ADDR=127.0.0.1:$PORT MARBELLE_RATE_LIMITS=off MARBELLE_DEV_SMTP_ADDR=off MARBELLE_LOG_LEVEL=error"; }
env $(env_for "$WORK/seeded") "$WORK/marbelle" bench-seed --readers 1000 --writers 20000 --out "$WORK/seed" >/dev/null
"$WORK/hookreceiver" "127.0.0.1:$HOOK_PORT" & RPID=$!

wrk_rps() { # prints "rps p99ms"
  wrk -t2 -c"$C" -d"${DURATION}s" --latency "$@" > "$WORK/wrk.txt"
  awk '/Requests\/sec/ {r=$2} $1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; p=v} END {print r, p}' "$WORK/wrk.txt"
}

printf "| endpoint | create rps | create p99 ms | patch rps | patch p99 ms | events received |\n|---|---|---|---|---|---|\n"
for mode in none live dead; do
  rm -rf "$WORK/data" && cp -r "$WORK/seeded" "$WORK/data"
  case $mode in
    live) env $(env_for "$WORK/data") "$WORK/marbelle" webhook add --url "http://127.0.0.1:$HOOK_PORT/" --event '*' >/dev/null 2>&1 ;;
    dead) env $(env_for "$WORK/data") "$WORK/marbelle" webhook add --url "http://127.0.0.1:1/" --event '*' >/dev/null 2>&1 ;;
  esac
  before=$(curl -s "http://127.0.0.1:$HOOK_PORT/count")
  env $(env_for "$WORK/data") "$WORK/marbelle" serve >/dev/null 2>"$WORK/server.err" & PID=$!
  for _ in $(seq 2000); do curl -fs -o /dev/null "$URL/readyz" && break; sleep 0.005; done
  read -r CR CP < <(wrk_rps -s $S/create.lua "$URL" -- "$WORK/seed/writers.txt")
  read -r PR PP < <(wrk_rps -s $S/patch.lua "$URL" -- "$WORK/seed/readers.txt")
  sleep 1
  after=$(curl -s "http://127.0.0.1:$HOOK_PORT/count")
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  printf "| %s | %.0f | %s | %.0f | %s | %d |\n" "$mode" "$CR" "$CP" "$PR" "$PP" "$((after - before))"
done
