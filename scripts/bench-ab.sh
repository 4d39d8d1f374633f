#!/usr/bin/env bash
# Ingest throughput of two server configurations, measured in alternation so
# that drift of the machine hits both alike (analytics on against off, tail
# sampling on against off, ...).
#
# In: two Spoor config files (YAML, as `spoor --config` takes) and the AB_*
# variables below; release binaries built beforehand (`cargo build --release
# -p spoor -p spoor-loadgen`). Out: one line per round and a summary with the
# mean spans/s and peak RSS of each configuration, and the relative cost of B
# against A, and bytes per span of the whole data dir right after each load
# (the write-ahead log still holding what was not flushed); logs in $AB_OUT.
#
# Usage: scripts/bench-ab.sh A.yaml B.yaml
#   AB_ROUNDS       rounds (each runs A then B on a fresh data dir) [3]
#   AB_SECONDS      seconds of load per run [15]
#   AB_CONCURRENCY  loadgen concurrency [16]
#   AB_BATCH        spans per request [500]
#   AB_PROTOCOL     loadgen protocol [otlp-grpc]
#   AB_SEND_ARGS    extra loadgen flags (e.g. "--rate 20000"; "--endpoint URL" with
#                   other ports) [""]
#   AB_SPOOR_ARGS   server flags after --data-dir and --config [every listener on
#                   127.0.0.1 at its default port]
#   AB_ADMIN_ADDR   the admin listener those flags give, for the health check
#                   [127.0.0.1:14269]
#   AB_SPOOR_BIN    server binary [target/release/spoor]
#   AB_LOADGEN_BIN  load generator [target/release/spoor-loadgen]
#   AB_OUT          where logs go [fresh temp dir]
set -euo pipefail

[[ $# -eq 2 ]] || { sed -n '2,27p' "$0" >&2; exit 2; }
CONFIG_A=$1
CONFIG_B=$2
AB_ROUNDS=${AB_ROUNDS:-3}
AB_SECONDS=${AB_SECONDS:-15}
AB_CONCURRENCY=${AB_CONCURRENCY:-16}
AB_BATCH=${AB_BATCH:-500}
AB_PROTOCOL=${AB_PROTOCOL:-otlp-grpc}
AB_SEND_ARGS=${AB_SEND_ARGS:-}
AB_SPOOR_BIN=${AB_SPOOR_BIN:-target/release/spoor}
AB_LOADGEN_BIN=${AB_LOADGEN_BIN:-target/release/spoor-loadgen}
AB_OUT=${AB_OUT:-$(mktemp -d -t spoor-ab.XXXXXX)}
mkdir -p "$AB_OUT"

ADDRS=${AB_SPOOR_ARGS:-"--otlp-grpc-addr 127.0.0.1:4317 --otlp-http-addr 127.0.0.1:4318 --zipkin-addr 127.0.0.1:9411 \
--query-http-addr 127.0.0.1:16686 --admin-addr 127.0.0.1:14269 --query-grpc-addr 127.0.0.1:16685 \
--sampling-http-addr 127.0.0.1:5778 --sampling-grpc-addr 127.0.0.1:5779 --jaeger-grpc-addr 127.0.0.1:14250 \
--jaeger-thrift-http-addr 127.0.0.1:14268 --agent-compact-addr 127.0.0.1:6831 --agent-binary-addr 127.0.0.1:6832"}
HEALTH_URL=http://${AB_ADMIN_ADDR:-127.0.0.1:14269}/
SERVER_PID=""

field() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<"$1" | head -n1; }
hwm_kb() { awk '$1 == "VmHWM:" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
healthy() { curl -fsS -o /dev/null --max-time 2 "$HEALTH_URL" 2>/dev/null; }

stop_server() {
  [[ -z "$SERVER_PID" ]] && return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap stop_server EXIT

# run NAME CONFIG ROUND: one run on a fresh data dir; prints "spans/s rss_kb
# bytes_per_span" (the data dir read the moment the load ends).
run() {
  local name=$1 config=$2 round=$3 data
  data=$(mktemp -d -t spoor-ab-data.XXXXXX)
  if healthy; then echo "something already answers on $HEALTH_URL" >&2; exit 1; fi
  # shellcheck disable=SC2086 # ADDRS is a list of flags
  "$AB_SPOOR_BIN" --data-dir "$data" --config "$config" $ADDRS >"$AB_OUT/$name-$round.log" 2>&1 &
  SERVER_PID=$!
  until healthy; do
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$AB_OUT/$name-$round.log" >&2; exit 1; }
    sleep 0.2
  done
  local line rss bytes spans
  # shellcheck disable=SC2086 # AB_SEND_ARGS is a list of flags
  line=$("$AB_LOADGEN_BIN" send --protocol "$AB_PROTOCOL" --concurrency "$AB_CONCURRENCY" \
    --batch-spans "$AB_BATCH" --duration "$AB_SECONDS" $AB_SEND_ARGS 2>"$AB_OUT/$name-$round.send.err" |
    tee "$AB_OUT/$name-$round.send.txt" | grep '^RESULT send' || true)
  rss=$(hwm_kb "$SERVER_PID")
  bytes=$(du -sb "$data" | awk '{ print $1 }')
  spans=$(field "$line" spans_accepted)
  curl -fsS --max-time 5 "${HEALTH_URL}metrics" >"$AB_OUT/$name-$round.metrics.txt" 2>/dev/null || true
  stop_server
  rm -rf -- "$data"
  awk -v r="$(field "$line" spans_per_sec)" -v k="$rss" -v b="$bytes" -v s="${spans:-0}" \
    'BEGIN { printf "%s %s %.1f\n", r, k, (s > 0 ? b / s : 0) }'
}

declare -a A_RATES B_RATES A_RSS B_RSS A_BYTES B_BYTES
for ((round = 1; round <= AB_ROUNDS; round++)); do
  read -r rate rss per_span < <(run A "$CONFIG_A" "$round")
  A_RATES+=("$rate"); A_RSS+=("$rss"); A_BYTES+=("$per_span")
  echo "round $round A ($CONFIG_A): $rate spans/s, peak RSS $((rss / 1024)) MiB, $per_span B/span at the end"
  read -r rate rss per_span < <(run B "$CONFIG_B" "$round")
  B_RATES+=("$rate"); B_RSS+=("$rss"); B_BYTES+=("$per_span")
  echo "round $round B ($CONFIG_B): $rate spans/s, peak RSS $((rss / 1024)) MiB, $per_span B/span at the end"
done

mean() { printf '%s\n' "$@" | awk '{ s += $1; n++ } END { if (n) printf "%.0f", s / n; else print 0 }'; }
mean1() { printf '%s\n' "$@" | awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print 0 }'; }
max() { printf '%s\n' "$@" | sort -n | tail -n1; }
a=$(mean "${A_RATES[@]}")
b=$(mean "${B_RATES[@]}")
echo "A mean: $a spans/s (peak RSS $(( $(max "${A_RSS[@]}") / 1024 )) MiB, $(mean1 "${A_BYTES[@]}") B/span at the end)"
echo "B mean: $b spans/s (peak RSS $(( $(max "${B_RSS[@]}") / 1024 )) MiB, $(mean1 "${B_BYTES[@]}") B/span at the end)"
awk -v a="$a" -v b="$b" 'BEGIN { if (a > 0) printf "B against A: %+.1f%%\n", (b - a) * 100 / a }'
echo "logs: $AB_OUT"
