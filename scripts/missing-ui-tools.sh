#!/usr/bin/env bash
# Prints what scripts/install-ui-tools.sh must install, one item a line, and
# nothing when everything is present:
#   chromium, nodejs, npm  Debian packages whose command (chromium, node,
#                          npm) is not on the search path;
#   node_modules           ui/node_modules was not installed from the
#                          current ui/package-lock.json (no stamp, or the
#                          stamp of another lock file).
#
# Usage: scripts/missing-ui-tools.sh [PROJECT_DIR]
#   PROJECT_DIR (default: this script's project) holds ui/.
#   SPOOR_TOOL_PATH, when set, is searched for commands instead of PATH
#   (tests point it at directories they build).
set -euo pipefail

project="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
search="${SPOOR_TOOL_PATH-$PATH}"

# Whether an executable `$1` is in one of the search path's directories.
has() {
  local dir
  local IFS=:
  for dir in $search; do
    [ -n "$dir" ] && [ -f "$dir/$1" ] && [ -x "$dir/$1" ] && return 0
  done
  return 1
}

has chromium || echo chromium
has node || echo nodejs
has npm || echo npm
stamp="$project/ui/node_modules/.spoor-lock-stamp"
if ! [ -f "$stamp" ] || ! cmp -s "$project/ui/package-lock.json" "$stamp"; then
  echo node_modules
fi
