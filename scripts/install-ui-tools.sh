#!/usr/bin/env bash
# Installs what the web UI's checks need: Debian's chromium (the browser the
# end-to-end tests drive), Node.js and npm, and the pinned dev tools of
# ui/package-lock.json (typescript, playwright-core) into ui/node_modules.
# Idempotent: does nothing when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Reinstall the dev tools only when the lock file changed since the last install.
stamp=ui/node_modules/.spoor-lock-stamp
if ! [ -f "$stamp" ] || ! cmp -s ui/package-lock.json "$stamp"; then
    (cd ui && npm ci --no-audit --no-fund --loglevel=error)
    cp ui/package-lock.json "$stamp"
fi
