#!/usr/bin/env python3
"""Loopback fake of Google's OAuth2 token endpoint, GCE metadata and Cloud KMS.

One threaded HTTP server binds 127.0.0.1 on a free port, writes the
credential files named by the flags, and then prints
"READY http://127.0.0.1:PORT" on stdout. It needs the standard library and
the `cryptography` package, and exits with code 3 when that package is
missing. Every access token it issues starts with "ya29.FakeGcpToken-", and
every client secret and refresh token contains "FakeGcp", so tests can check
that none of them reaches a log or an error message. The log on stderr names
operations, resource names and statuses, never tokens, keys or data.

OAuth2 token endpoint, POST /token with Content-Type
application/x-www-form-urlencoded:
  grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT
      The JWT must be three unpadded base64url parts with header alg RS256,
      typ JWT and kid equal to the private_key_id of the account named by
      iss. The RS256 signature must verify with that account's key, and aud
      must equal this server's /token URL. iat must be within 300 seconds of
      now, and exp after now and at most 3600 seconds after iat. scope must
      contain .../auth/cloud-platform, .../auth/cloudkms or
      .../auth/devstorage.read_write.
  grant_type=refresh_token&client_id=..&client_secret=..&refresh_token=..
      for an authorized_user file that this fake wrote.
  Success: 200 {"access_token", "expires_in", "token_type": "Bearer"}, plus
  "scope" for refresh_token. Failure: 400 {"error": "invalid_grant" |
  "invalid_request" | "invalid_scope" | "unsupported_grant_type",
  "error_description"}, or 401 {"error": "invalid_client", ...} for an
  unknown iss or client.

GCE metadata server, GET only:
  /computeMetadata/v1/instance/service-accounts/default/token[?scopes=a,b]
  /computeMetadata/v1/instance/service-accounts/default/email
  /computeMetadata/v1/project/project-id
  A request needs "Metadata-Flavor: Google" (else 403 text) and must not
  carry X-Forwarded-For (else 403 text). Responses carry
  "Metadata-Flavor: Google" unless the control API turns that off.

Cloud KMS REST v1, with "Authorization: Bearer TOKEN" from this fake:
  GET  /v1/projects/P/locations/L/keyRings/R/cryptoKeys/K
  GET  /v1/.../cryptoKeys/K/cryptoKeyVersions/N
  POST /v1/.../cryptoKeys/K:encrypt and .../cryptoKeyVersions/N:encrypt
  POST /v1/.../cryptoKeys/K:decrypt
  Errors use Google's shape {"error": {"code", "message", "status",
  "details"?}}. Ciphertexts are AES-256-GCM under a random key per
  CryptoKeyVersion, with the request AAD as associated data, and carry the
  id of the version that made them.

Control API under /__control__/ (JSON, no authentication, not logged as
requests):
  POST   keys            create a key: {"name"} or {"project", "location",
                         "key_ring", "key"}, optional "purpose",
                         "protection_level", "algorithm", "primary_state",
                         "deny"; returns {"name", "primary"}
  POST   rotate          {"name"}: add an ENABLED version and make it the
                         primary; returns {"name", "primary"}
  POST   version-state   {"name": version name, "state"}
  POST   deny            {"name", "deny": bool}
  POST   faults          {"operation", "kind", "count", "status"?,
                         "status_name"?, "message"?}
  DELETE faults          drop queued faults
  POST   metadata        {"flavor_header"?, "project_id"?, "email"?}
  POST   config          {"token_lifetime"?, "missing_key_status"?}
  POST   issue-token     {"scopes"?}: returns {"access_token", "expires_in"}
  POST   expire-tokens   expire every token issued so far
  GET    requests        {"requests": [...]}, one entry per request
  DELETE requests        clear that list
  GET    state           counters and keys, without key material

Fault operations and their kinds:
  token, metadata_token, get   status
  encrypt                      status, corrupt_checksum, corrupt_data,
                               omit_verified
  decrypt                      status, corrupt_checksum, corrupt_data
A "status" fault fails the next requests of its operation that pass
authentication with that HTTP status, without doing the operation. The
other kinds change the next successful responses.

NOTE: Google does not publish the exact wording of most error messages. The
messages here keep the field names and phrases of real responses where
known, and the status codes follow the Cloud KMS reference.
"""

import argparse
import base64
import binascii
import datetime
import http.server
import json
import logging
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse

EXIT_CRYPTOGRAPHY_MISSING = 3

try:
    from cryptography.exceptions import InvalidSignature, InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError as import_error:
    sys.stderr.write(
        f"gcp_fake: cannot import cryptography ({import_error}); "
        "run scripts/install-test-tools.sh\n"
    )
    sys.exit(EXIT_CRYPTOGRAPHY_MISSING)

LOG = logging.getLogger("gcp_fake")

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE_CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
SCOPE_CLOUDKMS = "https://www.googleapis.com/auth/cloudkms"
SCOPE_STORAGE = "https://www.googleapis.com/auth/devstorage.read_write"
TOKEN_SCOPES = {SCOPE_CLOUD_PLATFORM, SCOPE_CLOUDKMS, SCOPE_STORAGE}
KMS_SCOPES = {SCOPE_CLOUD_PLATFORM, SCOPE_CLOUDKMS}
# Google accepts assertions whose iat is at most this far from its clock, and
# lifetimes (exp - iat) up to one hour.
MAX_CLOCK_SKEW_SECONDS = 300
MAX_ASSERTION_LIFETIME_SECONDS = 3600
ACCESS_TOKEN_PREFIX = "ya29.FakeGcpToken-"

# Size limits of EncryptRequest from the Cloud KMS reference.
MAX_DATA_BYTES = 64 * 1024
MAX_HSM_COMBINED_BYTES = 8 * 1024
MAX_REQUEST_BODY_BYTES = 1024 * 1024

METADATA_PREFIX = "/computeMetadata/v1/"
METADATA_TOKEN_PATH = METADATA_PREFIX + "instance/service-accounts/default/token"
METADATA_EMAIL_PATH = METADATA_PREFIX + "instance/service-accounts/default/email"
METADATA_PROJECT_PATH = METADATA_PREFIX + "project/project-id"

REALM = 'Bearer realm="https://accounts.google.com/"'

KEY_NAME = r"projects/[^/:]+/locations/[^/:]+/keyRings/[^/:]+/cryptoKeys/[^/:]+"
VERSION_NAME = KEY_NAME + r"/cryptoKeyVersions/[^/:]+"
KEY_NAME_RE = re.compile(
    r"^projects/([^/:]+)/locations/([^/:]+)/keyRings/([^/:]+)/cryptoKeys/([^/:]+)$"
)
VERSION_NAME_RE = re.compile(rf"^({KEY_NAME})/cryptoKeyVersions/(\d+)$")
RESOURCE_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,63}$")
KMS_ROUTES = [
    ("GET", re.compile(rf"^/v1/({KEY_NAME})$"), "get"),
    ("GET", re.compile(rf"^/v1/({VERSION_NAME})$"), "get_version"),
    ("POST", re.compile(rf"^/v1/({KEY_NAME}):encrypt$"), "encrypt"),
    ("POST", re.compile(rf"^/v1/({VERSION_NAME}):encrypt$"), "encrypt"),
    ("POST", re.compile(rf"^/v1/({KEY_NAME}):decrypt$"), "decrypt"),
]

# IAM permission checked by each operation, as named in 403 messages.
PERMISSIONS = {
    "get": "cloudkms.cryptoKeys.get",
    "get_version": "cloudkms.cryptoKeyVersions.get",
    "encrypt": "cloudkms.cryptoKeyVersions.useToEncrypt",
    "decrypt": "cloudkms.cryptoKeyVersions.useToDecrypt",
}

# Request fields of EncryptRequest and DecryptRequest in proto3 JSON, with
# their proto names, which Google's error messages use.
ENCRYPT_FIELDS = {
    "plaintext": ("plaintext", "bytes"),
    "additionalAuthenticatedData": ("additional_authenticated_data", "bytes"),
    "plaintextCrc32c": ("plaintext_crc32c", "int64"),
    "additionalAuthenticatedDataCrc32c": (
        "additional_authenticated_data_crc32c",
        "int64",
    ),
}
DECRYPT_FIELDS = {
    "ciphertext": ("ciphertext", "bytes"),
    "additionalAuthenticatedData": ("additional_authenticated_data", "bytes"),
    "ciphertextCrc32c": ("ciphertext_crc32c", "int64"),
    "additionalAuthenticatedDataCrc32c": (
        "additional_authenticated_data_crc32c",
        "int64",
    ),
}

PURPOSE_ALGORITHMS = {
    "ENCRYPT_DECRYPT": "GOOGLE_SYMMETRIC_ENCRYPTION",
    "RAW_ENCRYPT_DECRYPT": "AES_256_GCM",
    "ASYMMETRIC_SIGN": "EC_SIGN_P256_SHA256",
    "ASYMMETRIC_DECRYPT": "RSA_DECRYPT_OAEP_2048_SHA256",
    "MAC": "HMAC_SHA256",
}
PROTECTION_LEVELS = {"SOFTWARE", "HSM", "EXTERNAL", "EXTERNAL_VPC"}
VERSION_STATES = {
    "PENDING_GENERATION",
    "ENABLED",
    "DISABLED",
    "DESTROYED",
    "DESTROY_SCHEDULED",
    "PENDING_IMPORT",
    "IMPORT_FAILED",
    "GENERATION_FAILED",
    "PENDING_EXTERNAL_DESTRUCTION",
    "EXTERNAL_DESTRUCTION_FAILED",
}

# Canonical google.rpc.Code name for each HTTP status that faults may use.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

FAULT_KINDS = {
    "token": {"status"},
    "metadata_token": {"status"},
    "get": {"status"},
    "encrypt": {"status", "corrupt_checksum", "corrupt_data", "omit_verified"},
    "decrypt": {"status", "corrupt_checksum", "corrupt_data"},
}

# Ciphertext layout: format byte, 16-byte version id, 12-byte nonce, then
# AES-GCM output (ciphertext and 16-byte tag). The first 17 bytes are also
# part of the GCM associated data, so a changed version id fails the tag.
CIPHERTEXT_FORMAT = 1
VERSION_ID_BYTES = 16
NONCE_BYTES = 12
HEADER_BYTES = 1 + VERSION_ID_BYTES
MIN_CIPHERTEXT_BYTES = HEADER_BYTES + NONCE_BYTES + 16

DECRYPTION_FAILED = (
    "Decryption failed: verify that 'name' refers to the correct CryptoKey."
)


# -- CRC-32C (Castagnoli) ------------------------------------------------------


def _crc32c_table():
    table = []
    for index in range(256):
        crc = index
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


CRC32C_TABLE = _crc32c_table()


def crc32c(data):
    """Return the CRC-32C of `data`: reflected polynomial 0x82F63B78, initial
    value and final XOR 0xFFFFFFFF."""
    crc = 0xFFFFFFFF
    table = CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# -- encodings -----------------------------------------------------------------


def b64encode(data):
    return base64.b64encode(data).decode("ascii")


def b64decode_any(text):
    """Decode standard or URL-safe base64, padded or not. Raises ValueError."""
    if not isinstance(text, str):
        raise ValueError("not a string")
    if not re.fullmatch(r"[A-Za-z0-9+/_-]*={0,2}", text):
        raise ValueError("invalid character")
    stripped = text.rstrip("=").replace("-", "+").replace("_", "/")
    if len(stripped) % 4 == 1:
        raise ValueError("invalid length")
    padded = stripped + "=" * (-len(stripped) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except binascii.Error as error:
        raise ValueError(str(error)) from None


def b64url_decode_unpadded(text):
    """Decode one JWT segment: base64url without padding. Raises ValueError."""
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rfc3339(timestamp):
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- state ---------------------------------------------------------------------


class KeyVersion:
    def __init__(self, key, number, state):
        self.key = key
        self.number = number
        self.name = f"{key.name}/cryptoKeyVersions/{number}"
        self.state = state
        self.protection_level = key.protection_level
        self.algorithm = key.algorithm
        self.version_id = secrets.token_bytes(VERSION_ID_BYTES)
        self.material = AESGCM.generate_key(bit_length=256)
        self.create_time = time.time()
        self.destroy_time = None

    def to_json(self):
        document = {
            "name": self.name,
            "state": self.state,
            "protectionLevel": self.protection_level,
            "algorithm": self.algorithm,
            "createTime": rfc3339(self.create_time),
            "generateTime": rfc3339(self.create_time),
        }
        if self.destroy_time is not None:
            document["destroyTime"] = rfc3339(self.destroy_time)
            document["destroyEventTime"] = rfc3339(self.destroy_time)
        return document


class CryptoKey:
    def __init__(self, name, purpose, protection_level, algorithm, deny):
        self.name = name
        self.purpose = purpose
        self.protection_level = protection_level
        self.algorithm = algorithm
        self.deny = deny
        self.create_time = time.time()
        self.versions = {}
        self.primary = None

    def add_version(self, state):
        number = len(self.versions) + 1
        version = KeyVersion(self, number, state)
        self.versions[number] = version
        # Only symmetric ENCRYPT_DECRYPT keys have a primary version.
        if self.purpose == "ENCRYPT_DECRYPT":
            self.primary = number
        return version

    def to_json(self):
        document = {
            "name": self.name,
            "purpose": self.purpose,
            "createTime": rfc3339(self.create_time),
            "versionTemplate": {
                "protectionLevel": self.protection_level,
                "algorithm": self.algorithm,
            },
            "destroyScheduledDuration": "2592000s",
        }
        if self.primary is not None:
            document["primary"] = self.versions[self.primary].to_json()
        return document


class ServiceAccount:
    def __init__(self, project_id, index):
        self.private_key = rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
        self.private_key_id = secrets.token_hex(20)
        self.client_email = (
            f"dekms-test-{index}@{project_id}.iam.gserviceaccount.com"
        )
        self.client_id = str(secrets.randbelow(10**21 - 10**20) + 10**20)


class AuthorizedUser:
    def __init__(self):
        self.client_id = (
            f"{secrets.randbelow(10**12)}-fake{secrets.token_hex(8)}"
            ".apps.googleusercontent.com"
        )
        # '+', '/' and '=' make an unencoded form body fail, as with Google.
        self.client_secret = f"FakeGcpSecret+{secrets.token_hex(8)}/="
        self.refresh_token = f"1//FakeGcpRefresh+{secrets.token_hex(16)}/="


class Fake:
    """All state of one fake server, guarded by `lock`."""

    def __init__(self, project_id, token_lifetime):
        self.lock = threading.Lock()
        self.base_url = None
        self.project_id = project_id
        self.token_lifetime = token_lifetime
        self.missing_key_status = 404
        self.metadata_flavor_header = True
        self.metadata_email = (
            f"{secrets.randbelow(10**12)}-compute@developer.gserviceaccount.com"
        )
        self.accounts = {}
        self.users = {}
        # access token -> {"deadline": time.monotonic() value, "scopes": set}
        self.tokens = {}
        self.keys = {}
        self.versions_by_id = {}
        self.faults = []
        self.requests = []
        self.counters = {
            "requests": 0,
            "token_endpoint_tokens": 0,
            "metadata_tokens": 0,
            "control_tokens": 0,
        }

    @property
    def token_uri(self):
        return self.base_url + "/token"

    def issue_token(self, scopes, counter):
        token = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.tokens[token] = {
            "deadline": time.monotonic() + self.token_lifetime,
            "scopes": set(scopes),
        }
        self.counters[counter] += 1
        return token

    def take_fault(self, operation, kinds):
        """Remove one use of the first queued fault for `operation` whose kind
        is in `kinds`, and return it, or None."""
        for fault in self.faults:
            if fault["operation"] == operation and fault["kind"] in kinds:
                fault["remaining"] -= 1
                if fault["remaining"] <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def create_key(self, name, purpose, protection_level, algorithm, state, deny):
        key = CryptoKey(name, purpose, protection_level, algorithm, deny)
        version = key.add_version(state)
        self.keys[name] = key
        self.versions_by_id[version.version_id] = version
        return key

    def find_version(self, name):
        match = VERSION_NAME_RE.match(name)
        if not match:
            return None
        key = self.keys.get(match.group(1))
        if key is None:
            return None
        return key.versions.get(int(match.group(2)))


FAKE = None


# -- errors --------------------------------------------------------------------


class ApiError(Exception):
    """A Google API error response: HTTP status, canonical status, message."""

    def __init__(self, code, status, message, details=None, headers=()):
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details
        self.headers = list(headers)

    def body(self):
        error = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return json.dumps({"error": error}, indent=2).encode()


class OAuthError(Exception):
    """An OAuth2 token endpoint error: HTTP status, error code, description."""

    def __init__(self, code, error, description):
        super().__init__(description)
        self.code = code
        self.error = error
        self.description = description


def invalid_request(description):
    return OAuthError(400, "invalid_request", description)


def invalid_grant(description):
    return OAuthError(400, "invalid_grant", description)


def invalid_argument(message):
    return ApiError(400, "INVALID_ARGUMENT", message)


def invalid_json(message):
    violation = {"description": message}
    return ApiError(
        400,
        "INVALID_ARGUMENT",
        message,
        [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [violation],
            }
        ],
    )


def failed_precondition(message):
    return ApiError(400, "FAILED_PRECONDITION", message)


def permission_denied(operation, resource):
    permission = PERMISSIONS[operation]
    return ApiError(
        403,
        "PERMISSION_DENIED",
        f"Permission '{permission}' denied on resource '{resource}' "
        "(or it may not exist).",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": "cloudkms.googleapis.com",
                "metadata": {"permission": permission, "resource": resource},
            }
        ],
    )


def not_found(kind, resource, operation):
    if FAKE.missing_key_status == 403:
        return permission_denied(operation, resource)
    return ApiError(404, "NOT_FOUND", f"{kind} {resource} not found.")


def unauthenticated(message, header):
    return ApiError(
        401, "UNAUTHENTICATED", message, headers=[("WWW-Authenticate", header)]
    )


# -- HTTP handler --------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gcp_fake"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", content_type="text/plain", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def reply_json(self, status, document, headers=()):
        body = json.dumps(document, indent=2).encode()
        self.reply(status, body, "application/json; charset=UTF-8", headers)

    def reply_api_error(self, error):
        self.reply(
            error.code,
            error.body(),
            "application/json; charset=UTF-8",
            error.headers,
        )

    def reply_not_found(self, path):
        # Google's front end returns an HTML page for unknown URLs.
        page = (
            "<!DOCTYPE html>\n<html lang=en><title>Error 404 (Not Found)</title>"
            f"<p>The requested URL <code>{path[:200]}</code> was not found on "
            "this server.</p></html>\n"
        )
        self.reply(404, page.encode(), "text/html; charset=UTF-8")

    def reject_body(self, status, reason):
        """Log and send a text error for a request body that cannot be read,
        and close the connection, whose position in the stream is unknown."""
        LOG.info("%s %s -> %d (%s)", self.command, self.path[:200], status, reason)
        self.reply(status, f"{status}. {reason}.\n".encode())
        self.close_connection = True

    def read_body(self):
        """Return the request body, or None after replying with an error."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self.read_chunked_body()
        length = self.headers.get("Content-Length")
        if length is None:
            if self.command in ("POST", "PUT"):
                # Google's front ends require a length for bodies.
                self.reject_body(411, "Length Required")
                return None
            return b""
        if not length.isdigit():
            self.reject_body(400, "Invalid Content-Length")
            return None
        if int(length) > MAX_REQUEST_BODY_BYTES:
            self.reject_body(413, "Request Entity Too Large")
            return None
        return self.rfile.read(int(length))

    def read_chunked_body(self):
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                self.reject_body(400, "Malformed chunked body")
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                return bytes(body)
            if len(body) + size > MAX_REQUEST_BODY_BYTES:
                self.reject_body(413, "Request Entity Too Large")
                return None
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        body = self.read_body()
        if body is None:
            return
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path
        if path.startswith("/__control__/"):
            self.control(path[len("/__control__/"):], body)
            return
        with FAKE.lock:
            FAKE.counters["requests"] += 1
        if path == "/token":
            self.token_endpoint(body)
        elif path.startswith(METADATA_PREFIX):
            self.metadata(path, parts.query)
        elif path.startswith("/v1/"):
            self.kms(path, body)
        else:
            self.record({"role": "other", "operation": "unknown", "status": 404})
            LOG.info("%s %s -> 404 (unknown path)", self.command, path[:200])
            self.reply_not_found(path)

    def record(self, entry):
        with FAKE.lock:
            entry["seq"] = len(FAKE.requests) + 1
            entry["method"] = self.command
            FAKE.requests.append(entry)

    # -- OAuth2 token endpoint ------------------------------------------------

    def token_endpoint(self, body):
        entry = {"role": "token", "operation": "unknown", "name": None}
        try:
            if self.command != "POST":
                raise OAuthError(
                    405, "invalid_request", "The token endpoint takes POST."
                )
            form = self.parse_token_form(body)
            grant_type = form.get("grant_type")
            if grant_type is None:
                raise invalid_request("Missing required parameter: grant_type")
            with FAKE.lock:
                fault = FAKE.take_fault("token", {"status"})
            if fault is not None:
                entry["fault"] = "status"
                raise OAuthError(
                    fault["status"],
                    fault.get("status_name") or "internal_failure",
                    fault.get("message") or "Backend Error",
                )
            if grant_type == JWT_BEARER_GRANT:
                entry["operation"] = "jwt_bearer"
                response = self.jwt_bearer_grant(form, entry)
            elif grant_type == "refresh_token":
                entry["operation"] = "refresh_token"
                response = self.refresh_token_grant(form, entry)
            else:
                raise OAuthError(
                    400,
                    "unsupported_grant_type",
                    f"Invalid grant_type: {grant_type[:100]}",
                )
        except OAuthError as error:
            entry["status"] = error.code
            entry["error"] = error.error
            self.record(entry)
            LOG.info(
                "token %s %s -> %d %s",
                entry["operation"],
                entry["name"] or "-",
                error.code,
                error.error,
            )
            self.reply_json(
                error.code,
                {"error": error.error, "error_description": error.description},
                [("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")],
            )
            return
        entry["status"] = 200
        self.record(entry)
        LOG.info("token %s %s -> 200", entry["operation"], entry["name"])
        self.reply_json(
            200,
            response,
            [("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")],
        )

    def parse_token_form(self, body):
        content_type = self.headers.get("Content-Type", "")
        if not content_type.lower().startswith("application/x-www-form-urlencoded"):
            raise invalid_request(
                "Content-Type must be application/x-www-form-urlencoded."
            )
        try:
            form = urllib.parse.parse_qs(
                body.decode("ascii"), keep_blank_values=True, strict_parsing=bool(body)
            )
        except (UnicodeDecodeError, ValueError):
            raise invalid_request("The form body does not parse.") from None
        for name, values in form.items():
            if len(values) != 1:
                raise invalid_request(f"Parameter {name[:50]} appears more than once.")
        return {name: values[0] for name, values in form.items()}

    def jwt_bearer_grant(self, form, entry):
        assertion = form.get("assertion")
        if not assertion:
            raise invalid_request("Missing required parameter: assertion")
        segments = assertion.split(".")
        if len(segments) != 3:
            raise invalid_grant("Invalid JWT: the assertion must have three segments.")
        try:
            header = json.loads(b64url_decode_unpadded(segments[0]))
            claims = json.loads(b64url_decode_unpadded(segments[1]))
            signature = b64url_decode_unpadded(segments[2])
        except (ValueError, UnicodeDecodeError):
            raise invalid_grant(
                "Invalid JWT: segments must be unpadded base64url JSON."
            ) from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise invalid_grant("Invalid JWT: header and claims must be objects.")
        if header.get("alg") != "RS256" or header.get("typ") != "JWT":
            raise invalid_grant("Invalid JWT: header must have alg RS256 and typ JWT.")

        issuer = claims.get("iss")
        with FAKE.lock:
            account = FAKE.accounts.get(issuer) if isinstance(issuer, str) else None
        if isinstance(issuer, str):
            entry["name"] = issuer[:200]
        if account is None:
            raise OAuthError(401, "invalid_client", "The OAuth client was not found.")
        if header.get("kid") != account.private_key_id:
            raise invalid_grant("Invalid JWT Signature.")
        signed = f"{segments[0]}.{segments[1]}".encode("ascii")
        try:
            account.private_key.public_key().verify(
                signature, signed, padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            raise invalid_grant("Invalid JWT Signature.") from None

        if claims.get("aud") != FAKE.token_uri:
            raise invalid_grant(
                "Invalid JWT: Failed audience check. The expected audience is "
                f"{FAKE.token_uri}."
            )
        self.check_assertion_times(claims)
        scope = claims.get("scope")
        scopes = set(scope.split()) if isinstance(scope, str) else set()
        if not scopes & TOKEN_SCOPES:
            raise OAuthError(
                400,
                "invalid_scope",
                "Invalid OAuth scope or ID token audience provided.",
            )
        with FAKE.lock:
            token = FAKE.issue_token(scopes, "token_endpoint_tokens")
            lifetime = FAKE.token_lifetime
        return {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}

    @staticmethod
    def check_assertion_times(claims):
        issued_at = claims.get("iat")
        expires = claims.get("exp")
        now = time.time()
        valid = (
            isinstance(issued_at, (int, float))
            and not isinstance(issued_at, bool)
            and isinstance(expires, (int, float))
            and not isinstance(expires, bool)
            and abs(now - issued_at) <= MAX_CLOCK_SKEW_SECONDS
            and expires > now
            and expires > issued_at
            and expires - issued_at <= MAX_ASSERTION_LIFETIME_SECONDS
        )
        if not valid:
            raise invalid_grant(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in "
                "a reasonable timeframe. Check your iat and exp values in the JWT "
                "claim.",
            )

    def refresh_token_grant(self, form, entry):
        for name in ("client_id", "client_secret", "refresh_token"):
            if not form.get(name):
                raise invalid_request(f"Missing required parameter: {name}")
        with FAKE.lock:
            user = FAKE.users.get(form["client_id"])
        if user is None or not secrets.compare_digest(
            user.client_secret, form["client_secret"]
        ):
            raise OAuthError(401, "invalid_client", "Unauthorized")
        entry["name"] = user.client_id
        if not secrets.compare_digest(user.refresh_token, form["refresh_token"]):
            raise invalid_grant("Bad Request")
        scopes = {SCOPE_CLOUD_PLATFORM}
        with FAKE.lock:
            token = FAKE.issue_token(scopes, "token_endpoint_tokens")
            lifetime = FAKE.token_lifetime
        return {
            "access_token": token,
            "expires_in": lifetime,
            "scope": " ".join(sorted(scopes)),
            "token_type": "Bearer",
        }

    # -- GCE metadata server --------------------------------------------------

    def metadata(self, path, query):
        operations = {
            METADATA_TOKEN_PATH: "token",
            METADATA_EMAIL_PATH: "email",
            METADATA_PROJECT_PATH: "project_id",
        }
        flavor = self.headers.get("Metadata-Flavor")
        entry = {
            "role": "metadata",
            "operation": operations.get(path, "unknown"),
            "name": path,
            "metadata_flavor": flavor == "Google",
            "forwarded": "X-Forwarded-For" in self.headers,
        }
        with FAKE.lock:
            send_flavor = FAKE.metadata_flavor_header
        headers = [("Metadata-Flavor", "Google")] if send_flavor else []

        def finish(status, body, content_type="text/plain; charset=utf-8"):
            entry["status"] = status
            self.record(entry)
            LOG.info("metadata %s -> %d", entry["operation"], status)
            self.reply(status, body, content_type, headers)

        # NOTE: a proxied request (one with X-Forwarded-For) gets 403 like
        # one without Metadata-Flavor. The status that the real server uses
        # for it is an assumption.
        if entry["forwarded"]:
            finish(
                403,
                b"Requests with X-Forwarded-For are rejected by the metadata "
                b"server.\n",
            )
            return
        if flavor != "Google":
            finish(
                403,
                (
                    f"Your client does not have permission to get URL {path} from "
                    "this server. Missing Metadata-Flavor:Google header.\n"
                ).encode(),
            )
            return
        if self.command != "GET":
            finish(405, b"Method Not Allowed\n")
            return
        if entry["operation"] == "project_id":
            finish(200, FAKE.project_id.encode())
        elif entry["operation"] == "email":
            finish(200, FAKE.metadata_email.encode())
        elif entry["operation"] == "token":
            with FAKE.lock:
                fault = FAKE.take_fault("metadata_token", {"status"})
            if fault is not None:
                entry["fault"] = "status"
                message = fault.get("message") or "metadata server error"
                finish(fault["status"], (message + "\n").encode())
                return
            requested = urllib.parse.parse_qs(query).get("scopes")
            scopes = (
                {s for s in requested[0].split(",") if s}
                if requested
                else {SCOPE_CLOUD_PLATFORM}
            )
            with FAKE.lock:
                token = FAKE.issue_token(scopes, "metadata_tokens")
                lifetime = FAKE.token_lifetime
            document = {
                "access_token": token,
                "expires_in": lifetime,
                "token_type": "Bearer",
            }
            finish(200, json.dumps(document).encode(), "application/json")
        else:
            finish(404, b"Not Found\n")

    # -- Cloud KMS ------------------------------------------------------------

    def kms(self, path, body):
        route = None
        for method, pattern, operation in KMS_ROUTES:
            match = pattern.match(path)
            if match and method == self.command:
                route = (operation, match.group(1))
                break
        if route is None:
            self.record({"role": "kms", "operation": "unknown", "status": 404})
            LOG.info("kms %s %s -> 404 (no such method)", self.command, path[:200])
            self.reply_not_found(path)
            return
        operation, name = route
        entry = {
            "role": "kms",
            "operation": operation,
            "name": name,
            "authorization": None,
            "fields": [],
            "fault": None,
        }
        try:
            self.check_bearer_token(entry)
            request = self.parse_kms_body(operation, body, entry)
            with FAKE.lock:
                fault = FAKE.take_fault(operation, {"status"})
                if fault is not None:
                    entry["fault"] = "status"
                    status = fault["status"]
                    raise ApiError(
                        status,
                        fault.get("status_name") or STATUS_NAMES.get(status, "UNKNOWN"),
                        fault.get("message") or "The service is currently unavailable.",
                    )
                handler = getattr(self, "kms_" + operation)
                response = handler(name, request, entry)
        except ApiError as error:
            entry["status"] = error.code
            entry["error_status"] = error.status
            self.record(entry)
            LOG.info("kms %s %s -> %d %s", operation, name, error.code, error.status)
            self.reply_api_error(error)
            return
        entry["status"] = 200
        self.record(entry)
        LOG.info(
            "kms %s %s -> 200%s",
            operation,
            name,
            f" (fault {entry['fault']})" if entry["fault"] else "",
        )
        self.reply_json(200, response)

    def check_bearer_token(self, entry):
        """Set entry["authorization"] to "valid", "missing", "invalid" or
        "insufficient_scope", and raise the 401 or 403 for the last three."""
        header = self.headers.get("Authorization")
        if header is None:
            entry["authorization"] = "missing"
            raise unauthenticated(
                "Request is missing required authentication credential. Expected "
                "OAuth 2 access token, login cookie or other valid authentication "
                "credential.",
                REALM,
            )
        scheme, _, token = header.partition(" ")
        with FAKE.lock:
            record = None
            if scheme.lower() == "bearer":
                record = FAKE.tokens.get(token.strip())
            if record is None or record["deadline"] <= time.monotonic():
                entry["authorization"] = "invalid"
                raise unauthenticated(
                    "Request had invalid authentication credentials. Expected OAuth "
                    "2 access token, login cookie or other valid authentication "
                    "credential.",
                    REALM + ', error="invalid_token"',
                )
            if not record["scopes"] & KMS_SCOPES:
                entry["authorization"] = "insufficient_scope"
                raise ApiError(
                    403,
                    "PERMISSION_DENIED",
                    "Request had insufficient authentication scopes.",
                    headers=[
                        (
                            "WWW-Authenticate",
                            REALM + ', error="insufficient_scope", scope="'
                            + " ".join(sorted(KMS_SCOPES)) + '"',
                        )
                    ],
                )
        entry["authorization"] = "valid"

    def parse_kms_body(self, operation, body, entry):
        """Decode the JSON request of encrypt or decrypt into Python values.

        Returns a dict from JSON field name to bytes or int for the fields
        present. Raises ApiError for malformed JSON, unknown fields and
        values of the wrong type."""
        if operation not in ("encrypt", "decrypt"):
            return {}
        fields = ENCRYPT_FIELDS if operation == "encrypt" else DECRYPT_FIELDS
        try:
            document = json.loads(body) if body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise invalid_json(
                "Invalid JSON payload received. Unexpected token."
            ) from None
        if not isinstance(document, dict):
            raise invalid_json("Invalid JSON payload received. Expected an object.")
        entry["fields"] = sorted(document)
        request = {}
        for field, value in document.items():
            if field == "name":
                # A copy of the URL's resource name in the body must be
                # equal to it.
                if value != entry["name"]:
                    raise invalid_argument(
                        "The name in the body does not match the URL."
                    )
                continue
            if field not in fields:
                raise invalid_json(
                    f'Invalid JSON payload received. Unknown name "{field[:100]}": '
                    "Cannot find field."
                )
            if value is None:
                continue
            proto_name, kind = fields[field]
            if kind == "bytes":
                try:
                    request[field] = b64decode_any(value)
                except ValueError:
                    raise invalid_json(
                        f"Invalid value at '{proto_name}' (TYPE_BYTES), Base64 "
                        "decoding failed."
                    ) from None
            else:
                request[field] = self.parse_int64(proto_name, value)
        return request

    @staticmethod
    def parse_int64(proto_name, value):
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and re.fullmatch(r"-?\d{1,19}", value):
            number = int(value)
        else:
            raise invalid_json(
                f"Invalid value at '{proto_name}' (TYPE_INT64), "
                f"{json.dumps(value)[:40]}"
            )
        if not -(2**63) <= number < 2**63:
            raise invalid_json(
                f"Invalid value at '{proto_name}' (TYPE_INT64), {number}"
            )
        return number

    @staticmethod
    def verify_checksum(
        request, data_field, checksum_field, proto_data, proto_checksum
    ):
        """Return True when the checksum field is present and matches, raise
        INVALID_ARGUMENT when it is present and does not match."""
        if checksum_field not in request:
            return False
        if request[checksum_field] != crc32c(request.get(data_field, b"")):
            raise invalid_argument(
                f"The checksum in field {proto_checksum} did not match the data "
                f"in field {proto_data}."
            )
        return True

    # The kms_* methods run with FAKE.lock held.

    def lookup_key(self, name, operation, resource=None):
        """Return the CryptoKey `name`, or raise the error for a missing or
        denied key. 403 messages name `resource`, the requested resource,
        which is `name` unless a version was requested."""
        key = FAKE.keys.get(name)
        if key is None:
            raise not_found("CryptoKey", name, operation)
        if key.deny:
            raise permission_denied(operation, resource or name)
        return key

    def kms_get(self, name, request, entry):
        return self.lookup_key(name, "get").to_json()

    def kms_get_version(self, name, request, entry):
        key_name = VERSION_NAME_RE.match(name)
        key = None
        if key_name:
            key = self.lookup_key(key_name.group(1), "get_version", name)
        version = FAKE.find_version(name)
        if key is None or version is None:
            raise not_found("CryptoKeyVersion", name, "get_version")
        return version.to_json()

    def kms_encrypt(self, name, request, entry):
        version_match = VERSION_NAME_RE.match(name)
        key_name = version_match.group(1) if version_match else name
        if not version_match and "/cryptoKeyVersions/" in name:
            raise not_found("CryptoKeyVersion", name, "encrypt")
        key = self.lookup_key(key_name, "encrypt", name)

        plaintext = request.get("plaintext", b"")
        aad = request.get("additionalAuthenticatedData", b"")
        verified_plaintext = self.verify_checksum(
            request, "plaintext", "plaintextCrc32c", "plaintext", "plaintext_crc32c"
        )
        verified_aad = self.verify_checksum(
            request,
            "additionalAuthenticatedData",
            "additionalAuthenticatedDataCrc32c",
            "additional_authenticated_data",
            "additional_authenticated_data_crc32c",
        )
        if not plaintext:
            raise invalid_argument("plaintext is required.")

        if key.purpose != "ENCRYPT_DECRYPT":
            raise failed_precondition(
                f"{key.name} has purpose {key.purpose}, but encrypt needs a key "
                "with purpose ENCRYPT_DECRYPT."
            )
        if version_match:
            version = key.versions.get(int(version_match.group(2)))
            if version is None:
                raise not_found("CryptoKeyVersion", name, "encrypt")
        else:
            version = key.versions[key.primary]
        self.check_data_limits(version.protection_level, plaintext, aad)
        if version.state != "ENABLED":
            raise failed_precondition(
                f"{version.name} is not enabled, current state is: {version.state}."
            )

        ciphertext = seal(version, plaintext, aad)
        ciphertext_crc = crc32c(ciphertext)
        response = {"name": version.name}
        fault = FAKE.take_fault(
            "encrypt", {"corrupt_checksum", "corrupt_data", "omit_verified"}
        )
        if fault is not None:
            entry["fault"] = fault["kind"]
            if fault["kind"] == "corrupt_checksum":
                ciphertext_crc ^= 0x1
            elif fault["kind"] == "corrupt_data":
                ciphertext = flip_last_bit(ciphertext)
            else:
                verified_plaintext = verified_aad = False
        response["ciphertext"] = b64encode(ciphertext)
        response["ciphertextCrc32c"] = str(ciphertext_crc)
        # proto3 JSON leaves out false booleans.
        if verified_plaintext:
            response["verifiedPlaintextCrc32c"] = True
        if verified_aad:
            response["verifiedAdditionalAuthenticatedDataCrc32c"] = True
        response["protectionLevel"] = version.protection_level
        return response

    @staticmethod
    def check_data_limits(protection_level, plaintext, aad):
        if protection_level == "HSM":
            if len(plaintext) + len(aad) > MAX_HSM_COMBINED_BYTES:
                raise invalid_argument(
                    "The combined length of plaintext and "
                    "additional_authenticated_data must be at most "
                    f"{MAX_HSM_COMBINED_BYTES} bytes for HSM keys."
                )
            return
        if len(plaintext) > MAX_DATA_BYTES:
            raise invalid_argument(
                f"The plaintext must be at most {MAX_DATA_BYTES} bytes."
            )
        if len(aad) > MAX_DATA_BYTES:
            raise invalid_argument(
                "The additional_authenticated_data must be at most "
                f"{MAX_DATA_BYTES} bytes."
            )

    def kms_decrypt(self, name, request, entry):
        key = self.lookup_key(name, "decrypt")
        ciphertext = request.get("ciphertext", b"")
        aad = request.get("additionalAuthenticatedData", b"")
        self.verify_checksum(
            request, "ciphertext", "ciphertextCrc32c", "ciphertext", "ciphertext_crc32c"
        )
        self.verify_checksum(
            request,
            "additionalAuthenticatedData",
            "additionalAuthenticatedDataCrc32c",
            "additional_authenticated_data",
            "additional_authenticated_data_crc32c",
        )
        if not ciphertext:
            raise invalid_argument("ciphertext is required.")
        if len(aad) > MAX_DATA_BYTES:
            raise invalid_argument(
                "The additional_authenticated_data must be at most "
                f"{MAX_DATA_BYTES} bytes."
            )
        if key.purpose != "ENCRYPT_DECRYPT":
            raise failed_precondition(
                f"{key.name} has purpose {key.purpose}, but decrypt needs a key "
                "with purpose ENCRYPT_DECRYPT."
            )

        version = None
        if (
            len(ciphertext) >= MIN_CIPHERTEXT_BYTES
            and ciphertext[0] == CIPHERTEXT_FORMAT
        ):
            version = FAKE.versions_by_id.get(ciphertext[1:HEADER_BYTES])
        if version is None or version.key is not key:
            raise invalid_argument(DECRYPTION_FAILED)
        if version.state != "ENABLED":
            raise failed_precondition(
                f"{version.name} is not enabled, current state is: {version.state}."
            )
        plaintext = open_sealed(version, ciphertext, aad)
        if plaintext is None:
            raise invalid_argument(DECRYPTION_FAILED)

        plaintext_crc = crc32c(plaintext)
        fault = FAKE.take_fault("decrypt", {"corrupt_checksum", "corrupt_data"})
        if fault is not None:
            entry["fault"] = fault["kind"]
            if fault["kind"] == "corrupt_checksum":
                plaintext_crc ^= 0x1
            else:
                plaintext = flip_last_bit(plaintext)
        response = {
            "plaintext": b64encode(plaintext),
            "plaintextCrc32c": str(plaintext_crc),
        }
        if version.number == key.primary:
            response["usedPrimary"] = True
        response["protectionLevel"] = version.protection_level
        return response

    # -- control API ----------------------------------------------------------

    def control(self, path, body):
        try:
            document = json.loads(body) if body.strip() else {}
            if not isinstance(document, dict):
                raise ValueError("the body must be a JSON object")
            action = CONTROL_ACTIONS.get((self.command, path))
            if action is None:
                LOG.info("control %s %s -> 404", self.command, path)
                self.reply_json(
                    404, {"error": f"no control path {self.command} {path}"}
                )
                return
            with FAKE.lock:
                result = action(document)
        except (ValueError, KeyError, TypeError) as error:
            LOG.info("control %s %s -> 400: %s", self.command, path, error)
            self.reply_json(400, {"error": str(error)})
            return
        self.reply_json(200, result)


def seal(version, plaintext, aad):
    header = bytes([CIPHERTEXT_FORMAT]) + version.version_id
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = AESGCM(version.material).encrypt(nonce, plaintext, header + aad)
    return header + nonce + sealed


def open_sealed(version, ciphertext, aad):
    """Return the plaintext, or None when the tag does not verify."""
    header = ciphertext[:HEADER_BYTES]
    nonce = ciphertext[HEADER_BYTES:HEADER_BYTES + NONCE_BYTES]
    try:
        return AESGCM(version.material).decrypt(
            nonce, ciphertext[HEADER_BYTES + NONCE_BYTES:], header + aad
        )
    except InvalidTag:
        return None


def flip_last_bit(data):
    return data[:-1] + bytes([data[-1] ^ 0x01])


# -- control actions -----------------------------------------------------------


def require_string(document, field):
    value = document.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} must be a non-empty string")
    return value


def key_name_from(document):
    if "name" in document:
        name = require_string(document, "name")
    else:
        fields = ("project", "location", "key_ring", "key")
        parts = [require_string(document, field) for field in fields]
        name = "projects/{}/locations/{}/keyRings/{}/cryptoKeys/{}".format(*parts)
    match = KEY_NAME_RE.match(name)
    if not match:
        raise ValueError(f"{name!r} is not a CryptoKey name")
    for part in match.groups()[1:]:
        if not RESOURCE_ID_RE.match(part):
            raise ValueError(f"{part!r} in {name!r} is not a valid resource id")
    return name


def existing_key(document):
    name = key_name_from(document)
    key = FAKE.keys.get(name)
    if key is None:
        raise ValueError(f"no key {name}")
    return key


def choice(document, field, allowed, default):
    value = document.get(field, default)
    if value not in allowed:
        raise ValueError(f"{field} must be one of {sorted(allowed)}, not {value!r}")
    return value


def control_create_key(document):
    name = key_name_from(document)
    if name in FAKE.keys:
        raise ValueError(f"key {name} exists")
    purpose = choice(
        document, "purpose", set(PURPOSE_ALGORITHMS), "ENCRYPT_DECRYPT"
    )
    level = choice(document, "protection_level", PROTECTION_LEVELS, "SOFTWARE")
    algorithm = document.get("algorithm", PURPOSE_ALGORITHMS[purpose])
    state = choice(document, "primary_state", VERSION_STATES, "ENABLED")
    deny = bool(document.get("deny"))

    key = FAKE.create_key(name, purpose, level, algorithm, state, deny)
    if state == "DESTROYED":
        destroy(key.versions[1])
    LOG.info("control: created key %s (%s, %s, %s)", name, purpose, level, state)
    return {"name": name, "primary": key.versions[1].name}


def control_rotate(document):
    key = existing_key(document)
    version = key.add_version("ENABLED")
    FAKE.versions_by_id[version.version_id] = version
    LOG.info("control: rotated %s to %s", key.name, version.name)
    return {"name": key.name, "primary": version.name}


def control_version_state(document):
    name = require_string(document, "name")
    version = FAKE.find_version(name)
    if version is None:
        raise ValueError(f"no key version {name}")
    state = choice(document, "state", VERSION_STATES, None)
    if version.material is None and state != "DESTROYED":
        raise ValueError(f"{name} is destroyed and cannot change state")

    version.state = state
    if state == "DESTROYED":
        destroy(version)
    LOG.info("control: %s is now %s", name, state)
    return {"name": name, "state": state}


def control_deny(document):
    key = existing_key(document)
    key.deny = bool(document.get("deny", True))
    LOG.info("control: deny=%s for %s", key.deny, key.name)
    return {"name": key.name, "deny": key.deny}


def control_clear_faults(document):
    FAKE.faults.clear()
    return {"faults": []}


def control_metadata(document):
    if "flavor_header" in document:
        FAKE.metadata_flavor_header = bool(document["flavor_header"])
    if "project_id" in document:
        FAKE.project_id = require_string(document, "project_id")
    if "email" in document:
        FAKE.metadata_email = require_string(document, "email")
    LOG.info("control: metadata flavor_header=%s", FAKE.metadata_flavor_header)
    return {
        "flavor_header": FAKE.metadata_flavor_header,
        "project_id": FAKE.project_id,
        "email": FAKE.metadata_email,
    }


def control_config(document):
    if "token_lifetime" in document:
        lifetime = document["token_lifetime"]
        if not isinstance(lifetime, int) or lifetime < 1:
            raise ValueError("token_lifetime must be a positive integer")
        FAKE.token_lifetime = lifetime
    if "missing_key_status" in document:
        FAKE.missing_key_status = choice(
            document, "missing_key_status", {403, 404}, 404
        )
    return {
        "token_lifetime": FAKE.token_lifetime,
        "missing_key_status": FAKE.missing_key_status,
    }


def control_issue_token(document):
    scopes = document.get("scopes", [SCOPE_CLOUD_PLATFORM])
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise ValueError("scopes must be a list of strings")
    token = FAKE.issue_token(scopes, "control_tokens")
    return {"access_token": token, "expires_in": FAKE.token_lifetime}


def control_expire_tokens(document):
    for record in FAKE.tokens.values():
        record["deadline"] = 0
    LOG.info("control: expired %d tokens", len(FAKE.tokens))
    return {"expired": len(FAKE.tokens)}


def control_list_requests(document):
    return {"requests": [dict(entry) for entry in FAKE.requests]}


def control_clear_requests(document):
    FAKE.requests.clear()
    return {"requests": []}


def control_state(document):
    keys = {}
    for name, key in FAKE.keys.items():
        keys[name] = {
            "purpose": key.purpose,
            "protection_level": key.protection_level,
            "deny": key.deny,
            "primary": key.versions[key.primary].name if key.primary else None,
            "versions": {v.name: v.state for v in key.versions.values()},
        }
    return {
        "counters": dict(FAKE.counters),
        "faults_pending": sum(fault["remaining"] for fault in FAKE.faults),
        "keys": keys,
    }


def destroy(version):
    version.material = None
    version.destroy_time = time.time()


def queue_fault(document):
    operation = choice(document, "operation", set(FAULT_KINDS), None)
    kind = choice(document, "kind", FAULT_KINDS[operation], None)
    count = document.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive integer")
    fault = {"operation": operation, "kind": kind, "remaining": count}
    if kind == "status":
        status = document.get("status")
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400 to 599)")
        fault["status"] = status
        for optional in ("status_name", "message"):
            if optional in document:
                fault[optional] = require_string(document, optional)
    FAKE.faults.append(fault)
    LOG.info("control: queued fault %s for %d %s calls", kind, count, operation)
    return {"queued": dict(fault)}


# Each control action runs with FAKE.lock held, returns the JSON result and
# raises ValueError for an invalid request.
CONTROL_ACTIONS = {
    ("POST", "keys"): control_create_key,
    ("POST", "rotate"): control_rotate,
    ("POST", "version-state"): control_version_state,
    ("POST", "deny"): control_deny,
    ("POST", "faults"): queue_fault,
    ("DELETE", "faults"): control_clear_faults,
    ("POST", "metadata"): control_metadata,
    ("POST", "config"): control_config,
    ("POST", "issue-token"): control_issue_token,
    ("POST", "expire-tokens"): control_expire_tokens,
    ("GET", "requests"): control_list_requests,
    ("DELETE", "requests"): control_clear_requests,
    ("GET", "state"): control_state,
}


# -- credential files ----------------------------------------------------------


def write_private_file(path, document):
    """Write `document` as JSON to a new file that only its owner can read."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(document, file, indent=2)
        file.write("\n")


def write_service_account(path, index):
    account = ServiceAccount(FAKE.project_id, index)
    FAKE.accounts[account.client_email] = account
    pem = account.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    # The URLs other than token_uri are unused but point at this server, so
    # a client that follows one never leaves loopback.
    write_private_file(
        path,
        {
            "type": "service_account",
            "project_id": FAKE.project_id,
            "private_key_id": account.private_key_id,
            "private_key": pem,
            "client_email": account.client_email,
            "client_id": account.client_id,
            "auth_uri": FAKE.base_url + "/o/oauth2/auth",
            "token_uri": FAKE.token_uri,
            "auth_provider_x509_cert_url": FAKE.base_url + "/oauth2/v1/certs",
            "client_x509_cert_url": FAKE.base_url
            + "/robot/v1/metadata/x509/"
            + urllib.parse.quote(account.client_email),
            "universe_domain": "googleapis.com",
        },
    )
    LOG.info("wrote service account %s to %s", account.client_email, path)


def write_authorized_user(path):
    user = AuthorizedUser()
    FAKE.users[user.client_id] = user
    # NOTE: gcloud writes no token_uri into authorized_user files, and
    # Google's client libraries then use https://oauth2.googleapis.com/token.
    # This file has one so that a client reading it stays on loopback.
    write_private_file(
        path,
        {
            "client_id": user.client_id,
            "client_secret": user.client_secret,
            "refresh_token": user.refresh_token,
            "type": "authorized_user",
            "token_uri": FAKE.token_uri,
            "universe_domain": "googleapis.com",
        },
    )
    LOG.info("wrote authorized user %s to %s", user.client_id, path)


def main():
    global FAKE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write-service-account",
        action="append",
        default=[],
        metavar="PATH",
        help="generate an RSA-2048 service account and write its JSON key "
        "file to PATH (mode 0600); repeat for more accounts",
    )
    parser.add_argument(
        "--write-authorized-user",
        action="append",
        default=[],
        metavar="PATH",
        help="write an authorized_user credential file to PATH (mode 0600)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=int,
        default=3599,
        help="lifetime of issued access tokens in seconds (default: 3599)",
    )
    parser.add_argument(
        "--project-id",
        default="dekms-test-project",
        help="project id in credential files and the metadata server",
    )
    parser.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="exit when stdin closes, so the fake never outlives the test "
        "that reads its output",
    )
    args = parser.parse_args()
    if args.token_lifetime < 1:
        parser.error("--token-lifetime must be at least 1")
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="gcp_fake: %(message)s"
    )

    FAKE = Fake(args.project_id, args.token_lifetime)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    FAKE.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    for index, path in enumerate(args.write_service_account, start=1):
        write_service_account(path, index)
    for path in args.write_authorized_user:
        write_authorized_user(path)

    if args.exit_on_stdin_eof:

        def exit_at_eof():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)

        threading.Thread(target=exit_at_eof, daemon=True).start()
    # The socket listens since the constructor returned, so connections made
    # after this line are accepted.
    print(f"READY {FAKE.base_url}", flush=True)
    LOG.info("listening on %s", FAKE.base_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
