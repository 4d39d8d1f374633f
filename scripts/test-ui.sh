#!/usr/bin/env bash
# Checks Spoor's web UI: type-checks its JavaScript (tsc --checkJs) and runs
# the browser tests (headless Chromium via playwright-core) against the given
# spoor binary. Usage: scripts/test-ui.sh target/debug/spoor
# Needs scripts/install-ui-tools.sh to have run; a missing tool is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:?usage: scripts/test-ui.sh path/to/spoor}"
[ -x "$bin" ] || { echo "test-ui: $bin is not an executable spoor binary" >&2; exit 1; }
[ -x ui/node_modules/.bin/tsc ] || { echo "test-ui: run scripts/install-ui-tools.sh first" >&2; exit 1; }
SPOOR_BIN="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
export SPOOR_BIN
echo "test-ui: tsc --checkJs"
(cd ui && node_modules/.bin/tsc -p tsconfig.json)
echo "test-ui: browser tests"
(cd ui && node --test tests/)
