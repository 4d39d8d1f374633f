#!/usr/bin/env bash
# Builds and starts Spoor all-in-one with an embedded store in ./spoor-data,
# listening on the standard ports (OTLP 4317/4318, Zipkin 9411, Jaeger query
# 16686, admin 14269). Extra arguments go to spoor (see `spoor --help`).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-prereqs.sh
cargo build --release -p spoor
exec target/release/spoor "$@"
