#!/usr/bin/env bash
# Finds the libclang that bindgen (through clang-sys) loads when RocksDB's
# bindings are generated. Prints the library's path and exits 0, or exits 1
# when there is none.
#
# Usage: scripts/find-libclang.sh [ROOT]
#   ROOT (default /) is the file-system root to look under; tests point it at
#   a directory tree they build.
#
# What counts, as clang-sys decides: LIBCLANG_PATH (a file, or a directory
# holding one), else `libclang.so`, `libclang.so.N`, `libclang-N.so` or
# `libclang-N.so.N` (N a version such as 14, 14.0.6 or 1) in the directories
# clang-sys searches. Debian's `libclang-cpp.so.N` is the C++ interface
# library: bindgen cannot use it, so it does not count.
set -euo pipefail

root="${1:-}"
root="${root%/}"

# A file name bindgen's loader accepts as libclang.
is_libclang_name() {
  local name="$1"
  [[ "$name" =~ ^libclang(-[0-9]+(\.[0-9]+)*)?\.so(\.[0-9]+)*$ ]]
}

search_dir() {
  local dir="$1" f
  [ -d "$dir" ] || return 1
  for f in "$dir"/libclang*.so*; do
    [ -e "$f" ] || continue
    if is_libclang_name "$(basename "$f")"; then
      echo "$f"
      return 0
    fi
  done
  return 1
}

if [ -n "${LIBCLANG_PATH:-}" ]; then
  if [ -f "$root$LIBCLANG_PATH" ] && is_libclang_name "$(basename "$LIBCLANG_PATH")"; then
    echo "$root$LIBCLANG_PATH"
    exit 0
  fi
  search_dir "$root$LIBCLANG_PATH" && exit 0
fi

shopt -s nullglob
dirs=()
for d in "$root"/usr/lib/llvm-*/lib "$root"/usr/local/llvm*/lib "$root"/usr/lib/*-linux-gnu \
  "$root"/usr/lib64/llvm "$root"/usr/lib64 "$root"/usr/lib "$root"/usr/local/lib "$root"/lib64 "$root"/lib; do
  dirs+=("$d")
done
for d in "${dirs[@]}"; do
  search_dir "$d" && exit 0
done
exit 1
