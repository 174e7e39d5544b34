"""Forward HTTP requests to an emulator and inject faults into chosen ones.

Usage: fault_proxy.py UPSTREAM_URL [--exit-on-stdin-eof]

The proxy listens on 127.0.0.1 on a free port and prints
`READY http://127.0.0.1:<port>` on stdout once it accepts connections. It
sends each request to UPSTREAM_URL byte for byte, Host header included:
SigV4 signs the Host header, so the client signs the proxy's host and port,
and the upstream (moto checks the Host header it receives) verifies the
same bytes. Responses are read in full and sent back with a Content-Length.

Requests under /__fault__/ control the proxy and are neither forwarded nor
counted. S3 bucket names cannot contain underscores, so no S3 path-style
request starts with that prefix, and no Google API path does either. Azurite
takes the first path segment as the storage account, and an account name
has only lowercase letters and digits.

    POST /__fault__/queue?kind=KIND&count=N[&method=M][&target=T][&path=P][...]
        Queues a fault for the next N requests whose method is M, whose
        X-Amz-Target header is T and whose path, query string included and
        percent-encoded as sent, contains P (each filter is optional).
        Faults apply in the order they were queued. Kinds:
          status          respond with HTTP `status` and an error body
                          without forwarding, in the shape of the service
                          that the request goes to, checked in this order:
                          - AWS KMS, for a request with X-Amz-Target: JSON
                            with `__type`, and x-amzn-ErrorType.
                          - Azure Key Vault or Managed HSM, for a path that
                            contains /keys/ and a query with api-version:
                            JSON {"error": {"code", "message"}}. A 401 also
                            gets Key Vault's bearer challenge in
                            WWW-Authenticate, with the authority of a
                            made-up tenant and the resource
                            https://vault.azure.net (the same for Managed
                            HSM paths).
                          - Azure Blob Storage, for a request with an
                            x-ms-version header: XML <Error> with <Code> and
                            <Message>, and x-ms-error-code: <Code>.
                          - Google APIs, for a path that starts with
                            /storage/, /upload/storage/ or /v1/projects/ and
                            no X-Amz-* header (Cloud Storage, Cloud KMS):
                            Google's JSON error.
                          - S3 otherwise: XML <Error>.
                          The code, type or Google reason depends on the
                          status (see the tables below); `error_code`
                          overrides it. `retry_after` adds a Retry-After
                          header, which 429 gets with the value 1 by
                          default.
          delay           wait `delay_ms` milliseconds, then forward.
          reset           read the request, then reset the connection
                          (SO_LINGER 0) without forwarding or responding.
          forward_reset   forward the request, read the upstream's response,
                          then reset the client connection, so the upstream
                          acted on a request that the client sees fail.
    GET /__fault__/counters
        Returns text lines `total N`, `forwarded N`, `faults_applied N`,
        `faults_pending N`, then `method <METHOD> N`,
        `target <X-Amz-Target> N` and `path <PATH> N` for each value seen,
        where PATH is the request path without the query string,
        percent-encoded as sent.
    POST /__fault__/clear
        Drops the queued faults and zeroes the counters.

The proxy runs until SIGTERM or SIGINT, or with --exit-on-stdin-eof until
stdin closes. It uses the standard library only.
"""

import argparse
import http.client
import ipaddress
import json
import logging
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

CONTROL_PREFIX = "/__fault__/"
FAULT_KINDS = ("status", "delay", "reset", "forward_reset")
MAX_HEAD_BYTES = 64 * 1024
UPSTREAM_TIMEOUT_SECONDS = 60

# Hop-by-hop and framing headers of the upstream's response that the proxy
# replaces, because it sends the body with its own Content-Length.
DROPPED_RESPONSE_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
}
# Responses that never have a body. Their Content-Length, if any, is the
# upstream's and describes the resource, so the proxy passes it on.
BODILESS_STATUSES = {204, 304}

# Path prefixes of Google APIs, whose errors use Google's JSON error shape:
# the Cloud Storage JSON API (metadata and uploads) and Cloud KMS.
GOOGLE_PATH_PREFIXES = ("/storage/", "/upload/storage/", "/v1/projects/")
# The canonical status (a google.rpc.Code name) and the Cloud Storage error
# reason that a Google-shaped status fault sends for an HTTP status. Other
# statuses get INTERNAL and backendError (5xx), INVALID_ARGUMENT and invalid
# (4xx), or UNKNOWN and unknown.
# NOTE: the reasons for 401, 408, 499, 501, 502 and 504 are plausible
# values that were not checked against Cloud Storage responses.
GOOGLE_ERRORS = {
    400: ("INVALID_ARGUMENT", "invalid"),
    401: ("UNAUTHENTICATED", "authError"),
    403: ("PERMISSION_DENIED", "forbidden"),
    404: ("NOT_FOUND", "notFound"),
    408: ("DEADLINE_EXCEEDED", "requestTimeout"),
    409: ("ALREADY_EXISTS", "conflict"),
    412: ("FAILED_PRECONDITION", "conditionNotMet"),
    429: ("RESOURCE_EXHAUSTED", "rateLimitExceeded"),
    499: ("CANCELLED", "clientClosedRequest"),
    500: ("INTERNAL", "backendError"),
    501: ("UNIMPLEMENTED", "notImplemented"),
    502: ("UNAVAILABLE", "backendError"),
    503: ("UNAVAILABLE", "backendError"),
    504: ("DEADLINE_EXCEEDED", "backendError"),
}

# The error code that an Azure Blob Storage status fault sends for an HTTP
# status, in <Code> and x-ms-error-code. Blob Storage throttles with 503
# ServerBusy, so 429 also gets ServerBusy. Other statuses get InternalError
# (5xx) or InvalidInput (others).
AZURE_BLOB_ERRORS = {
    400: "InvalidInput",
    403: "AuthenticationFailed",
    404: "BlobNotFound",
    409: "BlobAlreadyExists",
    412: "ConditionNotMet",
    429: "ServerBusy",
    500: "InternalError",
    503: "ServerBusy",
}
# The error code that an Azure Key Vault status fault sends in
# {"error": {"code"}} for an HTTP status. Other statuses get
# InternalServerError (5xx) or BadParameter (others).
# NOTE: the codes for 409, 429, 500 and 503 are plausible values that were
# not checked against Key Vault responses.
AZURE_KEY_VAULT_ERRORS = {
    400: "BadParameter",
    401: "Unauthorized",
    403: "Forbidden",
    404: "KeyNotFound",
    409: "Conflict",
    429: "Throttled",
    500: "InternalServerError",
    503: "ServiceUnavailable",
}
# The WWW-Authenticate header of a Key Vault 401. The tenant is a made-up
# ID: clients read the resource and may read the tenant, and tests never
# contact the authority.
AZURE_KEY_VAULT_CHALLENGE = (
    'Bearer authorization="https://login.microsoftonline.com/'
    '00000000-0000-0000-0000-000000000000", resource="https://vault.azure.net"'
)

log = logging.getLogger("fault_proxy")


class BadRequest(Exception):
    """A client request that the proxy cannot parse."""


class Fault:
    """One queued fault with its filters and the requests it has left."""

    def __init__(self, query):
        def single(name, default=None):
            values = query.get(name)
            return values[-1] if values else default

        def integer(name, default):
            text = single(name)
            if text is None:
                return default
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"{name}={text!r} is not an integer") from None

        self.kind = single("kind")
        if self.kind not in FAULT_KINDS:
            expected = ", ".join(FAULT_KINDS)
            raise ValueError(
                f"kind={self.kind!r} is invalid; expected one of {expected}"
            )
        self.remaining = integer("count", 1)
        if self.remaining < 1:
            raise ValueError(f"count={self.remaining} is invalid; expected 1 or more")
        self.method = single("method")
        self.target = single("target")
        self.path = single("path")
        self.status = integer("status", 0)
        if self.kind == "status" and not 100 <= self.status <= 599:
            raise ValueError(f"status={self.status} is invalid for kind=status")
        self.error_code = single("error_code")
        self.retry_after = single("retry_after")
        if self.retry_after is None and self.status == 429:
            self.retry_after = "1"
        self.delay_ms = integer("delay_ms", 0)
        if self.kind == "delay" and self.delay_ms < 0:
            raise ValueError(f"delay_ms={self.delay_ms} is invalid; expected 0 or more")

    def matches(self, request):
        if self.method is not None and self.method != request.method:
            return False
        if self.target is not None and self.target != request.target:
            return False
        if self.path is not None and self.path not in request.path:
            return False
        return True

    def describe(self):
        if self.kind == "status":
            return f"status {self.status}"
        if self.kind == "delay":
            return f"delay {self.delay_ms} ms"
        return self.kind


class State:
    """Queued faults and request counters, shared by all connections."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []
        self._clear_counters()

    def _clear_counters(self):
        self.total = 0
        self.forwarded = 0
        self.faults_applied = 0
        self.by_method = {}
        self.by_target = {}
        self.by_path = {}

    def queue(self, fault):
        with self._lock:
            self._faults.append(fault)

    def clear(self):
        with self._lock:
            self._faults.clear()
            self._clear_counters()

    def record_and_take_fault(self, request):
        """Count `request` and return the first fault that applies to it."""
        with self._lock:
            self.total += 1
            self.by_method[request.method] = self.by_method.get(request.method, 0) + 1
            if request.target is not None:
                self.by_target[request.target] = (
                    self.by_target.get(request.target, 0) + 1
                )
            path = request.path_without_query
            self.by_path[path] = self.by_path.get(path, 0) + 1
            for index, fault in enumerate(self._faults):
                if fault.matches(request):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        del self._faults[index]
                    self.faults_applied += 1
                    return fault
            return None

    def record_forwarded(self):
        with self._lock:
            self.forwarded += 1

    def counters_text(self):
        with self._lock:
            lines = [
                f"total {self.total}",
                f"forwarded {self.forwarded}",
                f"faults_applied {self.faults_applied}",
                f"faults_pending {sum(fault.remaining for fault in self._faults)}",
            ]
            for name, n in sorted(self.by_method.items()):
                lines.append(f"method {name} {n}")
            for name, n in sorted(self.by_target.items()):
                lines.append(f"target {name} {n}")
            for name, n in sorted(self.by_path.items()):
                lines.append(f"path {name} {n}")
        return "\n".join(lines) + "\n"


class Request:
    """One request as received: the raw bytes and the parsed parts."""

    def __init__(self, raw_head, method, path, version, headers):
        self.raw_head = raw_head
        self.raw_body = b""
        self.method = method
        self.path = path
        self.version = version
        self.headers = headers

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def target(self):
        return self.header("x-amz-target")

    @property
    def path_without_query(self):
        return self.path.partition("?")[0]

    @property
    def is_google(self):
        """Whether the request goes to a Google API, by its path.

        An S3 bucket may be named "storage", so a request with AWS headers
        is never a Google one.
        """
        if any(name.lower().startswith("x-amz-") for name, _ in self.headers):
            return False
        return self.path.startswith(GOOGLE_PATH_PREFIXES)

    @property
    def is_azure_key_vault(self):
        """Whether the request goes to Azure Key Vault or Managed HSM keys."""
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        return "/keys/" in url.path and "api-version" in query

    @property
    def is_azure_blob(self):
        """Whether the request goes to Azure Blob Storage, which requires an
        x-ms-version header on every authorized request."""
        return self.header("x-ms-version") is not None

    @property
    def wants_close(self):
        connection = (self.header("connection") or "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" not in connection
        return "close" in connection


def read_line(reader, limit):
    line = reader.readline(limit + 1)
    if len(line) > limit:
        raise BadRequest(f"header line longer than {limit} bytes")
    return line


def read_request(reader, send_interim):
    """Read one request from `reader`; return None at a clean end of stream.

    `send_interim` is called with raw bytes to send before the body, the
    response to `Expect: 100-continue`.
    """
    request_line = read_line(reader, MAX_HEAD_BYTES)
    if not request_line:
        return None
    raw_head = bytearray(request_line)
    parts = request_line.decode("latin-1").rstrip("\r\n").split(" ")
    if len(parts) != 3:
        raise BadRequest(f"malformed request line {request_line!r}")
    method, path, version = parts
    headers = []
    while True:
        line = read_line(reader, MAX_HEAD_BYTES)
        if not line:
            raise BadRequest("connection closed inside the request head")
        raw_head += line
        if len(raw_head) > MAX_HEAD_BYTES:
            raise BadRequest(f"request head longer than {MAX_HEAD_BYTES} bytes")
        if line in (b"\r\n", b"\n"):
            break
        name, separator, value = line.decode("latin-1").partition(":")
        if not separator:
            raise BadRequest(f"malformed header line {line!r}")
        headers.append((name.strip(), value.strip()))
    request = Request(bytes(raw_head), method, path, version, headers)

    if (request.header("expect") or "").lower() == "100-continue":
        send_interim(b"HTTP/1.1 100 Continue\r\n\r\n")
    transfer_encoding = (request.header("transfer-encoding") or "").lower()
    if "chunked" in transfer_encoding:
        request.raw_body = read_chunked_raw(reader)
    else:
        length_text = request.header("content-length") or "0"
        try:
            length = int(length_text)
        except ValueError:
            raise BadRequest(f"invalid Content-Length {length_text!r}") from None
        request.raw_body = reader.read(length)
        if len(request.raw_body) != length:
            raise BadRequest("connection closed inside the request body")
    return request


def read_chunked_raw(reader):
    """Read a chunked body and return it still chunked, trailers included."""
    raw = bytearray()
    while True:
        size_line = read_line(reader, MAX_HEAD_BYTES)
        raw += size_line
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise BadRequest(f"invalid chunk size line {size_line!r}") from None
        if size == 0:
            break
        chunk = reader.read(size + 2)
        if len(chunk) != size + 2:
            raise BadRequest("connection closed inside a chunk")
        raw += chunk
    while True:
        trailer = read_line(reader, MAX_HEAD_BYTES)
        if not trailer:
            raise BadRequest("connection closed inside the chunked trailer")
        raw += trailer
        if trailer in (b"\r\n", b"\n"):
            return bytes(raw)


def serialize_response(status, reason, headers, body, close, add_length=True):
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in headers]
    if add_length:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def error_response(request, fault):
    """Build the status, headers and body that a status fault sends."""
    headers = []
    if fault.retry_after is not None:
        headers.append(("Retry-After", fault.retry_after))
    message = f"fault injected by fault_proxy: status {fault.status}"
    if request.target is not None:
        default_code = (
            "ThrottlingException"
            if fault.status in (400, 429)
            else "KMSInternalException"
        )
        code = fault.error_code or default_code
        headers += [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-ErrorType", code),
        ]
        body = json.dumps({"__type": code, "message": message}).encode()
    elif request.is_azure_key_vault:
        fallback = "InternalServerError" if fault.status >= 500 else "BadParameter"
        code = fault.error_code or AZURE_KEY_VAULT_ERRORS.get(fault.status, fallback)
        headers.append(("Content-Type", "application/json; charset=utf-8"))
        if fault.status == 401:
            headers.append(("WWW-Authenticate", AZURE_KEY_VAULT_CHALLENGE))
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
    elif request.is_azure_blob:
        fallback = "InternalError" if fault.status >= 500 else "InvalidInput"
        code = fault.error_code or AZURE_BLOB_ERRORS.get(fault.status, fallback)
        headers += [
            ("Content-Type", "application/xml"),
            ("x-ms-error-code", code),
            ("x-ms-request-id", "fault-proxy"),
        ]
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ).encode()
    elif request.is_google:
        if fault.status >= 500:
            fallback = ("INTERNAL", "backendError")
        elif fault.status >= 400:
            fallback = ("INVALID_ARGUMENT", "invalid")
        else:
            fallback = ("UNKNOWN", "unknown")
        canonical, default_reason = GOOGLE_ERRORS.get(fault.status, fallback)
        reason = fault.error_code or default_reason
        headers.append(("Content-Type", "application/json; charset=UTF-8"))
        error = {
            "code": fault.status,
            "message": message,
            "status": canonical,
            "errors": [{"domain": "global", "reason": reason, "message": message}],
        }
        body = json.dumps({"error": error}).encode()
    else:
        default_codes = {500: "InternalError", 503: "SlowDown", 429: "SlowDown"}
        code = fault.error_code or default_codes.get(fault.status, "InjectedFault")
        headers.append(("Content-Type", "application/xml"))
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            "<RequestId>fault-proxy</RequestId></Error>"
        ).encode()
    if request.method == "HEAD":
        body = b""
    return fault.status, http.client.responses.get(fault.status, "Error"), headers, body


class ProxyHandler(socketserver.BaseRequestHandler):
    """Serve one client connection, which may carry several requests."""

    def handle(self):
        reader = self.request.makefile("rb")
        try:
            while True:
                try:
                    request = read_request(reader, self.request.sendall)
                except BadRequest as error:
                    log.warning("rejected a request: %s", error)
                    body = f"bad request: {error}\n".encode()
                    self.request.sendall(
                        serialize_response(400, "Bad Request", [], body, close=True)
                    )
                    return
                if request is None:
                    return
                if request.path.startswith(CONTROL_PREFIX):
                    self.request.sendall(self.handle_control(request))
                elif not self.handle_proxied(request, reader):
                    return
                if request.wants_close:
                    return
        except (ConnectionError, TimeoutError) as error:
            log.info("client connection ended: %s", error)
        finally:
            reader.close()

    def handle_control(self, request):
        url = urllib.parse.urlsplit(request.path)
        action = url.path[len(CONTROL_PREFIX) :]
        state = self.server.state
        status, body = 200, ""
        if action == "queue" and request.method == "POST":
            try:
                fault = Fault(urllib.parse.parse_qs(url.query, keep_blank_values=True))
            except ValueError as error:
                status, body = 400, f"invalid fault: {error}\n"
            else:
                state.queue(fault)
                log.info(
                    "queued %s for %d request(s) (method %s, target %s, path %s)",
                    fault.describe(),
                    fault.remaining,
                    fault.method or "any",
                    fault.target or "any",
                    "any" if fault.path is None else f"containing {fault.path!r}",
                )
                body = "queued\n"
        elif action == "counters" and request.method == "GET":
            body = state.counters_text()
        elif action == "clear" and request.method == "POST":
            state.clear()
            body = "cleared\n"
        else:
            status = 404
            body = f"unknown control request {request.method} {url.path}\n"
        return serialize_response(
            status,
            http.client.responses[status],
            [("Content-Type", "text/plain")],
            body.encode(),
            close=request.wants_close,
        )

    def handle_proxied(self, request, reader):
        """Apply a fault or forward `request`; return whether to keep going."""
        state = self.server.state
        fault = state.record_and_take_fault(request)
        label = f"{request.method} {request.path}"
        if fault is not None and fault.kind == "status":
            log.info("%s: responded with injected %s", label, fault.describe())
            self.request.sendall(
                serialize_response(
                    *error_response(request, fault), close=request.wants_close
                )
            )
            return True
        if fault is not None and fault.kind == "reset":
            log.info("%s: connection reset without forwarding", label)
            self.reset_connection(reader)
            return False
        if fault is not None and fault.kind == "delay":
            log.info("%s: delayed %d ms", label, fault.delay_ms)
            time.sleep(fault.delay_ms / 1000)

        try:
            response = self.forward(request)
        except (OSError, http.client.HTTPException) as error:
            log.warning("%s: forwarding failed: %s", label, error)
            body = f"fault_proxy: forwarding to the upstream failed: {error}\n"
            self.request.sendall(
                serialize_response(
                    502,
                    "Bad Gateway",
                    [("Content-Type", "text/plain")],
                    body.encode(),
                    close=True,
                )
            )
            return False
        state.record_forwarded()
        if fault is not None and fault.kind == "forward_reset":
            log.info(
                "%s: upstream returned %d, client connection reset",
                label,
                response[0],
            )
            self.reset_connection(reader)
            return False
        log.info("%s: upstream returned %d", label, response[0])
        status, reason, headers, body, add_length = response
        self.request.sendall(
            serialize_response(
                status, reason, headers, body, request.wants_close, add_length
            )
        )
        return True

    def forward(self, request):
        """Send `request` upstream unchanged and return its response.

        Returns (status, reason, headers, body, add_length), where
        add_length is whether the proxy must add a Content-Length.
        """
        host, port = self.server.upstream
        with socket.create_connection(
            (host, port), timeout=UPSTREAM_TIMEOUT_SECONDS
        ) as upstream:
            upstream.sendall(request.raw_head + request.raw_body)
            # HTTPResponse skips 100 Continue and decodes chunked bodies.
            response = http.client.HTTPResponse(upstream, method=request.method)
            response.begin()
            body = response.read()
            bodiless = (
                request.method == "HEAD" or response.status in BODILESS_STATUSES
            )
            dropped = DROPPED_RESPONSE_HEADERS
            if bodiless:
                dropped = dropped - {"content-length"}
            headers = [
                (name, value)
                for name, value in response.getheaders()
                if name.lower() not in dropped
            ]
            return response.status, response.reason, headers, body, not bodiless

    def reset_connection(self, reader):
        """Close the client socket so that the client sees a TCP reset."""
        reader.close()
        self.request.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
        self.request.close()


class ProxyServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, upstream):
        super().__init__(address, ProxyHandler)
        self.upstream = upstream
        self.state = State()


def parse_upstream(url):
    """Return (host, port) of an http:// loopback URL without a path."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"upstream URL {url!r} is invalid; expected http://HOST:PORT")
    if parts.path not in ("", "/") or parts.query:
        raise ValueError(
            f"upstream URL {url!r} has a path or query; requests keep their own path"
        )
    host = parts.hostname
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"upstream host {host!r} is not a loopback address")
    return host, parts.port or 80


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("upstream", help="base URL to forward to, http://HOST:PORT")
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop the proxy when stdin reaches end of file",
    )
    args = parser.parse_args()
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="fault_proxy: %(message)s"
    )
    try:
        upstream = parse_upstream(args.upstream)
    except ValueError as error:
        parser.error(str(error))

    server = ProxyServer(("127.0.0.1", 0), upstream)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.exit_on_stdin_eof:

        def watch_stdin():
            while sys.stdin.buffer.read(4096):
                pass
            stop.set()

        threading.Thread(target=watch_stdin, daemon=True).start()

    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=10):
        pass
    sys.stdout.write(f"READY http://{host}:{port}\n")
    sys.stdout.flush()

    # A timed wait lets the main thread run the signal handlers promptly.
    while not stop.wait(1):
        pass
    # The server threads are daemon threads, so returning ends them without
    # the half-second poll of a graceful shutdown.
    return 0


if __name__ == "__main__":
    sys.exit(main())
