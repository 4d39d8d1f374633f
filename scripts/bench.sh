#!/usr/bin/env bash
# Spoor benchmark: ingest throughput, resources, bytes on disk and query
# latency of the all-in-one server, measured with spoor-loadgen on loopback.
#
# In: the workspace (built here in release unless BENCH_SKIP_BUILD=1) and the
# BENCH_* variables below. Out: a summary table on stdout (each number with
# the exact command that produced it), the same in $BENCH_OUT/summary.txt,
# and every log in $BENCH_OUT (server log, loadgen output, CPU/RSS samples).
#
# Steps: build; decode floor (one core, prost); start `spoor` on a fresh data
# dir bound to 127.0.0.1; `loadgen send` at each concurrency level while the
# server's CPU (utime+stime from /proc/PID/stat) and RSS are sampled; wait for
# compaction to settle and measure bytes on disk per span, live and after a
# restart; optionally (BENCH_QUERY_SPANS>0) load that many more spans and run
# `loadgen query`. Everything is bounded in time; the server is stopped on exit.
#
# Variables (defaults in brackets):
#   BENCH_SKIP_BUILD      1 = use the binaries as they are [0]
#   BENCH_SPOOR_BIN       server binary [target/release/spoor]
#   BENCH_LOADGEN_BIN     load generator binary [target/release/spoor-loadgen]
#   BENCH_SPOOR_ARGS      server arguments after --data-dir DIR
#                         [all listeners on 127.0.0.1 at their default ports]
#   BENCH_DATA_DIR        data dir, must not exist or be empty [fresh temp dir]
#   BENCH_KEEP_DATA       1 = keep the data dir at the end [0]
#   BENCH_OUT             where logs and the summary go [fresh temp dir]
#   BENCH_PROTOCOL        the loadgen protocol: otlp-grpc | otlp-http | otlp-http-json |
#                         zipkin-json | zipkin-proto | jaeger-grpc | jaeger-thrift-http
#                         [otlp-grpc]; the default BENCH_SPOOR_ARGS bind every one of
#                         them on its standard port
#   BENCH_GZIP            1 = gzip bodies [0]
#   BENCH_CONCURRENCY     concurrency levels to try ["4 8 16"]
#   BENCH_SECONDS         seconds per level [20]
#   BENCH_BATCH           spans per request [500]
#   BENCH_SHAPE           extra loadgen shape flags ["--services 10 --operations 8 --spans-per-trace 10"]
#   BENCH_LOADGEN_THREADS loadgen runtime threads [all cores]
#   BENCH_FLOOR_SECONDS   decode-floor seconds [5]
#   BENCH_SETTLE_SECONDS  longest wait for the data dir size to settle [60]
#   BENCH_START_TIMEOUT   longest wait for the server's health endpoint [60]
#   BENCH_QUERY_SPANS     spans to load before the query run, 0 = skip [0]
#   BENCH_QUERY_LOOKUPS   trace-by-id lookups [500]
#   BENCH_QUERY_SEARCHES  searches per kind [100]
#   BENCH_QUERY_MAX_LOAD_SECONDS  longest load for the query store [3600]
#   BENCH_SUSTAINED_SPANS spans of the sustained run (the figure that counts),
#                         0 = skip [0]; run on a fresh data dir before the
#                         saturation runs, at BENCH_SUSTAINED_CONCURRENCY [16]
#   BENCH_SUSTAINED_IDLE_SECONDS  idle wait after the sustained load before the
#                         data dir and RSS are read again [300]
#   BENCH_SATURATION      0 = skip the short saturation runs [1]
# (No variable here starts with SPOOR_: the server rejects unknown SPOOR_* names.)
set -euo pipefail

cd "$(dirname "$0")/.."
for tool in curl du getconf timeout awk; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 2; }
done

BENCH_SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
BENCH_SPOOR_BIN=${BENCH_SPOOR_BIN:-target/release/spoor}
BENCH_LOADGEN_BIN=${BENCH_LOADGEN_BIN:-target/release/spoor-loadgen}
BENCH_SPOOR_ARGS=${BENCH_SPOOR_ARGS:---otlp-grpc-addr 127.0.0.1:4317 --otlp-http-addr 127.0.0.1:4318 --zipkin-addr 127.0.0.1:9411 --query-http-addr 127.0.0.1:16686 --admin-addr 127.0.0.1:14269 --query-grpc-addr 127.0.0.1:16685 --sampling-http-addr 127.0.0.1:5778 --sampling-grpc-addr 127.0.0.1:5779 --jaeger-grpc-addr 127.0.0.1:14250 --jaeger-thrift-http-addr 127.0.0.1:14268 --agent-compact-addr 127.0.0.1:6831 --agent-binary-addr 127.0.0.1:6832}
BENCH_KEEP_DATA=${BENCH_KEEP_DATA:-0}
BENCH_PROTOCOL=${BENCH_PROTOCOL:-otlp-grpc}
BENCH_GZIP=${BENCH_GZIP:-0}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-4 8 16}
BENCH_SECONDS=${BENCH_SECONDS:-20}
BENCH_BATCH=${BENCH_BATCH:-500}
BENCH_SHAPE=${BENCH_SHAPE:---services 10 --operations 8 --spans-per-trace 10}
BENCH_LOADGEN_THREADS=${BENCH_LOADGEN_THREADS:-}
BENCH_FLOOR_SECONDS=${BENCH_FLOOR_SECONDS:-5}
BENCH_SETTLE_SECONDS=${BENCH_SETTLE_SECONDS:-60}
BENCH_START_TIMEOUT=${BENCH_START_TIMEOUT:-60}
BENCH_QUERY_SPANS=${BENCH_QUERY_SPANS:-0}
BENCH_QUERY_LOOKUPS=${BENCH_QUERY_LOOKUPS:-500}
BENCH_QUERY_SEARCHES=${BENCH_QUERY_SEARCHES:-100}
BENCH_QUERY_MAX_LOAD_SECONDS=${BENCH_QUERY_MAX_LOAD_SECONDS:-3600}
BENCH_SUSTAINED_SPANS=${BENCH_SUSTAINED_SPANS:-0}
BENCH_SUSTAINED_CONCURRENCY=${BENCH_SUSTAINED_CONCURRENCY:-16}
BENCH_SUSTAINED_IDLE_SECONDS=${BENCH_SUSTAINED_IDLE_SECONDS:-300}
BENCH_SATURATION=${BENCH_SATURATION:-1}

HEALTH_URL=http://127.0.0.1:14269/
QUERY_URL=http://127.0.0.1:16686
BENCH_OUT=${BENCH_OUT:-$(mktemp -d -t spoor-bench-out.XXXXXX)}
mkdir -p "$BENCH_OUT"
if [[ -z "${BENCH_DATA_DIR:-}" ]]; then
  BENCH_DATA_DIR=$(mktemp -d -t spoor-bench-data.XXXXXX)
  MADE_DATA_DIR=1
else
  MADE_DATA_DIR=0
  if [[ -d "$BENCH_DATA_DIR" && -n "$(ls -A "$BENCH_DATA_DIR")" ]]; then
    echo "bench: BENCH_DATA_DIR $BENCH_DATA_DIR is not empty; refusing to measure on old data" >&2
    exit 2
  fi
  mkdir -p "$BENCH_DATA_DIR"
fi

CLK_TCK=$(getconf CLK_TCK)
SERVER_PID=""
SAMPLER_PID=""
SUMMARY=()      # "metric|value|command" rows
STATUS=0

log() { echo "bench: $*" >&2; }
row() { SUMMARY+=("$1|$2|$3"); }

# The value of key=... in a RESULT line.
field() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<"$1" | head -n1; }

# utime+stime ticks of a process.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# A line of /proc/PID/status in kB (VmHWM, VmRSS).
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

cleanup() {
  local rc=$?
  [[ -n "$SAMPLER_PID" ]] && kill "$SAMPLER_PID" 2>/dev/null || true
  stop_server || true
  if [[ "$BENCH_KEEP_DATA" != 1 && "$MADE_DATA_DIR" == 1 ]]; then
    rm -rf -- "$BENCH_DATA_DIR"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

healthy() { curl -fsS -o /dev/null --max-time 2 "$HEALTH_URL" 2>/dev/null; }

start_server() {
  if healthy; then
    log "something already answers on $HEALTH_URL; stop it first"
    return 1
  fi
  # shellcheck disable=SC2086 # BENCH_SPOOR_ARGS is a list of flags
  "$BENCH_SPOOR_BIN" --data-dir "$BENCH_DATA_DIR" $BENCH_SPOOR_ARGS >>"$BENCH_OUT/spoor.log" 2>&1 &
  SERVER_PID=$!
  local waited=0
  until healthy; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "the server exited during start-up; last lines of $BENCH_OUT/spoor.log:"
      tail -n 20 "$BENCH_OUT/spoor.log" >&2 || true
      SERVER_PID=""
      return 1
    fi
    if ((waited >= BENCH_START_TIMEOUT * 5)); then
      log "no answer on $HEALTH_URL after ${BENCH_START_TIMEOUT}s"
      stop_server
      return 1
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  log "server up (pid $SERVER_PID)"
}

stop_server() {
  [[ -z "$SERVER_PID" ]] && return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  local waited=0
  while kill -0 "$SERVER_PID" 2>/dev/null && ((waited < 300)); do
    sleep 0.2
    waited=$((waited + 1))
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    log "server did not stop in 60 s; killing it"
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# Samples the server once a second: time, CPU ticks, RSS kB (bounded by the
# server's life; killed by cleanup).
start_sampler() {
  local pid=$1
  (
    echo "unix_time cpu_ticks rss_kb"
    while kill -0 "$pid" 2>/dev/null; do
      echo "$(date +%s) $(cpu_ticks "$pid") $(status_kb "$pid" VmRSS)"
      sleep 1
    done
  ) >>"$BENCH_OUT/server-samples.txt" &
  SAMPLER_PID=$!
}

du_bytes() { du -sb "$BENCH_DATA_DIR" 2>/dev/null | cut -f1; }

# Waits until two readings 5 s apart differ by less than 1 %, at most
# BENCH_SETTLE_SECONDS; prints the last reading.
settle() {
  local prev cur waited=0
  prev=$(du_bytes)
  while ((waited < BENCH_SETTLE_SECONDS)); do
    sleep 5
    waited=$((waited + 5))
    cur=$(du_bytes)
    if ((prev > 0)) && (((cur > prev ? cur - prev : prev - cur) * 100 < prev)); then
      break
    fi
    prev=$cur
  done
  du_bytes
}

loadgen() {
  local threads=()
  [[ -n "$BENCH_LOADGEN_THREADS" ]] && threads=(--threads "$BENCH_LOADGEN_THREADS")
  "$BENCH_LOADGEN_BIN" "${threads[@]}" "$@"
}

gzip_flag=()
[[ "$BENCH_GZIP" == 1 ]] && gzip_flag=(--gzip)
LG=${BENCH_LOADGEN_BIN}
[[ -n "$BENCH_LOADGEN_THREADS" ]] && LG="$LG --threads $BENCH_LOADGEN_THREADS"

# ---- 1. build ---------------------------------------------------------------
SERVER_BUILT=1
if [[ "$BENCH_SKIP_BUILD" != 1 ]]; then
  log "building release binaries (cargo build --release -p spoor -p spoor-loadgen)"
  if ! cargo build --release -p spoor -p spoor-loadgen >"$BENCH_OUT/build.log" 2>&1; then
    log "the server does not build (see $BENCH_OUT/build.log); building the load generator alone"
    SERVER_BUILT=0
    cargo build --release -p spoor-loadgen >>"$BENCH_OUT/build.log" 2>&1
  fi
fi
[[ -x "$BENCH_LOADGEN_BIN" ]] || { log "no load generator at $BENCH_LOADGEN_BIN"; exit 2; }
[[ -x "$BENCH_SPOOR_BIN" ]] || SERVER_BUILT=0

cores=$(nproc)
row "machine" "$cores cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)" "nproc; /proc/meminfo"

# ---- 2. decode floor ----------------------------------------------------------
floor_cmd="$LG decode-floor --seconds $BENCH_FLOOR_SECONDS --batch-spans $BENCH_BATCH $BENCH_SHAPE ${gzip_flag[*]}"
floor_cmd=${floor_cmd% }
log "decode floor: $floor_cmd"
# shellcheck disable=SC2086
loadgen decode-floor --seconds "$BENCH_FLOOR_SECONDS" --batch-spans "$BENCH_BATCH" $BENCH_SHAPE "${gzip_flag[@]}" \
  | tee "$BENCH_OUT/decode-floor.txt" >&2
floor=$(grep '^RESULT decode-floor' "$BENCH_OUT/decode-floor.txt" || true)
row "decode floor (1 core, prost)" "$(field "$floor" decode_spans_per_sec) spans/s, $(field "$floor" decode_mb_per_sec) MB/s" "$floor_cmd"
row "loadgen generate+encode (1 core)" "$(field "$floor" generate_spans_per_sec) spans/s" "$floor_cmd"
row "payload size" "$(field "$floor" bytes_per_span) B/span protobuf, $(field "$floor" gzip_bytes_per_span) gzip" "$floor_cmd"

print_summary() {
  {
    echo
    echo "== Spoor benchmark summary ($(date -u +%Y-%m-%dT%H:%MZ), protocol $BENCH_PROTOCOL, batch $BENCH_BATCH) =="
    printf '%-36s | %-44s | %s\n' "metric" "value" "command"
    printf '%s\n' "$(printf '%.0s-' {1..140})"
    local r
    for r in "${SUMMARY[@]}"; do
      IFS='|' read -r m v c <<<"$r"
      printf '%-36s | %-44s | %s\n' "$m" "$v" "$c"
    done
    echo
    echo "server: $BENCH_SPOOR_BIN --data-dir DATA_DIR $BENCH_SPOOR_ARGS"
    echo "logs: $BENCH_OUT"
  } | tee "$BENCH_OUT/summary.txt"
}

if [[ "$SERVER_BUILT" != 1 ]]; then
  log "no server binary at $BENCH_SPOOR_BIN: only the decode floor was measured"
  print_summary
  exit 1
fi

# ---- 3. server + sustained run --------------------------------------------------------
start_server || { print_summary; exit 1; }
start_sampler "$SERVER_PID"

floor_rate=$(field "$floor" decode_spans_per_sec)
total_accepted=0
if ((BENCH_SUSTAINED_SPANS > 0)); then
  c=$BENCH_SUSTAINED_CONCURRENCY
  cmd="$LG send --protocol $BENCH_PROTOCOL --concurrency $c --total-spans $BENCH_SUSTAINED_SPANS --max-duration $BENCH_QUERY_MAX_LOAD_SECONDS --batch-spans $BENCH_BATCH $BENCH_SHAPE ${gzip_flag[*]} --report-every 10"
  cmd=${cmd% }
  log "sustained run: $cmd"
  t0=$(date +%s.%N)
  c0=$(cpu_ticks "$SERVER_PID")
  # shellcheck disable=SC2086
  timeout --signal=INT --kill-after=30 $((BENCH_QUERY_MAX_LOAD_SECONDS + 120)) \
    "$BENCH_LOADGEN_BIN" ${BENCH_LOADGEN_THREADS:+--threads "$BENCH_LOADGEN_THREADS"} send --protocol "$BENCH_PROTOCOL" \
    --concurrency "$c" --total-spans "$BENCH_SUSTAINED_SPANS" --max-duration "$BENCH_QUERY_MAX_LOAD_SECONDS" \
    --batch-spans "$BENCH_BATCH" $BENCH_SHAPE "${gzip_flag[@]}" --report-every 10 \
    2>&1 | tee "$BENCH_OUT/send-sustained.txt" >&2 || STATUS=1
  c1=$(cpu_ticks "$SERVER_PID")
  t1=$(date +%s.%N)
  line=$(grep '^RESULT send' "$BENCH_OUT/send-sustained.txt" || true)
  accepted=$(field "$line" spans_accepted)
  accepted=${accepted:-0}
  total_accepted=$accepted
  rate=$(field "$line" spans_per_sec)
  # The 10 s series: rate of every full window, their minimum against the mean.
  series=$(sed -n 's/.*| \([0-9]*\) spans\/s |.*/\1/p' "$BENCH_OUT/send-sustained.txt" | tr '\n' ' ')
  series_stats=$(awk -v m="${rate:-0}" '{ for (i = 1; i <= NF; i++) { n++; if (min == "" || $i < min) min = $i } }
    END { if (n == 0) { print "no windows"; exit } printf "%d windows, lowest %d (%.0f%% of the mean)", n, min, (m > 0 ? 100 * min / m : 0) }' <<<"$series")
  row "SUSTAINED ingest ($accepted spans)" "$rate spans/s mean; p99 $(field "$line" p99_ms) ms, max $(field "$line" max_ms) ms" "$cmd"
  row "  10 s series (spans/s)" "$series" "the loadgen's --report-every 10 lines"
  row "  10 s windows" "$series_stats" "the loadgen's --report-every 10 lines"
  row "  errors" "$(field "$line" requests_failed) failed, $(field "$line" retryable) retryable" "$cmd"
  if ((accepted > 0)); then
    row "  server CPU per span" "$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$accepted" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f us (%.2f cores)", d / hz / n * 1e6, d / hz / (t1 - t0) }')" "/proc/PID/stat utime+stime over the run"
    row "  fraction of the decode floor" "$(awk -v r="${rate:-0}" -v f="${floor_rate:-0}" 'BEGIN { if (f > 0) printf "%.0f%%", 100 * r / f; else print "n/a" }')" "sustained mean / decode floor (1 core)"
    end_bytes=$(du_bytes)
    row "  disk per span, end of load" "$(awk -v b="$end_bytes" -v n="$accepted" 'BEGIN { printf "%.1f B (%.1f MiB whole data dir)", b / n, b / 1048576 }')" "du -sb DATA_DIR"
  fi
  hwm=$(status_kb "$SERVER_PID" VmHWM)
  row "  server peak RSS (VmHWM)" "$((hwm / 1024)) MiB" "/proc/PID/status VmHWM"
  log "idle for ${BENCH_SUSTAINED_IDLE_SECONDS}s"
  sleep "$BENCH_SUSTAINED_IDLE_SECONDS"
  if ((accepted > 0)); then
    idle_bytes=$(du_bytes)
    row "  disk per span, ${BENCH_SUSTAINED_IDLE_SECONDS}s idle" "$(awk -v b="$idle_bytes" -v n="$accepted" 'BEGIN { printf "%.1f B (%.1f MiB whole data dir)", b / n, b / 1048576 }')" "du -sb DATA_DIR"
  fi
  row "  server RSS, idle" "$(($(status_kb "$SERVER_PID" VmRSS) / 1024)) MiB" "/proc/PID/status VmRSS"
fi

best_rate=0
best_line=""
best_cmd=""
best_c=""
[[ "$BENCH_SATURATION" == 1 ]] || BENCH_CONCURRENCY=""
for c in $BENCH_CONCURRENCY; do
  cmd="$LG send --protocol $BENCH_PROTOCOL --concurrency $c --duration $BENCH_SECONDS --batch-spans $BENCH_BATCH $BENCH_SHAPE ${gzip_flag[*]}"
  cmd=${cmd% }
  log "saturation run: $cmd"
  t0=$(date +%s.%N)
  c0=$(cpu_ticks "$SERVER_PID")
  # shellcheck disable=SC2086
  timeout --signal=INT --kill-after=30 $((BENCH_SECONDS + 120)) \
    "$BENCH_LOADGEN_BIN" ${BENCH_LOADGEN_THREADS:+--threads "$BENCH_LOADGEN_THREADS"} send --protocol "$BENCH_PROTOCOL" \
    --concurrency "$c" --duration "$BENCH_SECONDS" --batch-spans "$BENCH_BATCH" $BENCH_SHAPE "${gzip_flag[@]}" \
    --report-every 5 2>&1 | tee "$BENCH_OUT/send-c$c.txt" >&2 || STATUS=1
  c1=$(cpu_ticks "$SERVER_PID")
  t1=$(date +%s.%N)
  line=$(grep '^RESULT send' "$BENCH_OUT/send-c$c.txt" || true)
  if [[ -z "$line" ]]; then
    log "no result from the run at concurrency $c"
    STATUS=1
    continue
  fi
  rate=$(field "$line" spans_per_sec)
  server_cores=$(awk -v d=$((c1 - c0)) -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", d / hz / (t1 - t0) }')
  per_core=$(awk -v r="$rate" -v c="$server_cores" 'BEGIN { if (c > 0) printf "%.0f", r / c; else print "n/a" }')
  total_accepted=$((total_accepted + $(field "$line" spans_accepted)))
  row "send c=$c" "$rate spans/s, p50 $(field "$line" p50_ms) / p99 $(field "$line" p99_ms) ms" "$cmd"
  row "  server CPU / loadgen CPU (c=$c)" "$server_cores / $(field "$line" loadgen_cores) cores; $per_core spans/s per server core" "/proc/$SERVER_PID/stat utime+stime"
  fails="$(field "$line" requests_failed) failed, $(field "$line" retryable) retryable"
  row "  errors (c=$c)" "$fails" "$cmd"
  if awk -v a="$rate" -v b="$best_rate" 'BEGIN { exit !(a > b) }'; then
    best_rate=$rate
    best_line=$line
    best_cmd=$cmd
    best_c=$c
  fi
done
if [[ -n "$best_line" ]]; then
  row "BEST sustained ingest" "$best_rate spans/s at c=$best_c (p99 $(field "$best_line" p99_ms) ms, max $(field "$best_line" max_ms) ms)" "$best_cmd"
fi
hwm=$(status_kb "$SERVER_PID" VmHWM)
row "server peak RSS (VmHWM)" "$((hwm / 1024)) MiB" "/proc/$SERVER_PID/status VmHWM"

# ---- 4. bytes on disk ----------------------------------------------------------------
log "waiting up to ${BENCH_SETTLE_SECONDS}s for the data dir to settle"
live=$(settle)
row "spans stored (accepted)" "$total_accepted" "sum of spans_accepted above"
if ((total_accepted > 0)); then
  row "disk per span, live" "$(awk -v b="$live" -v n="$total_accepted" 'BEGIN { printf "%.1f B (%.1f MiB total)", b / n, b / 1048576 }')" "du -sb DATA_DIR after settling"
fi
log "restarting the server to measure the data dir at rest"
stop_server
kill "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
stopped=$(du_bytes)
start_server || { print_summary; exit 1; }
start_sampler "$SERVER_PID"
restarted=$(settle)
if ((total_accepted > 0)); then
  row "disk per span, after restart" "$(awk -v b="$restarted" -v n="$total_accepted" -v s="$stopped" 'BEGIN { printf "%.1f B (%.1f MiB total; %.1f MiB stopped)", b / n, b / 1048576, s / 1048576 }')" "du -sb DATA_DIR (stop, start, settle)"
fi

# ---- 5. query latency on a large store (optional) ------------------------------------------
if ((BENCH_QUERY_SPANS > 0)); then
  c=${best_c:-8}
  ids="$BENCH_OUT/trace-ids.txt"
  # Keep about 2000 ids at 10 spans per trace.
  sample=$((BENCH_QUERY_SPANS / 20000))
  ((sample < 1)) && sample=1
  cmd="$LG send --protocol $BENCH_PROTOCOL --concurrency $c --total-spans $BENCH_QUERY_SPANS --max-duration $BENCH_QUERY_MAX_LOAD_SECONDS --batch-spans $BENCH_BATCH $BENCH_SHAPE --ids-out $ids --ids-sample $sample"
  log "loading the query store: $cmd"
  # shellcheck disable=SC2086
  timeout --signal=INT --kill-after=30 $((BENCH_QUERY_MAX_LOAD_SECONDS + 120)) \
    "$BENCH_LOADGEN_BIN" ${BENCH_LOADGEN_THREADS:+--threads "$BENCH_LOADGEN_THREADS"} send --protocol "$BENCH_PROTOCOL" \
    --concurrency "$c" --total-spans "$BENCH_QUERY_SPANS" --max-duration "$BENCH_QUERY_MAX_LOAD_SECONDS" \
    --batch-spans "$BENCH_BATCH" $BENCH_SHAPE --ids-out "$ids" --ids-sample "$sample" --report-every 10 \
    2>&1 | tee "$BENCH_OUT/send-query-load.txt" >&2 || STATUS=1
  line=$(grep '^RESULT send' "$BENCH_OUT/send-query-load.txt" || true)
  loaded=$(field "$line" spans_accepted)
  total_accepted=$((total_accepted + ${loaded:-0}))
  row "query store load" "${loaded:-0} spans at $(field "$line" spans_per_sec) spans/s; $total_accepted stored" "$cmd"
  settle >/dev/null
  qcmd="$LG query --query-url $QUERY_URL --ids-file $ids --lookups $BENCH_QUERY_LOOKUPS --searches $BENCH_QUERY_SEARCHES"
  log "query run: $qcmd"
  timeout --signal=INT --kill-after=30 900 \
    "$BENCH_LOADGEN_BIN" query --query-url "$QUERY_URL" --ids-file "$ids" --lookups "$BENCH_QUERY_LOOKUPS" \
    --searches "$BENCH_QUERY_SEARCHES" --max-seconds 780 2>&1 | tee "$BENCH_OUT/query.txt" >&2 || STATUS=1
  while read -r qline; do
    row "query $(field "$qline" kind)" "p50 $(field "$qline" p50_ms) / p99 $(field "$qline" p99_ms) ms ($(field "$qline" runs) runs, $(field "$qline" errors) errors, $(field "$qline" mean_results) results)" "$qcmd"
  done < <(grep '^RESULT query' "$BENCH_OUT/query.txt" || true)
  hwm=$(status_kb "$SERVER_PID" VmHWM)
  row "server peak RSS during queries" "$((hwm / 1024)) MiB" "/proc/$SERVER_PID/status VmHWM"
  du_now=$(du_bytes)
  row "disk per span, query store" "$(awk -v b="$du_now" -v n="$total_accepted" 'BEGIN { printf "%.1f B (%.1f MiB total)", b / n, b / 1048576 }')" "du -sb DATA_DIR"
fi

print_summary
exit "$STATUS"
