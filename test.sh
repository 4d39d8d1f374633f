#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, unit, storage and end-to-end
# tests, then the Jaeger storage conformance suite against a fresh all-in-one.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-prereqs.sh
# The split-deployment tests' Kafka-protocol broker (tansu), built once; only
# the tests need it, so ./run.sh does not install it.
scripts/install-kafka-tools.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# The conformance suite runs the binary `cargo test` built for the end-to-end tests.
scripts/conformance.sh target/debug/spoor
# The web UI: type check and browser tests against the same binary.
scripts/test-ui.sh target/debug/spoor
# deploy/: manifests, chart, rules, and dashboards against a real Prometheus.
scripts/test-deploy.sh target/debug/spoor
