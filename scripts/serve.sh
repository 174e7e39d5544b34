#!/usr/bin/env bash
# Builds dekms (Release) and starts the key service on its default: the
# master secret in ./dekms-state (or $DEKMS_STATE_DIR), created on first
# start, served on 127.0.0.1:9000. Extra arguments go to `dekms serve`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$root/build-release" -G Ninja \
  -DCMAKE_BUILD_TYPE=Release -DDEKMS_BUILD_TESTS=OFF \
  -DDEKMS_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$root/build-release" --target dekms
exec "$root/build-release/src/cli/dekms" serve "$@"
