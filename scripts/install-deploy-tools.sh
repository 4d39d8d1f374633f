#!/usr/bin/env bash
# Installs what scripts/test-deploy.sh needs: Debian's `prometheus` package
# (the Prometheus server and promtool) and, in a virtualenv under
# target/deploy-venv so the system Python is untouched, pinned Python tools:
# kubernetes-validate (strict Kubernetes schema checks), helm-python-sdk (a
# real Helm engine to render and lint the chart), PyYAML and pytest.
# Idempotent: does nothing when everything is present.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/deploy-venv"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  # Unique package names, in order.
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
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

# Pinned Python tools. The stamp records the pins so a change reinstalls.
pins=(
  "kubernetes-validate==1.37.0"
  "helm-python-sdk==0.2.2"
  "PyYAML==6.0.2"
  "pytest==8.3.4"
)
stamp="$venv/.deploy-pins"
want="$(printf '%s\n' "${pins[@]}")"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing deploy test tools into target/deploy-venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q "${pins[@]}"
  printf '%s\n' "$want" >"$stamp"
fi
