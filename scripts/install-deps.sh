#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing dekms need, and
# only those that are missing. Run as root or with sudo available.
#
# Usage: scripts/install-deps.sh [--with-clang]
#   --with-clang  also install clang, clang-format and clang-tidy, which CI
#                 uses for its second compiler and its lint checks.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git python3
  libssl-dev libcurl4-openssl-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
if [[ "${1:-}" == "--with-clang" ]]; then
  packages+=(clang clang-format clang-tidy)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: missing packages (${missing[*]}) and not root;" \
      "run this script as root" >&2
    exit 1
  fi
  sudo_cmd=(sudo)
fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
  --no-install-recommends "${missing[@]}"
