"""Start a moto server on loopback with SigV4 signature checks turned on.

moto checks request signatures only while IAM authentication is active,
which INITIAL_NO_AUTH_ACTION_COUNT=0 turns on from the first request. Before
serving, this launcher creates an IAM user with an access key and an inline
policy that allows every action on every resource, so signed requests with
that key pass and requests signed with any other key or secret fail.

Once the server accepts connections, stdout gets two lines:

    READY http://127.0.0.1:<port>
    CREDENTIALS <access key id> <secret access key>

The key pair exists only inside this emulator process. The server runs until
SIGTERM or SIGINT, or, with --exit-on-stdin-eof, until stdin closes, so a
test runner that dies without cleaning up still ends its emulator.

Exit codes: 0 after a requested stop, 2 for bad arguments, 3 when moto is
not installed in this interpreter.

NOTE: moto 5.2.6 differs from AWS where tests might expect otherwise. KMS
Encrypt, Decrypt and GenerateDataKey succeed with disabled and
PendingDeletion keys. Decrypt with another KeyId returns
AccessDeniedException, not IncorrectKeyException. KMS signature errors are
403 with an XML body (SignatureDoesNotMatch, InvalidClientTokenId). No
request is rejected for clock skew. S3 trusts x-amz-content-sha256 without
hashing the body, and a request without an Authorization header gets 500.
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading

# Signature checks are read from the environment when moto is imported, so
# this must run first.
os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"

EXIT_MOTO_MISSING = 3

USER_NAME = "dekms-test"
ALLOW_ALL_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="TCP port to listen on; 0 picks a free port (default: 0)",
    )
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop the server when stdin reaches end of file",
    )
    return parser.parse_args()


def create_test_user():
    """Create the IAM user and return its (access key id, secret)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam = iam_backends[DEFAULT_ACCOUNT_ID]["aws"]
    iam.create_user(region_name="us-east-1", user_name=USER_NAME)
    iam.put_user_policy(USER_NAME, "allow-all", ALLOW_ALL_POLICY)
    access_key = iam.create_access_key(USER_NAME)
    return access_key.access_key_id, access_key.secret_access_key


def wait_until_accepting(host, port, timeout_seconds=10):
    """Connect once to prove that the listening socket accepts connections."""
    with socket.create_connection((host, port), timeout=timeout_seconds):
        pass


def main():
    args = parse_args()
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        print(
            f"moto_launcher: cannot import moto with {sys.executable}: {error}; "
            "run scripts/install-test-tools.sh",
            file=sys.stderr,
        )
        return EXIT_MOTO_MISSING

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.exit_on_stdin_eof:

        def watch_stdin():
            while sys.stdin.buffer.read(4096):
                pass
            stop.set()

        threading.Thread(target=watch_stdin, daemon=True).start()

    access_key_id, secret_access_key = create_test_user()
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    wait_until_accepting(host, port)
    url_host = f"[{host}]" if ":" in host else host
    sys.stdout.write(
        f"READY http://{url_host}:{port}\n"
        f"CREDENTIALS {access_key_id} {secret_access_key}\n"
    )
    sys.stdout.flush()

    # A timed wait lets the main thread run the signal handlers promptly.
    while not stop.wait(1):
        pass
    # The server thread is a daemon thread, so returning ends it without the
    # half-second poll of a graceful shutdown. moto keeps its state in memory
    # only, so nothing is lost.
    return 0


if __name__ == "__main__":
    sys.exit(main())
