#!/usr/bin/env bash
# Installs what building and testing Spoor needs beyond the Rust toolchain:
# libclang (RocksDB's bindings are generated at build time), a C++ compiler
# (RocksDB itself), python3 (the conformance runner) and its venv module
# (the end-to-end tests install real Python tracing clients into
# target/py-e2e), curl (the README walk-through test runs its commands) and
# git (the build records the commit for /version). Idempotent: does nothing
# when everything is present. libclang is found as bindgen finds it
# (scripts/find-libclang.sh; tests/prereqs_libclang.rs tests it).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"

# libclang as bindgen loads it (libclang-cpp, the C++ library, does not count).
have_libclang() { "$here/find-libclang.sh" >/dev/null; }

missing=()
have_libclang || missing+=(libclang-dev)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "please install: ${missing[*]} (no apt-get on this machine)" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install the Rust toolchain (https://rustup.rs) first" >&2
  exit 1
fi

# The web UI's checks (chromium, Node.js, the pinned type checker and browser driver).
"$here/install-ui-tools.sh"

# The deploy checks (promtool, Prometheus, the pinned Kubernetes and Helm validators).
"$here/install-deploy-tools.sh"
