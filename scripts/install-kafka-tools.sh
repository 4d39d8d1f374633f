#!/usr/bin/env bash
# Installs what the split-deployment (Kafka) end-to-end tests need: the
# Kafka-protocol broker tansu 0.6.0 from the crates registry, built with its
# memory storage engine (feature `dynostore`). It is a Rust program, so the
# toolchain that builds Spoor builds it; the first build takes a long time
# on 2 cores (about 400 crates), later runs find it and return at once. It
# is built unoptimised (`--debug`), which compiles faster and is plenty for
# the tests' traffic; scripts/bench-split.sh takes whatever is installed
# (docs/performance.md names the build its figures used).
# The broker is found as scripts/find-tansu.sh finds it (tested in
# tests/prereqs_tansu.rs). librdkafka itself is built from its bundled
# sources by the rdkafka crate (make and a C compiler, already needed).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

if "$here/find-tansu.sh" >/dev/null 2>&1; then
  exit 0
fi
"$here/find-tansu.sh" >/dev/null || true
echo "installing the tansu broker (0.6.0, feature dynostore) with cargo install; the first build takes a while"
nice -n 10 cargo install --locked --force --debug tansu@0.6.0 --features dynostore
"$here/find-tansu.sh" >/dev/null
