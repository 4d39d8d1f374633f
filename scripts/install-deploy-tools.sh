#!/usr/bin/env bash
# Installs what scripts/test-deploy.sh needs: Debian's `prometheus` package
# (the Prometheus server and promtool) and, in a virtualenv under
# target/deploy-venv so the system Python is untouched, pinned Python tools:
# kubernetes-validate (strict Kubernetes schema checks), helm-python-sdk (a
# real Helm engine to render and lint the chart), PyYAML and pytest.
# Idempotent: what is present (scripts/missing-deploy-tools.sh decides, and
# tests/prereqs_tools.rs tests it) is left alone.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/deploy-venv"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

mapfile -t needed < <("$root/scripts/missing-deploy-tools.sh" "$root")
missing=()
for item in "${needed[@]}"; do
  [ "$item" = deploy-venv ] || missing+=("$item")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "please install: ${missing[*]} (no apt-get on this machine)" >&2
    exit 1
  fi
  $SUDO apt-get update -qq
  # The package's service is not wanted: tests start their own server.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts the packaged Prometheus as a service on :9090; tests never
# use it, so stop it when it is running (ignored where there is no init).
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  $SUDO systemctl stop prometheus || true
fi

# Pinned Python tools (scripts/deploy-tools.pins); the venv keeps a copy of
# the pins it was made from, so a change reinstalls.
if [[ " ${needed[*]} " == *" deploy-venv "* ]]; then
  echo "installing deploy test tools into target/deploy-venv"
  python3 -m venv "$venv"
  mapfile -t pins < "$root/scripts/deploy-tools.pins"
  "$venv/bin/python" -m pip install -q "${pins[@]}"
  cp "$root/scripts/deploy-tools.pins" "$venv/.deploy-pins"
fi
