#!/usr/bin/env bash
# Runs clang-tidy with the repository's .clang-tidy on every dekms source
# file, using the compile commands of BUILD_DIR (first argument).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:?usage: scripts/lint.sh BUILD_DIR}
cd "$root"
git ls-files 'src/*.cc' 'bench/*.cc' 'tests/*.cc' |
  grep -v '^tests/compile_fail/' |
  xargs -P 2 -n 4 clang-tidy --quiet -p "$build_dir"
