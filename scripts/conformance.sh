#!/usr/bin/env bash
# Runs the Jaeger storage conformance suite (../shared/conformance) against a
# fresh Spoor all-in-one on free loopback ports and an empty data directory.
# Usage: scripts/conformance.sh [path/to/spoor]
set -euo pipefail
cd "$(dirname "$0")/.."
spoor="${1:-target/debug/spoor}"
runner="../shared/conformance/run_jaeger_storage.py"
if [ ! -f "$runner" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "conformance: FAILED — $runner is absent (the shared/ folder must sit beside this repository)" >&2
    exit 1
  fi
  echo "conformance: SKIPPED — $runner is absent (the shared/ folder must sit beside this repository; under CI=true this fails)"
  exit 0
fi
data=$(mktemp -d)
log="$data/spoor.log"
"$spoor" --data-dir "$data/store" \
  --otlp-grpc-addr 127.0.0.1:0 --otlp-http-addr 127.0.0.1:0 --zipkin-addr 127.0.0.1:0 \
  --query-http-addr 127.0.0.1:0 --query-grpc-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
  --sampling-http-addr 127.0.0.1:0 --sampling-grpc-addr 127.0.0.1:0 \
  --jaeger-grpc-addr 127.0.0.1:0 --jaeger-thrift-http-addr 127.0.0.1:0 \
  --agent-compact-addr 127.0.0.1:0 --agent-binary-addr 127.0.0.1:0 >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT
line=""
for _ in $(seq 1 100); do
  line=$(grep -m1 '^spoor: listening on' "$log" || true)
  [ -n "$line" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "conformance: spoor exited early:"; cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$line" ] || { echo "conformance: spoor did not start:"; cat "$log"; exit 1; }
addr() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
python3 "$runner" --otlp-http "http://$(addr otlp_http)" --query "http://$(addr query_http)"
