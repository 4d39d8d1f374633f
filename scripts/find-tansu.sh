#!/usr/bin/env bash
# Finds the Kafka-protocol broker the split-deployment tests run against:
# tansu 0.6.0 installed by `cargo install` with the `dynostore` feature (its
# memory storage engine; a default build has no storage engine and cannot
# start `memory://`). Prints the binary's path and exits 0, or exits 1 with
# the reason on stderr.
#
# Usage: scripts/find-tansu.sh [CARGO_HOME]
#   CARGO_HOME (default: $CARGO_HOME, else ~/.cargo) is where cargo records
#   its installs (.crates2.json) and puts their binaries (bin/); tests point
#   it at trees they build.
set -euo pipefail

want_version="0.6.0"
want_feature="dynostore"
home="${1:-${CARGO_HOME:-$HOME/.cargo}}"
home="${home%/}"
record="$home/.crates2.json"
binary="$home/bin/tansu"

if [ ! -f "$record" ]; then
  echo "no cargo install record at $record" >&2
  exit 1
fi
# cargo's record of each install: its version and the features it was built with.
if ! python3 - "$record" "$want_version" "$want_feature" <<'PY'
import json, sys
record, version, feature = sys.argv[1:4]
try:
    installs = json.load(open(record)).get("installs", {})
except (OSError, ValueError) as error:
    print(f"cannot read {record}: {error}", file=sys.stderr)
    sys.exit(1)
for key, info in installs.items():
    name, _, rest = key.partition(" ")
    if name != "tansu":
        continue
    got = rest.split(" ", 1)[0]
    if got != version:
        print(f"tansu {got} is installed, {version} is needed", file=sys.stderr)
        sys.exit(1)
    if feature not in info.get("features", []) and not info.get("all_features"):
        print(f"tansu {got} was built without the {feature} feature", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
print("tansu is not installed", file=sys.stderr)
sys.exit(1)
PY
then
  exit 1
fi
if [ ! -x "$binary" ]; then
  echo "cargo records tansu, but $binary is missing" >&2
  exit 1
fi
echo "$binary"
