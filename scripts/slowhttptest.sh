#!/usr/bin/env bash
# R-10 slow clients, with Debian's slowhttptest, against a server on 127.0.0.1.
# Not run in CI (it takes a few minutes); the Go test TestSlowClientsDoNotStarveOthers
# (e2e/limits_test.go) covers slow headers and slow bodies there.
#
#   bash scripts/slowhttptest.sh                       # builds and starts a throw-away server
#   bash scripts/slowhttptest.sh http://127.0.0.1:8080 # a server you started (MARBELLE_RATE_LIMITS
#                                                      # may stay on: only /healthz, / and login are hit)
#
# Three runs, one per mode of docs/security.md R-10, each DURATION seconds
# (default 60, as R-10 says; DURATION=20 for a quick look):
#   slow headers (-H, Slowloris)   1000 connections, a header line every 10 s, on /healthz
#   slow body    (-B, R-U-Dead-Yet) 500 connections, 8 KiB announced, on POST /api/v1/auth/login
#   slow read    (-X)               300 connections reading 32 bytes every 3 s, on /
# During each run a probe fetches /healthz every second on a new connection.
# Pass: every probe answers 200 in under 1 s; after each run (plus the
# server's WriteTimeout of 30 s for the slow readers to be cut) the server's
# open file descriptors are back within 10 of where they started (only
# checked when the server's PID is known: the throw-away server, or PID=...).
# Everything is bounded: slowhttptest by -l, the probe loop by the run, the
# fd wait by 60 s. Reports (HTML and CSV per mode) go to OUT (default a temp dir).
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
DURATION="${DURATION:-60}"
OUT="${OUT:-$(mktemp -d)}"
mkdir -p "$OUT"
ulimit -n 8192 2>/dev/null || true # 1000 connections need the descriptors
BASE="${1:-}"
PID="${PID:-}"

step() { printf '\n== %s\n' "$*"; }

if ! command -v slowhttptest >/dev/null 2>&1; then
  step "apt-get install -y slowhttptest"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slowhttptest </dev/null
fi

server_dir=""
cleanup() {
  if [ -n "$server_dir" ]; then
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    rm -rf "$server_dir"
  fi
}
trap cleanup EXIT

if [ -z "$BASE" ]; then
  server_dir="$(mktemp -d)"
  step "building and starting a throw-away server"
  go build -o "$server_dir/marbelle" .
  port=$(( 20000 + RANDOM % 20000 ))
  MARBELLE_DATA_DIR="$server_dir/data" MARBELLE_ADDR="127.0.0.1:$port" MARBELLE_DEV_SMTP_ADDR=off \
    MARBELLE_LOG_LEVEL=error "$server_dir/marbelle" serve >"$server_dir/out.log" 2>&1 &
  PID=$!
  BASE="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    curl -fs -o /dev/null "$BASE/readyz" && break
    sleep 0.1
  done
  curl -fs -o /dev/null "$BASE/readyz" || { cat "$server_dir/out.log"; echo "server did not start" >&2; exit 1; }
fi
case "$BASE" in
  http://127.*|http://localhost*|http://\[::1\]*) ;;
  *) echo "refusing $BASE: only loopback targets" >&2; exit 2 ;;
esac

fds() { ls "/proc/$PID/fd" 2>/dev/null | wc -l; }

failed=0
# run NAME ARGS...: one slowhttptest run with the probe loop beside it.
run() {
  local name="$1"; shift
  step "$name: slowhttptest $* -l $DURATION (reports in $OUT/$name.html)"
  local before=""
  [ -n "$PID" ] && before="$(fds)"
  slowhttptest "$@" -l "$DURATION" -g -o "$OUT/$name" >"$OUT/$name.log" 2>&1 &
  local sl=$!
  local probes=0 bad=0 slowest=0
  for _ in $(seq "$((DURATION + 10))"); do
    kill -0 "$sl" 2>/dev/null || break
    local r
    r="$(curl -s -o /dev/null --max-time 5 -w '%{http_code} %{time_total}' "$BASE/healthz" || echo "000 5")"
    probes=$((probes + 1))
    local code="${r% *}" t="${r#* }"
    slowest="$(awk -v a="$slowest" -v b="$t" 'BEGIN { print (b > a) ? b : a }')"
    if [ "$code" != 200 ] || awk -v t="$t" 'BEGIN { exit !(t >= 1) }'; then
      bad=$((bad + 1))
      echo "  probe: $code in ${t}s"
    fi
    sleep 1
  done
  kill "$sl" 2>/dev/null || true
  wait "$sl" 2>/dev/null || true
  echo "  $probes probes of /healthz, slowest ${slowest}s, $bad failed or took 1 s or more"
  sed 's/\x1b\[[0-9;]*m//g' "$OUT/$name.log" | grep -E "closed|pending|connected|service available" | tail -4 | sed 's/^/  /' || true
  [ "$bad" -eq 0 ] || failed=1
  [ "$probes" -ge 3 ] || { echo "  too few probes: slowhttptest ended early (see $OUT/$name.log)" >&2; failed=1; }
  if [ -n "$PID" ]; then
    local now
    for _ in $(seq 120); do
      now="$(fds)"
      [ "$now" -le "$((before + 10))" ] && break
      sleep 0.5
    done
    echo "  server fds: $before before, $now after"
    [ "$now" -le "$((before + 10))" ] || { echo "  fds did not come back within 60 s" >&2; failed=1; }
  fi
}

run sl_hdr  -H -c 1000 -r 200 -i 10 -u "$BASE/healthz"
run sl_body -B -c 500 -r 100 -i 10 -s 8192 -t POST -f application/json -u "$BASE/api/v1/auth/login"
run sl_read -X -c 300 -r 100 -w 512 -y 1024 -n 5 -z 32 -k 3 -u "$BASE/"

if [ "$failed" -ne 0 ]; then
  echo "FAIL (reports in $OUT)" >&2
  exit 1
fi
echo "ok (reports in $OUT)"
