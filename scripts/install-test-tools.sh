#!/usr/bin/env bash
# Installs the emulators that the cloud integration tests start: a
# virtualenv with the exact packages of tests/emulators/requirements.txt,
# and nsmithuk/local-kms, a second AWS KMS emulator, built from the Go
# module proxy at a pinned version. Does nothing when both exist and match
# the pinned versions, which stamp files record. Installs
# Debian's python3-venv if python3 cannot create virtualenvs (as root, or
# with sudo).
#
# Environment: DEKMS_TEST_TOOLS_DIR picks the directory (default:
# ~/.cache/dekms/test-tools). The virtualenv is its venv/ subdirectory. Tests
# look for the interpreter where CMake's DEKMS_TEST_TOOLS_DIR cache variable
# points, so configure with the same directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tools_dir=${DEKMS_TEST_TOOLS_DIR:-$HOME/.cache/dekms/test-tools}
venv=$tools_dir/venv
requirements=$root/tests/emulators/requirements.txt
stamp=$venv/dekms-requirements.sha256
log=$tools_dir/install.log
# Pinned to one commit: the module has no tagged releases.
local_kms_module=github.com/nsmithuk/local-kms
local_kms_version=v0.0.0-20260228092603-2a5e92d09ab6
local_kms_stamp=$tools_dir/bin/local-kms.version

fail() {
  echo "install-test-tools: $*" >&2
  exit 1
}

# Installs python3-venv when python3 lacks ensurepip, which Debian ships
# separately from the interpreter and `python3 -m venv` needs.
ensure_venv_module() {
  command -v python3 >/dev/null ||
    fail "python3 not found; run scripts/install-deps.sh first"
  if python3 -c 'import ensurepip, venv' 2>/dev/null; then
    return
  fi
  if ! dpkg-query -W -f='${Status}' python3-venv 2>/dev/null |
      grep -q "install ok installed"; then
    echo "install-test-tools: installing python3-venv" >&2
    local sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then
      command -v sudo >/dev/null ||
        fail "python3-venv is missing and this is not root;" \
          "run this script as root"
      sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
      --no-install-recommends python3-venv
  fi
  python3 -c 'import ensurepip, venv' 2>/dev/null ||
    fail "$(command -v python3) cannot create virtualenvs (no ensurepip" \
      "module); put a python3 with the venv module first on PATH"
}

[[ -f $requirements ]] || fail "missing $requirements"
mkdir -p "$tools_dir"

# Serialises concurrent runs, which would otherwise build the same
# virtualenv at once.
exec 9>"$tools_dir/install.lock"
flock 9

install_local_kms() {
  if [[ -x $tools_dir/bin/local-kms && -f $local_kms_stamp &&
      $(<"$local_kms_stamp") == "$local_kms_version" ]]; then
    return
  fi
  if ! command -v go >/dev/null; then
    # Debian 12's golang-go (1.19) is older than the module needs (1.20).
    if [[ ${CI:-} == true ]]; then
      fail "go not found; install Go 1.20 or later to build $local_kms_module"
    fi
    echo "install-test-tools: go not found, so the local-kms test will be" \
      "skipped; install Go 1.20 or later to run it" >&2
    return
  fi
  echo "install-test-tools: building $local_kms_module@$local_kms_version" >&2
  mkdir -p "$tools_dir/bin"
  if ! GOTOOLCHAIN=local GOBIN=$tools_dir/bin \
      go install "$local_kms_module@$local_kms_version" >"$log" 2>&1; then
    echo "install-test-tools: building local-kms failed; the last lines of" \
      "$log follow" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  printf '%s\n' "$local_kms_version" >"$local_kms_stamp"
}

install_local_kms

expected_sum=$(sha256sum "$requirements" | cut -d ' ' -f 1)
if [[ -f $stamp && $(<"$stamp") == "$expected_sum" ]] &&
    "$venv/bin/python3" -c '' 2>/dev/null; then
  exit 0
fi

ensure_venv_module
echo "install-test-tools: installing the test emulators into $venv" >&2
rm -rf "$venv"
if ! {
  python3 -m venv "$venv" &&
    "$venv/bin/python3" -m pip install --no-input --quiet --no-deps \
      --requirement "$requirements" &&
    "$venv/bin/python3" -m pip check &&
    "$venv/bin/python3" -c 'import moto.server'
} >"$log" 2>&1; then
  echo "install-test-tools: installing $requirements into $venv failed;" \
    "the last lines of $log follow" >&2
  tail -n 40 "$log" >&2
  rm -rf "$venv"
  exit 1
fi
printf '%s\n' "$expected_sum" >"$stamp"
