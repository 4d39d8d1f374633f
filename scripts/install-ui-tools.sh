#!/usr/bin/env bash
# Installs what the web UI's checks need: Debian's chromium (the browser the
# end-to-end tests drive), Node.js and npm, and the pinned dev tools of
# ui/package-lock.json (typescript, playwright-core) into ui/node_modules.
# Idempotent: what is present (scripts/missing-ui-tools.sh decides, and
# tests/prereqs_tools.rs tests it) is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t missing < <(scripts/missing-ui-tools.sh)
packages=()
for item in "${missing[@]}"; do
    [ "$item" = node_modules ] || packages+=("$item")
done
if ((${#packages[@]})); then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "please install: ${packages[*]} (no apt-get on this machine)" >&2
        exit 1
    fi
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

# The dev tools, again only when the lock file changed since the last install.
if [[ " ${missing[*]} " == *" node_modules "* ]]; then
    (cd ui && npm ci --no-audit --no-fund --loglevel=error)
    cp ui/package-lock.json ui/node_modules/.spoor-lock-stamp
fi
