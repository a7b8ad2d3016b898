#!/usr/bin/env bash
# Marbelle load benchmark: seeds a store, starts the real binary on
# loopback and drives it with wrk; prints a table of requests per second,
# p99 latency and the ratio of each test to /healthz in the same run,
# against the targets of docs/performance.md.
#
#   scripts/bench/run.sh            # 20 s per test (about 6 minutes)
#   DURATION=5 scripts/bench/run.sh # a quick look
#
# Needs wrk (apt-get install wrk). Everything stays on 127.0.0.1 and every
# run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"

DURATION=${DURATION:-20}
PORT=${PORT:-18181}
URL="http://127.0.0.1:$PORT"
WORK=$(mktemp -d)
BIN="$WORK/marbelle"
S=scripts/bench
SECRET="bench-secret-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

echo "== build (stripped, as released; the run uses a -tags bench build, which adds bench-seed)"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$WORK/marbelle-release" .
BIN_MIB=$(awk -v b="$(stat -c %s "$WORK/marbelle-release")" 'BEGIN{printf "%.1f", b/1048576}')
echo "release binary: $BIN_MIB MiB"
CGO_ENABLED=0 go build -tags bench -trimpath -ldflags "-s -w" -o "$BIN" .

env_for() { # env_for DATA_DIR: the server's environment
  echo "MARBELLE_DATA_DIR=$1 MARBELLE_SECRET_KEY=$SECRET MARBELLE_ADDR=127.0.0.1:$PORT MARBELLE_RATE_LIMITS=off MARBELLE_DEV_SMTP_ADDR=off MARBELLE_LOG_LEVEL=warn"
}

start() { # start DATA_DIR: runs the server, waits for /readyz, sets PID and START_MS
  local t0; t0=$(date +%s%N)
  env $(env_for "$1") "$BIN" serve >"$WORK/server.out" 2>"$WORK/server.err" &
  PID=$!
  for _ in $(seq 2000); do
    if curl -fs -o /dev/null "$URL/readyz"; then
      START_MS=$(( ($(date +%s%N) - t0) / 1000000 )); return 0
    fi
    sleep 0.001
  done
  echo "server did not become ready" >&2; cat "$WORK/server.err" >&2; exit 1
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""; }
rss() { awk -v k="$2" '$1==k":" {printf "%.1f", $2/1024}' "/proc/$1/status"; } # rss PID VmRSS|VmHWM in MiB

echo "== seed: 1,000 users with 10 addresses (a cookie and a token session each), 60,000 with free slots"
SEED_OUT=$(env $(env_for "$WORK/data") "$BIN" bench-seed --readers 1000 --writers 60000 --out "$WORK/seed")
echo "$SEED_OUT"
HASH_MS=$(echo "$SEED_OUT" | sed -n 's/^hash_ms=\([0-9.]*\).*/\1/p')
HASH_RATE=$(echo "$SEED_OUT" | sed -n 's/^hash_rate=\([0-9.]*\).*/\1/p')
FSYNC_MS=$(echo "$SEED_OUT" | sed -n 's/^fsync_ms=\([0-9.]*\).*/\1/p')

start "$WORK/data"
sleep 2
IDLE_RSS=$(rss "$PID" VmRSS)
echo "idle RSS: $IDLE_RSS MiB"
# Sample the server's memory through the run: anonymous memory (heap,
# stacks) apart from file-backed pages (bbolt maps the store file; those
# pages are the page cache, which the kernel can drop).
( while kill -0 "$PID" 2>/dev/null; do
    awk '$1=="RssAnon:"{a=$2} $1=="RssFile:"{f=$2} $1=="VmRSS:"{r=$2} END{print a, f, r}' "/proc/$PID/status" 2>/dev/null
    sleep 0.2
  done > "$WORK/mem.txt" ) &

# wrk_run NAME C [wrk args…]: prints "rps p99ms"
wrk_run() {
  local c=$2; shift 2
  wrk -t2 -c"$c" -d"${DURATION}s" --latency "$@" > "$WORK/wrk.txt"
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.txt")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$WORK/wrk.txt")
  if grep -q "Non-2xx" "$WORK/wrk.txt"; then echo "warning: $(grep Non-2xx "$WORK/wrk.txt")" >&2; fi
  echo "$rps $p99"
}

declare -A RPS P99
for c in 16 64; do
  echo "== c=$c"
  read -r RPS[health$c] P99[health$c] < <(wrk_run health $c "$URL/healthz")
  read -r RPS[profile$c] P99[profile$c] < <(wrk_run profile $c -s $S/cookies.lua "$URL" -- /api/v1/auth/profile "$WORK/seed/readers.txt")
  read -r RPS[bearer$c] P99[bearer$c] < <(wrk_run bearer $c -s $S/bearer.lua "$URL" -- /api/v1/auth/profile "$WORK/seed/bearers.txt")
  # Forward auth, as a proxy asks it for each page it protects: the same
  # session read as a profile read, answered in headers.
  read -r RPS[forward$c] P99[forward$c] < <(wrk_run forward $c -s $S/cookies.lua "$URL" -- /api/v1/auth/forward "$WORK/seed/readers.txt")
  read -r RPS[list$c] P99[list$c] < <(wrk_run list $c -s $S/cookies.lua "$URL" -- /api/v1/auth/addresses "$WORK/seed/readers.txt")
  read -r RPS[create$c] P99[create$c] < <(wrk_run create $c -s $S/create.lua "$URL" -- "$WORK/seed/writers.txt")
done

echo "== login flood (c=64) with /healthz and profile probes"
# Probes pace themselves (probe.lua: a request every 10 ms per connection):
# they measure latency during the flood without adding a load of their own.
wrk -t1 -c2 -d"${DURATION}s" --latency -s $S/probe.lua "$URL" -- /healthz > "$WORK/probe-health.txt" &
P1=$!
wrk -t1 -c2 -d"${DURATION}s" --latency -s $S/probe.lua "$URL" -- /api/v1/auth/profile "$WORK/seed/readers.txt" > "$WORK/probe-profile.txt" &
P2=$!
read -r RPS[login64] P99[login64] < <(wrk_run login 64 -s $S/login.lua "$URL" -- "$WORK/seed/logins.txt")
# Only logins that succeeded count: a request that waited longer than the
# hashing bound got a quick 503, which wrk's rate would count as well.
LOGIN_FAILED=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$WORK/wrk.txt")
RPS[login64]=$(awk -v failed="${LOGIN_FAILED:-0}" '/requests in/ {n=$1; t=$4; sub(/s,?$/, "", t); printf "%.2f", (n-failed)/t}' "$WORK/wrk.txt")
echo "logins: ${RPS[login64]}/s answered 200 (${LOGIN_FAILED:-0} other answers)"
wait $P1 $P2
p99_of() { awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' "$1"; }
PROBE_HEALTH=$(p99_of "$WORK/probe-health.txt")
PROBE_PROFILE=$(p99_of "$WORK/probe-profile.txt")
PEAK_RSS=$(rss "$PID" VmHWM)
stop
read -r PEAK_ANON PEAK_FILE < <(awk '$1>a{a=$1} $2>f{f=$2} END{printf "%.1f %.1f\n", a/1024, f/1024}' "$WORK/mem.txt")

echo "== start-up on 100,000 users and 1,000,000 tokens"
env $(env_for "$WORK/big") "$BIN" bench-seed --readers 0 --writers 0 --extra 100000 --tokens 1000000 --out "$WORK/big-seed" | tail -1
go build -o "$WORK/startup" ./scripts/bench/startup
BIG_START_MS=$(env $(env_for "$WORK/big") "$WORK/startup" "$BIN" "$PORT")

CORES=$(nproc)
awk -v d="$(date -u +%Y-%m-%dT%H:%MZ)" -v cores="$CORES" -v cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
    -v h16="${RPS[health16]}" -v h64="${RPS[health64]}" -v hp="${P99[health16]}" \
    -v p16="${RPS[profile16]}" -v p64="${RPS[profile64]}" -v pp="${P99[profile16]}" \
    -v b16="${RPS[bearer16]}" -v b64="${RPS[bearer64]}" -v bp="${P99[bearer16]}" \
    -v f16="${RPS[forward16]}" -v f64="${RPS[forward64]}" -v fp="${P99[forward16]}" \
    -v l16="${RPS[list16]}" -v l64="${RPS[list64]}" -v lp="${P99[list16]}" \
    -v c16="${RPS[create16]}" -v c64="${RPS[create64]}" -v cp="${P99[create16]}" \
    -v g64="${RPS[login64]}" -v gp="${P99[login64]}" -v hash="$HASH_MS" \
    -v ph="$PROBE_HEALTH" -v pr="$PROBE_PROFILE" -v idle="$IDLE_RSS" -v peak="$PEAK_RSS" \
    -v start="$BIG_START_MS" -v bin="$BIN_MIB" -v anon="$PEAK_ANON" -v file="$PEAK_FILE" -v hrate="$HASH_RATE" -v fsync="${FSYNC_MS:-?}" '
function ok(x) { return x ? "yes" : "NO" }
BEGIN {
  printf "\nMarbelle load run, %s, %d cores (%s), wrk -t2 on the same machine, %s s per test\n\n", d, cores, cpu, ENVIRON["DURATION"] ? ENVIRON["DURATION"] : 20
  printf "| test | rps c=16 | rps c=64 | p99 ms c=16 | ratio c=16 | ratio c=64 | target | met |\n|---|---|---|---|---|---|---|---|\n"
  printf "| /healthz | %.0f | %.0f | %s | 1 | 1 | — | — |\n", h16, h64, hp
  printf "| profile read | %.0f | %.0f | %s | %.2f | %.2f | ≥ 0.5 | %s |\n", p16, p64, pp, p16/h16, p64/h64, ok(p16/h16>=0.5 && p64/h64>=0.5)
  printf "| profile read, bearer token | %.0f | %.0f | %s | %.2f | %.2f | ≥ 0.5 | %s |\n", b16, b64, bp, b16/h16, b64/h64, ok(b16/h16>=0.5 && b64/h64>=0.5)
  printf "| forward auth | %.0f | %.0f | %s | %.2f | %.2f | ≥ 0.5 | %s |\n", f16, f64, fp, f16/h16, f64/h64, ok(f16/h16>=0.5 && f64/h64>=0.5)
  printf "| list 10 addresses | %.0f | %.0f | %s | %.2f | %.2f | ≥ 0.4 | %s |\n", l16, l64, lp, l16/h16, l64/h64, ok(l16/h16>=0.4 && l64/h64>=0.4)
  printf "| create address (fsynced) | %.0f | %.0f | %s | %.2f | %.2f | ≥ 0.25 | %s |\n", c16, c64, cp, c16/h16, c64/h64, ok(c16/h16>=0.25 && c64/h64>=0.25)
  want = 0.9 * cores / (hash/1000)
  printf "| login (c=64) | — | %.1f | %s (c=64) | — | — | ≥ %.1f (90%% of %d cores ÷ %.0f ms) | %s |\n", g64, gp, want, cores, hash, ok(g64>=want)
  printf "\nBounds measured while seeding: %s hashes/s with all %d cores hashing at once (%.0f%% of cores ÷ hash time: the ceiling of the login test); a 4 KiB write and fsync %s ms (a commit makes two).\n", hrate, cores, 100*hrate/(cores/(hash/1000)), fsync
  printf "\n| during the login flood | p99 ms | target | met |\n|---|---|---|---|\n"
  printf "| /healthz probe | %s | < 100 | %s |\n| profile probe | %s | < 200 | %s |\n", ph, ok(ph<100), pr, ok(pr<200)
  printf "\n| resource | figure | target | met |\n|---|---|---|---|\n"
  printf "| idle RSS | %s MiB | ≤ 20 MiB | %s |\n| peak RSS over the run (VmHWM) | %s MiB | ≤ 150 MiB | %s |\n", idle, ok(idle<=20), peak, ok(peak<=150)
  printf "| of which: peak anonymous (heap, stacks) | %s MiB | | |\n| of which: peak file-backed (the mapped store file) | %s MiB | | |\n", anon, file
  printf "| start-up, exec to /readyz 200 (best of 3), 100,000 users + 1,000,000 tokens | %s ms | ≤ 100 ms | %s |\n", start, ok(start<=100)
  printf "| stripped binary | %s MiB | ≤ 25 MiB | %s |\n", bin, ok(bin<=25)
}'
