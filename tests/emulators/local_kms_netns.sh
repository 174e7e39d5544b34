#!/usr/bin/env bash
# Runs a test binary against nsmithuk/local-kms, a second AWS KMS emulator
# that raises the key-state errors moto does not (DisabledException,
# KMSInvalidStateException).
#
# local-kms listens on every interface and has no option to listen on
# loopback only. So this script runs it, and the test, inside a new user
# and network namespace whose only interface is its own loopback. Nothing
# outside the namespace can reach the emulator, and it can reach nothing.
#
# Usage: local_kms_netns.sh LOCAL_KMS_BINARY TEST_BINARY [TEST_ARGS...]
# Exits 77 (ctest's skip code here) when LOCAL_KMS_BINARY is missing,
# unless CI is "true", where that is a failure.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 LOCAL_KMS_BINARY TEST_BINARY [TEST_ARGS...]" >&2
  exit 2
fi
local_kms=$1
shift

if [[ ! -x $local_kms ]]; then
  message="local-kms not found at $local_kms; run scripts/install-test-tools.sh"
  if [[ ${CI:-} == true ]]; then
    echo "FAILED: $message" >&2
    exit 1
  fi
  echo "SKIPPED: $message" >&2
  exit 77
fi

if [[ ${DEKMS_IN_TEST_NETNS:-} != 1 ]]; then
  export DEKMS_IN_TEST_NETNS=1
  exec unshare --user --map-root-user --net "$0" "$local_kms" "$@"
fi

ip link set lo up
workdir=$(mktemp -d)
# Inside the namespace the port is private, so a fixed one cannot clash.
port=4599
PORT=$port KMS_REGION=us-east-1 KMS_ACCOUNT_ID=111122223333 \
  KMS_DATA_PATH="$workdir/data" "$local_kms" >"$workdir/local-kms.log" 2>&1 &
emulator=$!
cleanup() {
  kill "$emulator" 2>/dev/null || true
  wait "$emulator" 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    break
  fi
  if ! kill -0 "$emulator" 2>/dev/null; then
    echo "local-kms exited at start-up; its log follows" >&2
    cat "$workdir/local-kms.log" >&2
    exit 1
  fi
  sleep 0.1
done

export DEKMS_LOCAL_KMS_ENDPOINT=http://127.0.0.1:$port
status=0
"$@" || status=$?
if [[ $status -ne 0 ]]; then
  echo "local-kms log:" >&2
  tail -n 40 "$workdir/local-kms.log" >&2
fi
exit "$status"
