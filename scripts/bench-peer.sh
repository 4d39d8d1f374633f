#!/usr/bin/env bash
# The sustained load of scripts/bench.sh against another tracing backend (a
# peer), so that Spoor and the peer are measured with the same generator, the
# same traffic and the same figures on the same machine.
#
# In: a peer the user built and names here (nothing is fetched or built by
# this script), the BENCH_* variables below. Out: a summary on stdout and in
# $BENCH_OUT/peer-summary.txt: spans/s mean and the 10 s series, server CPU
# per span, peak RSS, the whole data dir at the end of the load and after the
# idle wait, RSS when idle.
#
# Variables (defaults in brackets):
#   BENCH_PEER_NAME       a label for the summary [peer]
#   BENCH_PEER_CMD        the peer's start command, run with `bash -c` in the
#                         foreground with DATA_DIR and PORT exported, e.g.
#                         '/opt/peer/server -dataPath="$DATA_DIR" -listen=127.0.0.1:"$PORT"' (required)
#   BENCH_PEER_PORT       the port given to the peer [10428]
#   BENCH_PEER_READY_PATH a path that answers 200 once the peer is up [/metrics]
#   BENCH_PEER_INGEST_PATH  its OTLP/HTTP protobuf traces path [/v1/traces]
#   BENCH_LOADGEN_BIN     load generator [target/release/spoor-loadgen]
#   BENCH_SUSTAINED_SPANS spans to send [10000000]
#   BENCH_SUSTAINED_CONCURRENCY  concurrent requests [16]
#   BENCH_SUSTAINED_IDLE_SECONDS idle wait before the second reading [300]
#   BENCH_BATCH, BENCH_SHAPE, BENCH_LOADGEN_THREADS, BENCH_QUERY_MAX_LOAD_SECONDS
#                         as in scripts/bench.sh
#   BENCH_OUT             logs and summary [fresh temp dir]
set -euo pipefail

cd "$(dirname "$0")/.."
: "${BENCH_PEER_CMD:?set BENCH_PEER_CMD to the start command of the peer (see the header)}"
BENCH_PEER_NAME=${BENCH_PEER_NAME:-peer}
BENCH_PEER_PORT=${BENCH_PEER_PORT:-10428}
BENCH_PEER_READY_PATH=${BENCH_PEER_READY_PATH:-/metrics}
BENCH_PEER_INGEST_PATH=${BENCH_PEER_INGEST_PATH:-/v1/traces}
BENCH_LOADGEN_BIN=${BENCH_LOADGEN_BIN:-target/release/spoor-loadgen}
BENCH_SUSTAINED_SPANS=${BENCH_SUSTAINED_SPANS:-10000000}
BENCH_SUSTAINED_CONCURRENCY=${BENCH_SUSTAINED_CONCURRENCY:-16}
BENCH_SUSTAINED_IDLE_SECONDS=${BENCH_SUSTAINED_IDLE_SECONDS:-300}
BENCH_BATCH=${BENCH_BATCH:-500}
BENCH_SHAPE=${BENCH_SHAPE:---services 10 --operations 8 --spans-per-trace 10}
BENCH_QUERY_MAX_LOAD_SECONDS=${BENCH_QUERY_MAX_LOAD_SECONDS:-3600}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d -t spoor-bench-peer.XXXXXX)}
mkdir -p "$BENCH_OUT"
[[ -x "$BENCH_LOADGEN_BIN" ]] || { echo "bench-peer: no load generator at $BENCH_LOADGEN_BIN" >&2; exit 2; }

DATA_DIR=$(mktemp -d -t spoor-bench-peer-data.XXXXXX)
PORT=$BENCH_PEER_PORT
export DATA_DIR PORT
BASE=http://127.0.0.1:$PORT
CLK_TCK=$(getconf CLK_TCK)
PEER_PID=""
SAMPLER_PID=""
log() { echo "bench-peer: $*" >&2; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
field() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<"$1" | head -n1; }
du_bytes() { du -sb "$DATA_DIR" 2>/dev/null | cut -f1; }
cleanup() {
  local rc=$?
  [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null || true
  if [[ -n "$PEER_PID" ]]; then
    kill -TERM "$PEER_PID" 2>/dev/null || true
    wait "$PEER_PID" 2>/dev/null || true
  fi
  rm -rf -- "$DATA_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if curl -fsS -o /dev/null --max-time 2 "$BASE$BENCH_PEER_READY_PATH" 2>/dev/null; then
  log "something already answers on $BASE; stop it first"
  exit 2
fi
# exec, so that the pid sampled is the peer's own.
bash -c "exec $BENCH_PEER_CMD" >>"$BENCH_OUT/peer.log" 2>&1 &
PEER_PID=$!
for _ in $(seq 1 300); do
  curl -fsS -o /dev/null --max-time 2 "$BASE$BENCH_PEER_READY_PATH" 2>/dev/null && break
  kill -0 "$PEER_PID" 2>/dev/null || { log "the peer exited; see $BENCH_OUT/peer.log"; PEER_PID=""; exit 1; }
  sleep 0.2
done
(
  echo "unix_time cpu_ticks rss_kb"
  while kill -0 "$PEER_PID" 2>/dev/null; do
    echo "$(date +%s) $(cpu_ticks "$PEER_PID") $(status_kb "$PEER_PID" VmRSS)"
    sleep 1
  done
) >"$BENCH_OUT/peer-samples.txt" &
SAMPLER_PID=$!

url=$BASE$BENCH_PEER_INGEST_PATH
cmd="$BENCH_LOADGEN_BIN send --protocol otlp-http --endpoint $url --concurrency $BENCH_SUSTAINED_CONCURRENCY --total-spans $BENCH_SUSTAINED_SPANS --max-duration $BENCH_QUERY_MAX_LOAD_SECONDS --batch-spans $BENCH_BATCH $BENCH_SHAPE --report-every 10"
log "sustained run: $cmd"
t0=$(date +%s.%N)
c0=$(cpu_ticks "$PEER_PID")
# shellcheck disable=SC2086 # BENCH_SHAPE is a list of flags
timeout --signal=INT --kill-after=30 $((BENCH_QUERY_MAX_LOAD_SECONDS + 120)) \
  "$BENCH_LOADGEN_BIN" ${BENCH_LOADGEN_THREADS:+--threads "$BENCH_LOADGEN_THREADS"} send --protocol otlp-http \
  --endpoint "$url" --concurrency "$BENCH_SUSTAINED_CONCURRENCY" --total-spans "$BENCH_SUSTAINED_SPANS" \
  --max-duration "$BENCH_QUERY_MAX_LOAD_SECONDS" --batch-spans "$BENCH_BATCH" $BENCH_SHAPE --report-every 10 \
  2>&1 | tee "$BENCH_OUT/peer-send.txt" >&2 || true
c1=$(cpu_ticks "$PEER_PID")
t1=$(date +%s.%N)
line=$(grep '^RESULT send' "$BENCH_OUT/peer-send.txt" || true)
accepted=$(field "$line" spans_accepted)
accepted=${accepted:-0}
rate=$(field "$line" spans_per_sec)
series=$(sed -n 's/.*| \([0-9]*\) spans\/s |.*/\1/p' "$BENCH_OUT/peer-send.txt" | tr '\n' ' ')
end_bytes=$(du_bytes)
hwm=$(status_kb "$PEER_PID" VmHWM)
log "idle for ${BENCH_SUSTAINED_IDLE_SECONDS}s"
sleep "$BENCH_SUSTAINED_IDLE_SECONDS"
idle_bytes=$(du_bytes)
idle_rss=$(status_kb "$PEER_PID" VmRSS)
per_span() { awk -v b="$1" -v n="$accepted" 'BEGIN { if (n > 0) printf "%.1f B (%.1f MiB whole data dir)", b / n, b / 1048576; else print "n/a" }'; }
{
  echo "== $BENCH_PEER_NAME under the loadgen's sustained load ($(date -u +%Y-%m-%dT%H:%MZ)) =="
  echo "command: $cmd"
  echo "peer: $BENCH_PEER_CMD"
  echo "SUSTAINED ingest ($accepted spans): $rate spans/s mean; p99 $(field "$line" p99_ms) ms, max $(field "$line" max_ms) ms; $(field "$line" requests_failed) failed"
  echo "  10 s series (spans/s): $series"
  echo "  server CPU per span: $(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$accepted" -v t0="$t0" -v t1="$t1" 'BEGIN { if (n > 0) printf "%.1f us (%.2f cores)", d / hz / n * 1e6, d / hz / (t1 - t0); else print "n/a" }')"
  echo "  disk per span, end of load: $(per_span "$end_bytes")"
  echo "  disk per span, ${BENCH_SUSTAINED_IDLE_SECONDS}s idle: $(per_span "$idle_bytes")"
  echo "  server peak RSS (VmHWM): $((hwm / 1024)) MiB; RSS idle: $((idle_rss / 1024)) MiB"
} | tee "$BENCH_OUT/peer-summary.txt"
