#!/usr/bin/env bash
# Prints what scripts/install-deploy-tools.sh must install, one item a line,
# and nothing when everything is present:
#   prometheus     the Debian package, when `prometheus` or `promtool` is
#                  not on the search path;
#   python3        when `python3` is not;
#   python3-venv   when that python3 cannot import venv and ensurepip
#                  (Debian splits them off; a venv cannot be made without);
#   deploy-venv    target/deploy-venv has no python, or was not made from
#                  the pins in scripts/deploy-tools.pins.
#
# Usage: scripts/missing-deploy-tools.sh [PROJECT_DIR]
#   PROJECT_DIR (default: this script's project) holds scripts/ and target/.
#   SPOOR_TOOL_PATH, when set, is searched for commands instead of PATH
#   (tests point it at directories they build).
set -euo pipefail

project="${1:-$(cd "$(dirname "$0")/.." && pwd)}"
search="${SPOOR_TOOL_PATH-$PATH}"

# The path of executable `$1` in the search path's directories, if any.
find_tool() {
  local dir
  local IFS=:
  for dir in $search; do
    if [ -n "$dir" ] && [ -f "$dir/$1" ] && [ -x "$dir/$1" ]; then
      echo "$dir/$1"
      return 0
    fi
  done
  return 1
}

if ! find_tool prometheus >/dev/null || ! find_tool promtool >/dev/null; then
  echo prometheus
fi
if python=$(find_tool python3); then
  "$python" -c 'import venv, ensurepip' >/dev/null 2>&1 || echo python3-venv
else
  echo python3
  echo python3-venv
fi
venv="$project/target/deploy-venv"
if ! [ -x "$venv/bin/python" ] || ! cmp -s "$project/scripts/deploy-tools.pins" "$venv/.deploy-pins"; then
  echo deploy-venv
fi
