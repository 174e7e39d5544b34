#!/usr/bin/env bash
# Builds dekms with its tests and benchmarks from scratch in BUILD_DIR
# (default: build-test) and runs every test through ctest.
#
# Environment: CXX picks the compiler (default: the system c++);
# BUILD_DIR picks the build directory, which is emptied first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build-test}
"$root/scripts/install-deps.sh"
"$root/scripts/install-test-tools.sh"
rm -rf "$build_dir"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build "$build_dir"
ctest --test-dir "$build_dir" --output-on-failure -j2
