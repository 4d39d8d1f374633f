#!/usr/bin/env bash
# Benchmark of the split deployment on Kafka on one machine: a tansu broker
# (memory engine), one collector and 1, 2, 3 ... store processes, loaded by
# spoor-loadgen over OTLP gRPC; and all-in-one with the same load, for what
# one store costs per span against it. Every process shares this machine's
# cores, so the figures that carry over are CPU per span, by process.
#
# In: release binaries (built here unless BENCH_SKIP_BUILD=1), the tansu
# broker (scripts/install-kafka-tools.sh), BENCH_* variables. Out: one line
# per run on stdout and in $BENCH_OUT/summary.txt: spans/s acknowledged to
# the load generator, spans/s through to the stores (first request until
# every span is durable on a store), CPU µs per span of the broker, the
# collector and the stores, peak RSS of each, the stores' whole data
# directories per span right after the run, and a 10 s series of the spans
# made durable on the stores; every log in $BENCH_OUT.
#
#   BENCH_SKIP_BUILD   1 = use the binaries as they are [0]
#   BENCH_SPOOR_BIN    [target/release/spoor]
#   BENCH_LOADGEN_BIN  [target/release/spoor-loadgen]
#   BENCH_TANSU_BIN    [what scripts/find-tansu.sh finds]
#   BENCH_STORES       store counts to run ["1 2 3"]
#   BENCH_SPANS        spans per run [1000000]
#   BENCH_PARTITIONS   partitions of the topic [6]
#   BENCH_CONCURRENCY  loadgen concurrency [16]
#   BENCH_ALL_IN_ONE   0 = skip the all-in-one run [1]
#   BENCH_DRAIN_SECONDS  longest wait for the stores to catch up [600]
#   BENCH_TAIL         1 = with tail sampling (errors kept, 10 % of the rest,
#                      decided 5 s after a trace's last span), on the stores
#                      and on all-in-one alike [0]
#   BENCH_OUT          logs and summary [fresh temp dir]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
BENCH_SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
BENCH_SPOOR_BIN=${BENCH_SPOOR_BIN:-target/release/spoor}
BENCH_LOADGEN_BIN=${BENCH_LOADGEN_BIN:-target/release/spoor-loadgen}
BENCH_STORES=${BENCH_STORES:-1 2 3}
BENCH_SPANS=${BENCH_SPANS:-1000000}
BENCH_PARTITIONS=${BENCH_PARTITIONS:-6}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-16}
BENCH_ALL_IN_ONE=${BENCH_ALL_IN_ONE:-1}
BENCH_DRAIN_SECONDS=${BENCH_DRAIN_SECONDS:-600}
BENCH_TAIL=${BENCH_TAIL:-0}
BENCH_OUT=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$BENCH_OUT"

if [ "$BENCH_SKIP_BUILD" != 1 ]; then
  cargo build --release -p spoor -p spoor-loadgen
fi
BENCH_TANSU_BIN=${BENCH_TANSU_BIN:-$(scripts/find-tansu.sh)}
for bin in "$BENCH_SPOOR_BIN" "$BENCH_LOADGEN_BIN" "$BENCH_TANSU_BIN"; do
  [ -x "$bin" ] || { echo "bench-split: $bin is not an executable" >&2; exit 1; }
done

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  pids=()
}
trap cleanup EXIT

# CPU seconds (user + system) of a process so far.
cpu_of() { awk '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / 100 }' "/proc/$1/stat"; }
# Peak resident set of a process, in MiB.
hwm_of() { awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

wait_http() {
  local url="$1" deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { echo "bench-split: $url never answered" >&2; exit 1; }
    sleep 0.2
  done
}

# Every span through on the stores: the sum of their kafka receivers'
# received spans (written durably, or with tail sampling decided and the
# kept ones written durably).
stored_spans() {
  local total=0 port n
  for port in "$@"; do
    n=$(curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null |
      awk '/^spoor_receiver_spans_received_total\{.*receiver="kafka"/ { s += $NF } END { printf "%d", s }')
    total=$((total + ${n:-0}))
  done
  echo "$total"
}

loadgen() {
  "$BENCH_LOADGEN_BIN" send --protocol otlp-grpc --endpoint "http://127.0.0.1:$1" \
    --concurrency "$BENCH_CONCURRENCY" --total-spans "$BENCH_SPANS" --report-every 10 >"$2" 2>&1
  grep '^RESULT' "$2" | sed 's/.*spans_per_sec=\([0-9.]*\).*/\1/'
}

summary="$BENCH_OUT/summary.txt"
: >"$summary"
report() { echo "$*" | tee -a "$summary"; }
report "# $(date -u +%FT%TZ) $(nproc) cores; spans per run $BENCH_SPANS; partitions $BENCH_PARTITIONS; loadgen otlp-grpc concurrency $BENCH_CONCURRENCY; tail sampling $BENCH_TAIL"

# The tail-sampling section both deployments read with BENCH_TAIL=1.
tail_yaml() {
  [ "$BENCH_TAIL" = 1 ] || return 0
  cat <<EOF
sampling:
  tail:
    decision_wait: 5s
    policies:
      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
      - {name: some, type: probabilistic, probabilistic: {sampling_percentage: 10}}
EOF
}

run_split() {
  local stores="$1" out="$BENCH_OUT/split-$1"
  mkdir -p "$out/broker"
  local port=$((29092 + stores))
  (cd "$out/broker" && exec "$BENCH_TANSU_BIN" broker --storage-engine memory://tansu/ \
    --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port") \
    >"$out/broker.log" 2>&1 &
  local broker=$!
  pids+=("$broker")
  sleep 1
  cat >"$out/spoor.yaml" <<EOF
kafka:
  brokers: "127.0.0.1:$port"
  topic: bench-$stores
  partitions: $BENCH_PARTITIONS
  group_id: bench-$stores
log_level: warn
EOF
  tail_yaml >>"$out/spoor.yaml"
  local i store_pids=() admin_ports=() query_ports=()
  for i in $(seq 1 "$stores"); do
    local q=$((27000 + i)) a=$((27100 + i))
    "$BENCH_SPOOR_BIN" --config "$out/spoor.yaml" --data-dir "$out/store-$i" --node-name "store-$i" \
      --query-http-addr "127.0.0.1:$q" --admin-addr "127.0.0.1:$a" store >"$out/store-$i.log" 2>&1 &
    store_pids+=($!)
    pids+=($!)
    admin_ports+=("$a")
    query_ports+=("$q")
  done
  "$BENCH_SPOOR_BIN" --config "$out/spoor.yaml" --node-name collector \
    --otlp-grpc-addr 127.0.0.1:27317 --otlp-http-addr 127.0.0.1:27318 --zipkin-addr 127.0.0.1:27411 \
    --admin-addr 127.0.0.1:27269 --sampling-http-addr 127.0.0.1:27778 --sampling-grpc-addr 127.0.0.1:27779 \
    --jaeger-grpc-addr 127.0.0.1:27250 --jaeger-thrift-http-addr 127.0.0.1:27268 \
    --agent-compact-addr 127.0.0.1:27831 --agent-binary-addr 127.0.0.1:27832 collector >"$out/collector.log" 2>&1 &
  local collector=$!
  pids+=("$collector")
  wait_http "http://127.0.0.1:27269/"
  for a in "${admin_ports[@]}"; do wait_http "http://127.0.0.1:$a/"; done
  # Every partition owned, every store owning some, and the assignment
  # unchanged for 3 s before the load starts: a partition that moves during
  # the load is read again from its last commit, which a test broker may get
  # wrong (tansu 0.6.0 skips the rest of a batch fetched from its middle).
  local deadline=$((SECONDS + 90)) last="" same=0
  while true; do
    local now="" complete=1 owned=0 q n
    for q in "${query_ports[@]}"; do
      n=$(curl -fsS "http://127.0.0.1:$q/internal/v1/partitions" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["assigned"]))')
      [ "$n" -gt 0 ] || complete=0
      owned=$((owned + n))
      now="$now $n"
    done
    if [ "$complete" = 1 ] && [ "$owned" -eq "$BENCH_PARTITIONS" ] && [ "$now" = "$last" ]; then
      same=$((same + 1))
    else
      same=0
    fi
    last="$now"
    [ "$same" -ge 6 ] && break
    [ $SECONDS -lt $deadline ] || { echo "bench-split: partitions never settled ($now)" >&2; exit 1; }
    sleep 0.5
  done
  local c_broker c_collector c_stores=0 p
  c_broker=$(cpu_of "$broker"); c_collector=$(cpu_of "$collector")
  for p in "${store_pids[@]}"; do c_stores=$(echo "$c_stores + $(cpu_of "$p")" | bc); done
  local started=$SECONDS acked
  # The 10 s series of spans durable on the stores.
  (
    while sleep 10; do
      echo "$((SECONDS - started)) $(stored_spans "${admin_ports[@]}")"
    done
  ) >"$out/series.txt" &
  local sampler=$!
  acked=$(loadgen 27317 "$out/send.txt")
  deadline=$((SECONDS + BENCH_DRAIN_SECONDS))
  until [ "$(stored_spans "${admin_ports[@]}")" -ge "$BENCH_SPANS" ]; do
    [ $SECONDS -lt $deadline ] || { echo "bench-split: stores did not catch up" >&2; break; }
    sleep 0.5
  done
  local elapsed=$((SECONDS - started))
  kill "$sampler" 2>/dev/null || true
  # Per 10 s window (full windows only): spans/s, and the lowest against the mean.
  local series
  series=$(awk 'BEGIN { prev = 0 } { printf "%d ", ($2 - prev) / 10; prev = $2 }' "$out/series.txt")
  local lowest
  lowest=$(echo "$series" | awk -v mean="$BENCH_SPANS" -v t="$elapsed" '{ min = -1; for (i = 1; i <= NF; i++) if ($i > 0 && (min < 0 || $i < min)) min = $i; if (min < 0) print "n/a"; else printf "%d%%", 100 * min / (mean / t) }')
  local bytes=0
  for i in $(seq 1 "$stores"); do bytes=$((bytes + $(du -sb "$out/store-$i" | cut -f1))); done
  local d_broker d_collector d_stores=0 hwm_stores=""
  d_broker=$(echo "$(cpu_of "$broker") - $c_broker" | bc)
  d_collector=$(echo "$(cpu_of "$collector") - $c_collector" | bc)
  for p in "${store_pids[@]}"; do
    d_stores=$(echo "$d_stores + $(cpu_of "$p")" | bc)
    hwm_stores="$hwm_stores$(hwm_of "$p")/"
  done
  d_stores=$(echo "$d_stores - $c_stores" | bc)
  local us="scale=1; 1000000 /"
  report "split stores=$stores acked_spans_per_s=$acked through_spans_per_s=$(echo "scale=0; $BENCH_SPANS / $elapsed" | bc) stored=$(stored_spans "${admin_ports[@]}") cpu_us_per_span broker=$(echo "$us $BENCH_SPANS * $d_broker" | bc) collector=$(echo "$us $BENCH_SPANS * $d_collector" | bc) stores=$(echo "$us $BENCH_SPANS * $d_stores" | bc) peak_rss_mib broker=$(hwm_of "$broker") collector=$(hwm_of "$collector") stores=${hwm_stores%/} store_bytes_per_span=$(echo "scale=1; $bytes / $BENCH_SPANS" | bc) through_10s_series=[${series% }] lowest_window_of_mean=$lowest"
  cleanup
  sleep 1
}

run_all_in_one() {
  local out="$BENCH_OUT/all-in-one"
  mkdir -p "$out"
  { echo "log_level: warn"; tail_yaml; } >"$out/spoor.yaml"
  "$BENCH_SPOOR_BIN" --config "$out/spoor.yaml" --data-dir "$out/data" --otlp-grpc-addr 127.0.0.1:27417 --otlp-http-addr 127.0.0.1:27418 \
    --zipkin-addr 127.0.0.1:27511 --query-http-addr 127.0.0.1:27686 --query-grpc-addr 127.0.0.1:27685 \
    --admin-addr 127.0.0.1:27369 --sampling-http-addr 127.0.0.1:27878 --sampling-grpc-addr 127.0.0.1:27879 \
    --jaeger-grpc-addr 127.0.0.1:27350 --jaeger-thrift-http-addr 127.0.0.1:27368 \
    --agent-compact-addr 127.0.0.1:27931 --agent-binary-addr 127.0.0.1:27932 >"$out/server.log" 2>&1 &
  local server=$!
  pids+=("$server")
  wait_http "http://127.0.0.1:27369/"
  local c0 acked
  c0=$(cpu_of "$server")
  acked=$(loadgen 27417 "$out/send.txt")
  local d
  d=$(echo "$(cpu_of "$server") - $c0" | bc)
  report "all-in-one acked_spans_per_s=$acked cpu_us_per_span=$(echo "scale=1; 1000000 / $BENCH_SPANS * $d" | bc) peak_rss_mib=$(hwm_of "$server")"
  cleanup
}

for stores in $BENCH_STORES; do
  run_split "$stores"
done
if [ "$BENCH_ALL_IN_ONE" = 1 ]; then
  run_all_in_one
fi
echo "logs: $BENCH_OUT"
