#!/usr/bin/env bash
# Installs the emulators that the cloud integration tests start. They are a
# virtualenv with the exact packages of tests/emulators/requirements.txt,
# and two Go programs built from the Go module proxy at pinned versions:
# nsmithuk/local-kms, a second AWS KMS emulator, and fsouza/fake-gcs-server,
# a Google Cloud Storage emulator. The fourth is Azurite, the Azure Storage
# emulator, from npm with the exact package tree of tests/emulators/azurite.
# Does nothing when all four exist and match the pinned versions, which
# stamp files record. Installs Debian's python3-venv if python3 cannot create
# virtualenvs (as root, or with sudo). Without go, the Go programs are
# skipped with a message, and so is Azurite without node and npm, except
# under CI=true, where either is a failure.
#
# Environment: DEKMS_TEST_TOOLS_DIR picks the directory (default:
# ~/.cache/dekms/test-tools). The virtualenv is its venv/ subdirectory,
# Azurite's npm packages are in node/, and the Go programs and a link to
# azurite-blob are in bin/. Tests look for them where CMake's
# DEKMS_TEST_TOOLS_DIR cache variable points, so configure with the same
# directory.
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
# A tagged release, whose go.mod requires Go 1.26.
fake_gcs_module=github.com/fsouza/fake-gcs-server
fake_gcs_version=v1.56.1
# package.json pins Azurite 3.35.0, the newest release whose engines field
# accepts Node.js 20 (3.36.0 needs 21, 3.37.0 needs 22), and
# package-lock.json pins every package it depends on.
azurite_package_dir=$root/tests/emulators/azurite
azurite_min_node=20

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

# Builds the program of Go module MODULE at VERSION into $tools_dir/bin/NAME
# and records VERSION in NAME.version beside it. MIN_GO is the oldest Go
# release that builds it, for the message when go is missing.
install_go_tool() {
  local name=$1 module=$2 version=$3 min_go=$4
  local binary=$tools_dir/bin/$name
  local version_stamp=$binary.version
  if [[ -x $binary && -f $version_stamp &&
      $(<"$version_stamp") == "$version" ]]; then
    return
  fi
  if ! command -v go >/dev/null; then
    # Debian 12's golang-go (1.19) is older than both modules need.
    if [[ ${CI:-} == true ]]; then
      fail "go not found; install Go $min_go or later to build $module"
    fi
    echo "install-test-tools: go not found, so the $name tests will be" \
      "skipped; install Go $min_go or later to run them" >&2
    return
  fi
  echo "install-test-tools: building $module@$version" >&2
  mkdir -p "$tools_dir/bin"
  if ! GOTOOLCHAIN=local GOBIN=$tools_dir/bin \
      go install "$module@$version" >"$log" 2>&1; then
    echo "install-test-tools: building $name failed; the last lines of" \
      "$log follow" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  printf '%s\n' "$version" >"$version_stamp"
}

# Installs the npm packages that $azurite_package_dir pins, Azurite and its
# whole dependency tree, into $tools_dir/node with `npm ci`, and links
# $tools_dir/bin/azurite-blob to Azurite's blob service. The SHA-256 of the
# package.json and package-lock.json it installed from is the stamp.
install_azurite() {
  local node_dir=$tools_dir/node
  local link=$tools_dir/bin/azurite-blob
  local version_stamp=$node_dir/dekms-package-lock.sha256
  local expected
  expected=$(cat "$azurite_package_dir/package.json" \
    "$azurite_package_dir/package-lock.json" | sha256sum | cut -d ' ' -f 1)
  if [[ -x $link && -f $version_stamp &&
      $(<"$version_stamp") == "$expected" ]]; then
    return
  fi

  local problem=
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    problem="node or npm not found"
  elif ! node -e "process.exit(parseInt(process.versions.node) >= \
      $azurite_min_node ? 0 : 1)"; then
    problem="node $(node --version) is older than $azurite_min_node"
  fi
  if [[ -n $problem ]]; then
    # Debian 12's nodejs package is Node.js 18, too old for some packages
    # in the locked tree.
    if [[ ${CI:-} == true ]]; then
      fail "$problem; install Node.js $azurite_min_node or later with npm" \
        "to install Azurite"
    fi
    echo "install-test-tools: $problem, so the Azurite tests will be" \
      "skipped; install Node.js $azurite_min_node or later with npm to" \
      "run them" >&2
    return
  fi

  echo "install-test-tools: installing Azurite into $node_dir" >&2
  rm -rf "$node_dir" "$link"
  mkdir -p "$node_dir" "$tools_dir/bin"
  cp "$azurite_package_dir/package.json" \
    "$azurite_package_dir/package-lock.json" "$node_dir/"

  # No package in the locked tree has an install script (package-lock.json
  # marks none with hasInstallScript), so --ignore-scripts loses nothing.
  if ! {
    npm ci --prefix "$node_dir" --ignore-scripts --no-audit --no-fund &&
      node "$node_dir/node_modules/azurite/dist/src/blob/main.js" --help
  } >"$log" 2>&1; then
    echo "install-test-tools: installing Azurite failed; the last lines of" \
      "$log follow" >&2
    tail -n 40 "$log" >&2
    rm -rf "$node_dir"
    exit 1
  fi

  ln -s ../node/node_modules/.bin/azurite-blob "$link"
  printf '%s\n' "$expected" >"$version_stamp"
}

install_go_tool local-kms "$local_kms_module" "$local_kms_version" 1.20
install_go_tool fake-gcs-server "$fake_gcs_module" "$fake_gcs_version" 1.26
install_azurite

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
