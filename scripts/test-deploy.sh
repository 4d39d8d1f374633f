#!/usr/bin/env bash
# Checks the deploy/ folder against real tools and the real binary:
# strict Kubernetes schema validation of every manifest and of the Helm chart
# rendered with several value sets (kubernetes-validate), chart render, lint
# and values schema with a real Helm engine (helm-python-sdk), promtool
# check/test of the Prometheus rules, every dashboard and rule query
# against a real Prometheus scraping a running Spoor, and the chart's split
# mode (collector, store and query node as rendered) on a real tansu broker.
#
#   scripts/test-deploy.sh target/debug/spoor
#
# Tools: scripts/install-deploy-tools.sh and scripts/install-kafka-tools.sh
# (the first run by scripts/install-prereqs.sh, the second by ./test.sh).
# A missing tool is a failure, never a skip.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:?usage: scripts/test-deploy.sh path/to/spoor}"
[ -x "$bin" ] || { echo "test-deploy: $bin is not an executable" >&2; exit 1; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
python="$root/target/deploy-venv/bin/python"
if [ ! -x "$python" ] || ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  echo "test-deploy: tools missing: run scripts/install-deploy-tools.sh" >&2
  exit 1
fi
if ! bash "$root/scripts/find-tansu.sh" >/dev/null; then
  echo "test-deploy: the tansu broker is missing: run scripts/install-kafka-tools.sh" >&2
  exit 1
fi

cd "$root"
# Bounded: the whole suite takes about a minute; ten is a hang.
DEPLOY_SPOOR_BIN="$bin" timeout 600 "$python" -m pytest -p no:cacheprovider -q deploy/tests
