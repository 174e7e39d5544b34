#!/usr/bin/env python3
"""Loopback fake of Entra ID, Azure IMDS managed identity and Key Vault keys.

One process serves three listeners on 127.0.0.1, each on a free port, and
prints "VAULT <url>", "MANAGED_HSM <url>" and then "READY <url>" on stdout:

  READY        http: the Entra ID token endpoint, the IMDS token endpoint
               and the control API
  VAULT        the Key Vault keys data plane (audience
               https://vault.azure.net)
  MANAGED_HSM  the Managed HSM keys data plane (audience
               https://managedhsm.azure.net)

The two data planes serve plain HTTP, or HTTPS with --tls CERT KEY or
--generate-tls DIR. Real vaults are distinguished by host name. Here each
data plane has its own port, because a client with an endpoint override
sends the override's Host header. The process needs the standard library and the
`cryptography` package, and exits with code 3 when that package is missing.

Secrets are recognisable, so tests can check that none reaches a log. Every
access token is a JWT-shaped string whose third part starts with
"FakeAzureToken". Every generated federated token is one whose third part
starts with "FakeFederatedToken". Every client secret starts with
"FakeAzureSecret". The log on stderr and the request list name operations, keys, versions,
algorithms and statuses, never tokens, secrets, keys or wrapped data.

Entra ID v2 token endpoint (client credentials with a client secret or with
a federated token as the client assertion, as AKS workload identity sends):
  POST /<tenant>/oauth2/v2.0/token, Content-Type
  application/x-www-form-urlencoded, with grant_type=client_credentials,
  client_id, scope and either client_secret or
  client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
  with client_assertion=<federated token>. scope is one of
  https://vault.azure.net/.default, https://managedhsm.azure.net/.default or
  https://storage.azure.com/.default. A client assertion is accepted when it
  equals, byte for byte, the current federated token of that tenant and
  client (see federated-credentials below) and that token's exp has not
  passed. Success: 200 {"token_type": "Bearer", "expires_in",
  "ext_expires_in" (numbers), "access_token"}. Errors: 400 or 401 {"error",
  "error_description" ("AADSTS<n>: ..."), "error_codes": [n], "timestamp",
  "trace_id", "correlation_id", "error_uri"}:
    400 invalid_request        unknown tenant (90002), a missing parameter
                               (900144, also for a client_assertion without
                               client_assertion_type), GET (900561), a
                               repeated parameter (90015), both
                               client_secret and client_assertion
                               (9002313), another client_assertion_type
                               (90011)
    400 unsupported_grant_type another grant_type (70003)
    400 unauthorized_client    unknown client_id in the tenant (700016)
    401 invalid_client         no client_secret or client_assertion
                               (7000218), a wrong client_secret (7000215),
                               a client_assertion that is not the client's
                               current federated token (70021, "No matching
                               federated identity record found ..."), or
                               one whose exp has passed (700024, "Client
                               assertion is not within its valid time
                               range. ...")
    400 invalid_scope          scope without /.default (1002012) or with
                               more than one value (70011)
    400 invalid_resource       an unknown resource (500011)
  Real Entra ID validates the assertion's signature, issuer, subject and
  audience against the app's federated identity credential. This fake only
  compares the whole token, so a token replaced by rotate-federated-token
  fails with 70021 even before its exp.

IMDS managed identity token endpoint:
  GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=<res>
  [&client_id=|object_id=|msi_res_id=] with "Metadata: true". Success: 200
  {"access_token", "client_id", "expires_in", "expires_on",
  "ext_expires_in", "not_before", "refresh_token": "", "resource",
  "token_type": "Bearer"}, all strings. Errors: 400 {"error":
  "bad_request_102", ...} without the Metadata header; 400
  {"error": "invalid_request", ...} for X-Forwarded-For, a missing or
  unknown api-version or resource, or an unknown identity; 400
  invalid_resource for an unknown resource.

Key Vault and Managed HSM keys, ?api-version= 7.4, 7.5, 7.6 or 2025-07-01,
"Authorization: Bearer <token>" with the data plane's audience:
  GET  /keys/<name>[/<version>]              KeyBundle
  POST /keys/<name>/<version>/wrapkey        {"alg", "value"} -> {"kid",
  POST /keys/<name>/<version>/unwrapkey      "value"}
  An empty version ("/keys/<name>//wrapkey" or "/keys/<name>/") means the
  latest version. Versions are 32 lowercase hex digits. Byte fields are
  base64url without padding, and padded input is accepted. Algorithms:
  RSA-OAEP-256, RSA-OAEP and RSA1_5 for RSA and RSA-HSM keys; A128KW,
  A192KW and A256KW (matching the key size), CKM_AES_KEY_WRAP and
  CKM_AES_KEY_WRAP_PAD for oct-HSM keys, which only the Managed HSM holds.
  Errors are {"error": {"code", "message", "innererror"?: {"code"}}}:
    401 Unauthorized  no, unknown or expired token, or one for another
                      audience, with WWW-Authenticate: Bearer
                      authorization="<this server>/<tenant>",
                      resource="https://vault.azure.net" (or managedhsm)
    400 BadParameter  a missing or unsupported api-version, invalid JSON,
                      an unknown or unsuitable alg, a value too long for
                      the algorithm (RSA-OAEP-256 allows modulus bytes - 66,
                      RSA-OAEP - 42, RSA1_5 - 11), an AES-KW input that is
                      not a multiple of 8 bytes of at least 16, or a value
                      that does not unwrap
    403 Forbidden     innererror ForbiddenByRbac for a denied key,
                      KeyDisabled for a disabled version,
                      KeyOperationForbidden when key_ops lacks the operation
    404 KeyNotFound   "A key with (name/id) <name> was not found in this
                      key vault. ..." for a missing key or version
    415 UnsupportedMediaType  a POST body that is not application/json
  Faults add 429 (code Throttled, Retry-After) and any other status.

Control API under /__control__/ on the READY listener (JSON, no
authentication, not logged as requests):
  POST   keys           {"name", "vault"? ("vault" or "managedhsm"), "kty"?
                        (RSA, RSA-HSM, oct-HSM), "size"?, "key_ops"?,
                        "enabled"?, "deny"?, "private_key_pem"? (RSA),
                        "key"? (base64 AES key, oct-HSM)}; returns {"name",
                        "vault", "kid", "version"}
  POST   rotate         {"name", "private_key_pem"?, "key"?}: add a version
                        and make it the latest; returns the same fields
  POST   version-state  {"name", "version", "enabled"}
  POST   deny           {"name", "deny"}
  POST   clients        {"tenant_id", "client_id", "client_secret"}:
                        register an app registration
  POST   federated-credentials
                        {"tenant_id"?, "client_id"? (both default to the
                        default app registration), "issuer"?, "subject"?,
                        "audience"?, "lifetime"? (seconds, default 3600;
                        zero or less makes a token that is already
                        expired), "token"? (a token to accept in place of
                        a generated one), "expires_on"? (Unix seconds for
                        a given token; default its exp claim, else now +
                        lifetime)}: give the app a federated identity
                        credential and make the token its current one,
                        replacing any earlier token. A new tenant_id and
                        client_id pair becomes an app registration without
                        a client secret. Returns {"tenant_id",
                        "client_id", "token", "expires_on"}. A generated
                        token is a JWT-shaped string with claims iss
                        (default https://oidc.example.test/), sub (default
                        system:serviceaccount:dekms-test:dekms), aud
                        (default ["api://AzureADTokenExchange"]), iat, nbf
                        and exp, like a Kubernetes service account token.
  POST   rotate-federated-token
                        {"tenant_id"?, "client_id"?, "lifetime"?,
                        "token"?, "expires_on"?}: replace the current
                        federated token of an app that has one, keeping
                        its issuer, subject and audience. The old token
                        stops working at once. Returns the same fields.
  POST   faults         {"operation" (token, imds, get, wrap, unwrap),
                        "status", "count"?, "retry_after"?, "code"?,
                        "message"?}
  DELETE faults         drop queued faults
  POST   config         {"token_lifetime"?, "api_versions"?}
  POST   issue-token    {"resource"}: returns {"access_token", "expires_in"}
  POST   expire-tokens  expire every token issued so far
  GET    requests       {"requests": [...]}, one entry per request. Token
                        endpoint entries have "credential": "secret",
                        "assertion", "both" or null (neither, or the
                        request failed before the credential was read),
                        never the credential itself
  DELETE requests       clear that list
  GET    state          counters, keys and versions, and the federated
                        credentials' claims and expiry, without key
                        material or tokens

A fault fails the next `count` requests of its operation that pass
authentication and the api-version check, without doing the operation.

NOTE: Microsoft documents the status codes and error codes, but not every
message. Messages here keep the codes and the phrases of real responses
where known. The statuses chosen where the documentation is silent are:
403 KeyDisabled for every operation on a disabled version (including get
and wrap), 400 BadParameter for a value that does not unwrap, 415 for a
body that is not JSON, 401 with fake-specific messages for unknown and
expired tokens, and strict base64url (no '+' or '/') for input values. On
the token endpoint, 70021 and 700024 come as 401 invalid_client, because
real responses with 700024 have, while real responses with 70021 have come
both as 400 invalid_request and as 401 invalid_client. The codes for both
client credentials in one request (9002313, Entra ID's code for a malformed
request) and for another client_assertion_type (90011) are this fake's
choices.
"""

import argparse
import base64
import binascii
import datetime
import http.server
import ipaddress
import json
import logging
import os
import re
import secrets
import ssl
import sys
import threading
import time
import urllib.parse
import uuid

EXIT_CRYPTOGRAPHY_MISSING = 3

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, keywrap, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError as import_error:
    sys.stderr.write(
        f"azure_fake: cannot import cryptography ({import_error}); "
        "run scripts/install-test-tools.sh\n"
    )
    sys.exit(EXIT_CRYPTOGRAPHY_MISSING)

LOG = logging.getLogger("azure_fake")

VAULT_AUDIENCE = "https://vault.azure.net"
MANAGED_HSM_AUDIENCE = "https://managedhsm.azure.net"
STORAGE_AUDIENCE = "https://storage.azure.com"
KNOWN_AUDIENCES = (VAULT_AUDIENCE, MANAGED_HSM_AUDIENCE, STORAGE_AUDIENCE)
DATA_PLANE_AUDIENCES = {"vault": VAULT_AUDIENCE, "managedhsm": MANAGED_HSM_AUDIENCE}
# Action names of Azure RBAC, as 403 ForbiddenByRbac messages show them.
RBAC_ACTIONS = {
    ("vault", "get"): "Microsoft.KeyVault/vaults/keys/read",
    ("vault", "wrap"): "Microsoft.KeyVault/vaults/keys/wrap/action",
    ("vault", "unwrap"): "Microsoft.KeyVault/vaults/keys/unwrap/action",
    ("managedhsm", "get"): "Microsoft.KeyVault/managedHsm/keys/read/action",
    ("managedhsm", "wrap"): "Microsoft.KeyVault/managedHsm/keys/wrap/action",
    ("managedhsm", "unwrap"): "Microsoft.KeyVault/managedHsm/keys/unwrap/action",
}

CLIENT_CREDENTIALS_GRANT = "client_credentials"
DEFAULT_API_VERSIONS = ("7.4", "7.5", "7.6", "2025-07-01")
IMDS_API_VERSIONS = ("2018-02-01", "2019-08-01")
IMDS_TOKEN_PATH = "/metadata/identity/oauth2/token"
TOKEN_PATH_RE = re.compile(r"^/([^/]+)/oauth2/v2\.0/token$")
KEY_NAME_RE = re.compile(r"^[0-9A-Za-z-]{1,127}$")
BASE64URL_RE = re.compile(r"^[A-Za-z0-9_-]*={0,2}$")
MAX_REQUEST_BODY_BYTES = 1024 * 1024
TOKEN_MARKER = "FakeAzureToken"
SECRET_PREFIX = "FakeAzureSecret"
FEDERATED_TOKEN_MARKER = "FakeFederatedToken"
JWT_BEARER_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_FEDERATED_ISSUER = "https://oidc.example.test/"
DEFAULT_FEDERATED_SUBJECT = "system:serviceaccount:dekms-test:dekms"
DEFAULT_FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
DEFAULT_FEDERATED_LIFETIME = 3600
# 9999-12-31T23:59:59Z.
MAX_UNIX_SECONDS = 253402300799

KEY_TYPES = {
    "vault": {"RSA", "RSA-HSM"},
    "managedhsm": {"RSA-HSM", "oct-HSM"},
}
RSA_SIZES = {2048, 3072, 4096}
AES_SIZES = {128, 192, 256}
ALL_KEY_OPS = ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey")
DEFAULT_KEY_OPS = ("wrapKey", "unwrapKey")

# Bytes of padding overhead per RSA algorithm: a value may be at most the
# modulus length minus this.
RSA_OVERHEAD = {"RSA-OAEP-256": 66, "RSA-OAEP": 42, "RSA1_5": 11}
# Key size in bits that each JWA AES key wrap algorithm requires.
AES_KW_SIZES = {"A128KW": 128, "A192KW": 192, "A256KW": 256}
AES_ALGORITHMS = set(AES_KW_SIZES) | {"CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD"}
# Every JsonWebKeyEncryptionAlgorithm value of the 2025-07-01 API, so that
# a known but unsuitable algorithm gets another message than a typo.
KNOWN_ALGORITHMS = (
    set(RSA_OVERHEAD)
    | AES_ALGORITHMS
    | {
        "A128GCM",
        "A192GCM",
        "A256GCM",
        "A128CBC",
        "A192CBC",
        "A256CBC",
        "A128CBCPAD",
        "A192CBCPAD",
        "A256CBCPAD",
    }
)

FAULT_OPERATIONS = {"token", "imds", "get", "wrap", "unwrap"}
# Error code of a status fault on the data plane when the fault names none.
FAULT_CODES = {
    400: "BadParameter",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "Throttled",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


# -- encodings ----------------------------------------------------------------


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    """Decode base64url with or without padding. Raises ValueError."""
    if not isinstance(text, str) or not BASE64URL_RE.match(text):
        raise ValueError("not base64url")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise ValueError("invalid length")
    try:
        return base64.urlsafe_b64decode(stripped + "=" * (-len(stripped) % 4))
    except binascii.Error as error:
        raise ValueError(str(error)) from None


def int_to_b64url(number):
    return b64url_encode(number.to_bytes((number.bit_length() + 7) // 8, "big"))


def utc_timestamp(moment=None):
    moment = moment or datetime.datetime.now(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


# -- state --------------------------------------------------------------------


class KeyVersion:
    def __init__(self, key, material):
        self.key = key
        self.version = secrets.token_hex(16)
        self.material = material
        self.enabled = True
        self.created = int(time.time())
        self.updated = self.created
        self.key_ops = list(key.key_ops)

    def kid(self, base_url):
        return f"{base_url}/keys/{self.key.name}/{self.version}"

    def bundle(self, base_url, api_version):
        jwk = {"kid": self.kid(base_url), "kty": self.key.kty, "key_ops": self.key_ops}
        if self.key.kty != "oct-HSM":
            numbers = self.material.public_key().public_numbers()
            jwk["n"] = int_to_b64url(numbers.n)
            jwk["e"] = int_to_b64url(numbers.e)
        attributes = {
            "enabled": self.enabled,
            "created": self.created,
            "updated": self.updated,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        }
        # "exportable" exists since API 7.3.
        if api_version != "7.2":
            attributes["exportable"] = False
        return {"key": jwk, "attributes": attributes}


class Key:
    def __init__(self, name, vault, kty, size, key_ops, deny):
        self.name = name
        self.vault = vault
        self.kty = kty
        self.size = size
        self.key_ops = key_ops
        self.deny = deny
        self.versions = {}
        self.latest = None

    def add_version(self, material):
        version = KeyVersion(self, material)
        self.versions[version.version] = version
        self.latest = version
        return version


class Client:
    def __init__(self, tenant_id, client_id, client_secret):
        self.tenant_id = tenant_id
        self.client_id = client_id
        # None for an app that has only a federated credential.
        self.client_secret = client_secret


class FederatedCredential:
    """The federated identity credential of one app and the one federated
    token that the token endpoint currently accepts for it."""

    def __init__(self, issuer, subject, audience):
        self.issuer = issuer
        self.subject = subject
        self.audience = audience
        self.token = None
        # Unix seconds after which the token fails with AADSTS700024.
        self.expires_on = 0
        self.rotations = 0


class Fake:
    """All state of one fake server, guarded by `lock`."""

    def __init__(self, token_lifetime):
        self.lock = threading.Lock()
        self.base_url = None
        self.token_lifetime = token_lifetime
        self.api_versions = list(DEFAULT_API_VERSIONS)

        self.default_tenant = str(uuid.uuid4())
        # The client_id of the app registration that main() creates.
        self.default_client_id = None
        # (tenant_id, client_id) -> Client
        self.clients = {}
        # (tenant_id, client_id) -> FederatedCredential
        self.federated_credentials = {}
        self.tenants = set()
        self.managed_identity = {
            "client_id": str(uuid.uuid4()),
            "object_id": str(uuid.uuid4()),
            "msi_res_id": (
                f"/subscriptions/{uuid.uuid4()}/resourceGroups/dekms-test/providers/"
                "Microsoft.ManagedIdentity/userAssignedIdentities/dekms-test"
            ),
        }

        # access token -> {"audience", "deadline" (time.monotonic()), ...}
        self.tokens = {}
        # (vault, key name) -> Key
        self.keys = {}
        self.faults = []
        self.requests = []
        self.counters = {
            "requests": 0,
            "entra_tokens": 0,
            "imds_tokens": 0,
            "control_tokens": 0,
        }
        self.entra_tokens_by_scope = {}
        self.imds_tokens_by_resource = {}

    def register_client(self, tenant_id, client_id, client_secret):
        self.tenants.add(tenant_id)
        self.clients[(tenant_id, client_id)] = Client(
            tenant_id, client_id, client_secret
        )

    def set_federated_token(self, tenant_id, client_id, credential, token,
                            expires_on):
        """Make `token` the only federated token accepted for the app."""
        if (tenant_id, client_id) not in self.clients:
            self.register_client(tenant_id, client_id, None)
        if credential.token is not None:
            credential.rotations += 1
        credential.token = token
        credential.expires_on = expires_on
        self.federated_credentials[(tenant_id, client_id)] = credential

    def issue_token(self, audience, tenant_id, app_id):
        """Return a new access token for `audience` and its lifetime."""
        now = int(time.time())
        lifetime = self.token_lifetime
        header = {"typ": "JWT", "alg": "RS256", "kid": "dekms-azure-fake"}
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "appid": app_id,
            "tid": tenant_id,
        }
        token = ".".join(
            [
                b64url_encode(json.dumps(header).encode()),
                b64url_encode(json.dumps(claims).encode()),
                TOKEN_MARKER + secrets.token_urlsafe(32),
            ]
        )
        self.tokens[token] = {
            "audience": audience,
            "deadline": time.monotonic() + lifetime,
        }
        return token, lifetime

    def take_fault(self, operation):
        """Remove one use of the first queued fault for `operation` and
        return it, or None."""
        for fault in self.faults:
            if fault["operation"] == operation:
                fault["remaining"] -= 1
                if fault["remaining"] <= 0:
                    self.faults.remove(fault)
                return fault
        return None


FAKE = None


# -- errors -------------------------------------------------------------------


class EntraError(Exception):
    """An Entra ID token endpoint error: HTTP status, error, AADSTS code."""

    def __init__(self, status, error, code, description):
        super().__init__(description)
        self.status = status
        self.error = error
        self.code = code
        self.description = description
        self.headers = []

    def body(self):
        trace_id = str(uuid.uuid4())
        correlation_id = str(uuid.uuid4())
        timestamp = utc_timestamp()
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.code}: {self.description} Trace ID: {trace_id} "
                f"Correlation ID: {correlation_id} Timestamp: {timestamp}"
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            # Real responses point at login.microsoftonline.com; this one
            # stays on loopback.
            "error_uri": f"{FAKE.base_url}/error?code={self.code}",
        }


def missing_parameter(name):
    return EntraError(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


def check_client_assertion(tenant, client_id, form, assertion):
    """Accept `assertion` if it is the app's current, unexpired federated
    token, or raise EntraError."""
    assertion_type = form.get("client_assertion_type")
    if not assertion_type:
        raise missing_parameter("client_assertion_type")
    if assertion_type != JWT_BEARER_ASSERTION_TYPE:
        raise EntraError(
            400,
            "invalid_request",
            90011,
            f"Unexpected client assertion type '{assertion_type[:100]}'. The "
            f"only supported type is '{JWT_BEARER_ASSERTION_TYPE}'.",
        )

    now = int(time.time())
    with FAKE.lock:
        credential = FAKE.federated_credentials.get((tenant, client_id))
        current = credential.token if credential else None
        expires_on = credential.expires_on if credential else 0
    if current is None or not secrets.compare_digest(
        assertion.encode("utf-8"), current.encode("utf-8")
    ):
        # Real responses name the claims of the presented assertion. They
        # are no secret, unlike the signature part of the token.
        claims = jwt_claims(assertion)
        raise EntraError(
            401,
            "invalid_client",
            70021,
            "No matching federated identity record found for presented "
            f"assertion. Assertion Issuer: '{claims.get('iss', '')}'. "
            f"Assertion Subject: '{claims.get('sub', '')}'. Assertion "
            f"Audience: '{claims.get('aud', '')}'.",
        )
    if now >= expires_on:
        raise EntraError(
            401,
            "invalid_client",
            700024,
            "Client assertion is not within its valid time range. Current "
            f"time: {iso_time(now)}, expiry time of assertion "
            f"{iso_time(expires_on)}.",
        )


def jwt_payload(token):
    """Return the decoded claims of a JWT-shaped token, or {} when its
    middle part is not a base64url JSON object. Checks no signature."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}


def jwt_claims(token):
    """Return the string claims iss, sub and aud of a JWT-shaped token,
    each cut to 200 characters, or fewer when the token does not decode."""
    claims = jwt_payload(token)
    result = {}
    for name in ("iss", "sub", "aud"):
        value = claims.get(name)
        if isinstance(value, list) and value and isinstance(value[0], str):
            value = value[0]
        if isinstance(value, str):
            result[name] = value[:200]
    return result


def iso_time(unix_seconds):
    moment = datetime.datetime.fromtimestamp(unix_seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class ImdsError(Exception):
    def __init__(self, status, error, description):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class VaultError(Exception):
    """A Key Vault error: HTTP status, code, message, inner error code."""

    def __init__(self, status, code, message, inner=None, headers=()):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner
        self.headers = list(headers)

    def body(self):
        error = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return {"error": error}


def bad_parameter(message):
    return VaultError(400, "BadParameter", message)


def key_not_found(name):
    return VaultError(
        404,
        "KeyNotFound",
        f"A key with (name/id) {name} was not found in this key vault. If you "
        "recently deleted this key you may be able to recover it using the "
        "correct recovery command.",
    )


# -- TLS ----------------------------------------------------------------------


def generate_tls(directory):
    """Write a CA certificate and a server certificate that it signs, valid
    for 127.0.0.1, ::1 and localhost, into `directory`. Returns the paths of
    the CA file, the server certificate chain and the server key."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "dekms azure_fake CA")]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

    ca_path = os.path.join(directory, "ca.pem")
    cert_path = os.path.join(directory, "server.pem")
    key_path = os.path.join(directory, "server-key.pem")
    with open(ca_path, "wb") as file:
        file.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(cert_path, "wb") as file:
        file.write(server_cert.public_bytes(serialization.Encoding.PEM))
        file.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    write_private_bytes(
        key_path,
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    return ca_path, cert_path, key_path


def write_private_bytes(path, data):
    """Write `data` to a new file that only its owner can read."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


# -- HTTP handler -------------------------------------------------------------


class Server(http.server.ThreadingHTTPServer):
    """A listener with a role: "main", "vault" or "managedhsm"."""

    daemon_threads = True

    def __init__(self, role, tls_context=None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.role = role
        self.tls_context = tls_context
        scheme = "https" if tls_context else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server_address[1]}"

    def get_request(self):
        connection, address = super().get_request()
        if self.tls_context is not None:
            # The handshake runs in the handler thread, on the first read,
            # so a client that stalls it blocks only its own connection.
            connection = self.tls_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        return connection, address

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        LOG.info("%s connection failed: %s", self.role, type(error).__name__)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "azure_fake"
    # Seconds a connection may stay idle or stall.
    timeout = 30

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
        body = json.dumps(document).encode()
        self.reply(status, body, "application/json; charset=utf-8", headers)

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

    def do_PATCH(self):
        self.dispatch()

    def dispatch(self):
        body = self.read_body()
        if body is None:
            return
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path
        role = self.server.role
        if role == "main" and path.startswith("/__control__/"):
            self.control(path[len("/__control__/"):], body)
            return
        with FAKE.lock:
            FAKE.counters["requests"] += 1
        if role != "main":
            self.data_plane(role, path, parts.query, body)
        elif path == IMDS_TOKEN_PATH:
            self.imds(parts.query)
        elif TOKEN_PATH_RE.match(path):
            self.entra(TOKEN_PATH_RE.match(path).group(1), body)
        else:
            self.record({"role": "other", "operation": "unknown", "status": 404})
            LOG.info("%s %s -> 404 (unknown path)", self.command, path[:200])
            self.reply(404, b"Not Found\n")

    def record(self, entry):
        with FAKE.lock:
            entry["seq"] = len(FAKE.requests) + 1
            entry["method"] = self.command
            FAKE.requests.append(entry)

    # -- Entra ID token endpoint ----------------------------------------------

    def entra(self, tenant, body):
        entry = {
            "role": "entra",
            "operation": "token",
            "tenant": tenant[:100],
            "client_id": None,
            "scope": None,
            "credential": None,
            "fault": None,
        }
        no_cache = [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache")]
        try:
            response = self.entra_token(tenant, body, entry)
        except EntraError as error:
            entry["status"] = error.status
            entry["error"] = error.error
            entry["error_code"] = error.code
            self.record(entry)
            LOG.info(
                "entra token %s %s credential %s -> %d %s AADSTS%d",
                entry["tenant"],
                entry["client_id"] or "-",
                entry["credential"] or "-",
                error.status,
                error.error,
                error.code,
            )
            self.reply_json(error.status, error.body(), no_cache + error.headers)
            return
        entry["status"] = 200
        self.record(entry)
        LOG.info(
            "entra token %s %s credential %s scope %s -> 200",
            entry["tenant"],
            entry["client_id"],
            entry["credential"],
            entry["scope"],
        )
        self.reply_json(200, response, no_cache)

    def entra_token(self, tenant, body, entry):
        if self.command != "POST":
            raise EntraError(
                400,
                "invalid_request",
                900561,
                "The endpoint only accepts POST requests. Received a "
                f"{self.command} request.",
            )

        with FAKE.lock:
            known_tenant = tenant in FAKE.tenants
        if not known_tenant:
            raise EntraError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant[:100]}' not found. Check to make sure you have "
                "the correct tenant ID and are signing into the correct cloud.",
            )

        form = self.parse_form(body)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise missing_parameter("grant_type")
        if grant_type != CLIENT_CREDENTIALS_GRANT:
            raise EntraError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type[:100]}'.",
            )

        client_id = form.get("client_id")
        if not client_id:
            raise missing_parameter("client_id")
        entry["client_id"] = client_id[:100]

        with FAKE.lock:
            fault = FAKE.take_fault("token")
            client = FAKE.clients.get((tenant, client_id))
        if fault is not None:
            entry["fault"] = "status"
            error = EntraError(
                fault["status"],
                fault.get("code") or "temporarily_unavailable",
                50196 if fault["status"] == 429 else 90033,
                fault.get("message") or "The service is temporarily unavailable.",
            )
            if "retry_after" in fault:
                error.headers.append(("Retry-After", str(fault["retry_after"])))
            raise error

        if client is None:
            raise EntraError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id[:100]}' was not found in "
                f"the directory '{tenant}'. This can happen if the application "
                "has not been installed by the administrator of the tenant.",
            )

        self.check_client_credential(tenant, client, form, entry)

        scope = form.get("scope")
        if not scope:
            raise missing_parameter("scope")
        entry["scope"] = scope[:200]
        audience = self.scope_audience(scope)
        with FAKE.lock:
            token, lifetime = FAKE.issue_token(audience, tenant, client_id)
            FAKE.counters["entra_tokens"] += 1
            FAKE.entra_tokens_by_scope[scope] = (
                FAKE.entra_tokens_by_scope.get(scope, 0) + 1
            )
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }

    @staticmethod
    def check_client_credential(tenant, client, form, entry):
        """Check the client secret or client assertion of a token request
        and set entry["credential"]. Raise EntraError when it fails."""
        secret = form.get("client_secret")
        assertion = form.get("client_assertion")
        if secret and assertion:
            entry["credential"] = "both"
            raise EntraError(
                400,
                "invalid_request",
                9002313,
                "Invalid request. The request contains both 'client_secret' "
                "and 'client_assertion'; send only one client credential.",
            )
        if assertion:
            entry["credential"] = "assertion"
            check_client_assertion(tenant, client.client_id, form, assertion)
            return
        if not secret:
            raise EntraError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
            )
        entry["credential"] = "secret"
        # An app registered with only a federated credential has no secret,
        # so every secret is wrong for it.
        if client.client_secret is None or not secrets.compare_digest(
            secret.encode("utf-8"), client.client_secret.encode("utf-8")
        ):
            raise EntraError(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in "
                "the request is the client secret value, not the client secret "
                f"ID, for a secret added to app '{client.client_id}'.",
            )

    @staticmethod
    def scope_audience(scope):
        """Return the audience of a client credentials scope, or raise."""
        values = scope.split()
        if len(values) != 1:
            raise EntraError(
                400,
                "invalid_scope",
                70011,
                "The provided request must include a 'scope' input parameter. The "
                "provided value for the input parameter 'scope' is not valid. The "
                "scope must name exactly one resource.",
            )
        value = values[0]
        if not value.endswith("/.default"):
            raise EntraError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {value[:200]} is not valid. Client "
                "credential flows must have a scope value with /.default suffixed "
                "to the resource identifier (application ID URI).",
            )
        resource = value[: -len("/.default")]
        if resource not in KNOWN_AUDIENCES:
            raise EntraError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource[:200]} was not found in "
                "the tenant.",
            )
        return resource

    def parse_form(self, body):
        content_type = self.headers.get("Content-Type", "")
        if not content_type.lower().startswith("application/x-www-form-urlencoded"):
            # Entra ID reads no parameters from other bodies.
            raise missing_parameter("grant_type")
        try:
            form = urllib.parse.parse_qs(
                body.decode("ascii"),
                keep_blank_values=True,
                strict_parsing=bool(body),
            )
        except (UnicodeDecodeError, ValueError):
            raise missing_parameter("grant_type") from None
        for name, values in form.items():
            if len(values) != 1:
                raise EntraError(
                    400,
                    "invalid_request",
                    90015,
                    f"Duplicate query parameter '{name[:50]}' in request.",
                )
        return {name: values[0] for name, values in form.items()}

    # -- IMDS -----------------------------------------------------------------

    def imds(self, query):
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        entry = {
            "role": "imds",
            "operation": "token",
            "resource": (params.get("resource") or [None])[0],
            "metadata_header": self.headers.get("Metadata", "").lower() == "true",
            "identity": None,
            "fault": None,
        }
        try:
            response = self.imds_token(params, entry)
        except ImdsError as error:
            entry["status"] = error.status
            entry["error"] = error.error
            self.record(entry)
            LOG.info("imds token -> %d %s", error.status, error.error)
            self.reply_json(
                error.status,
                {"error": error.error, "error_description": error.description},
            )
            return
        entry["status"] = 200
        self.record(entry)
        LOG.info("imds token %s -> 200", entry["resource"])
        self.reply_json(200, response)

    def imds_token(self, params, entry):
        # NOTE: IMDS documents its error codes in a table but not its
        # bodies; the descriptions below follow that table.
        if "X-Forwarded-For" in self.headers:
            raise ImdsError(
                400,
                "invalid_request",
                "Requests with an X-Forwarded-For header are rejected.",
            )
        if not entry["metadata_header"]:
            raise ImdsError(
                400, "bad_request_102", "Required metadata header not specified"
            )
        if self.command != "GET":
            raise ImdsError(405, "invalid_request", "The token endpoint takes GET.")

        for name, values in params.items():
            if len(values) != 1:
                raise ImdsError(
                    400, "invalid_request", f"Duplicate query parameter {name[:50]}"
                )
        api_version = (params.get("api-version") or [""])[0]
        if api_version not in IMDS_API_VERSIONS:
            raise ImdsError(
                400,
                "invalid_request",
                "Required query variable 'api-version' is missing or not supported",
            )

        with FAKE.lock:
            fault = FAKE.take_fault("imds")
        if fault is not None:
            entry["fault"] = "status"
            raise ImdsError(
                fault["status"],
                fault.get("code") or "unknown",
                fault.get("message") or "IMDS is temporarily unavailable.",
            )

        resource = entry["resource"]
        if not resource:
            raise ImdsError(
                400, "invalid_request", "Required audience parameter not specified"
            )
        audience = resource.rstrip("/")
        if audience not in KNOWN_AUDIENCES:
            raise ImdsError(
                400,
                "invalid_resource",
                f"AADSTS500011: The resource principal named {resource[:200]} was "
                "not found in the tenant.",
            )

        selectors = [name for name in ("client_id", "object_id", "msi_res_id")
                     if name in params]
        if len(selectors) > 1:
            raise ImdsError(
                400,
                "invalid_request",
                "Only one of client_id, object_id and msi_res_id may be given.",
            )
        identity = FAKE.managed_identity
        if selectors:
            entry["identity"] = selectors[0]
            if params[selectors[0]][0] != identity[selectors[0]]:
                raise ImdsError(400, "invalid_request", "Identity not found")

        with FAKE.lock:
            token, lifetime = FAKE.issue_token(
                audience, FAKE.default_tenant, identity["client_id"]
            )
            FAKE.counters["imds_tokens"] += 1
            FAKE.imds_tokens_by_resource[resource] = (
                FAKE.imds_tokens_by_resource.get(resource, 0) + 1
            )

        now = int(time.time())
        return {
            "access_token": token,
            "client_id": identity["client_id"],
            "expires_in": str(lifetime),
            "expires_on": str(now + lifetime),
            "ext_expires_in": str(lifetime),
            "not_before": str(now),
            "refresh_token": "",
            "resource": resource,
            "token_type": "Bearer",
        }

    # -- Key Vault and Managed HSM data plane ---------------------------------

    def data_plane(self, vault, path, query, body):
        entry = {
            "role": vault,
            "operation": "unknown",
            "key": None,
            "version": None,
            "alg": None,
            "api_version": None,
            "authorization": None,
            "fault": None,
        }
        headers = [
            ("x-ms-request-id", str(uuid.uuid4())),
            ("Cache-Control", "no-cache"),
        ]
        try:
            response = self.data_plane_request(vault, path, query, body, entry)
        except VaultError as error:
            entry["status"] = error.status
            entry["error_code"] = error.code
            entry["inner_error"] = error.inner
            self.record(entry)
            LOG.info(
                "%s %s %s/%s -> %d %s%s",
                vault,
                entry["operation"],
                entry["key"] or "-",
                entry["version"] or "-",
                error.status,
                error.code,
                f" ({error.inner})" if error.inner else "",
            )
            self.reply_json(error.status, error.body(), headers + error.headers)
            return
        entry["status"] = 200
        self.record(entry)
        LOG.info(
            "%s %s %s/%s%s -> 200",
            vault,
            entry["operation"],
            entry["key"],
            entry["version"],
            f" {entry['alg']}" if entry["alg"] else "",
        )
        self.reply_json(200, response, headers)

    def data_plane_request(self, vault, path, query, body, entry):
        operation, name, version = self.route(path)
        entry["operation"] = operation
        entry["key"] = name[:127]
        entry["version"] = version
        expected = "GET" if operation == "get" else "POST"
        if self.command != expected:
            raise VaultError(
                405,
                "MethodNotAllowed",
                f"The requested resource does not support http method "
                f"'{self.command}'.",
            )
        self.check_bearer_token(vault, entry)
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        api_version = (params.get("api-version") or [None])[0]
        entry["api_version"] = api_version
        with FAKE.lock:
            supported = list(FAKE.api_versions)
        if not api_version:
            raise bad_parameter("The request URI contains no api-version.")
        if api_version not in supported:
            raise bad_parameter(
                f"The specified version ({api_version[:40]}) is not recognized. "
                f"Consider using the latest supported version ({supported[-1]})."
            )
        with FAKE.lock:
            fault = FAKE.take_fault(operation)
        if fault is not None:
            entry["fault"] = "status"
            raise fault_error(fault)

        base_url = self.base_url()
        with FAKE.lock:
            key_version = self.lookup(vault, operation, name, version, entry)
            if operation == "get":
                return key_version.bundle(base_url, api_version)
            key_ops = list(key_version.key_ops)
        request = self.parse_operation_body(body, entry)
        needed = "wrapKey" if operation == "wrap" else "unwrapKey"
        if needed not in key_ops:
            raise VaultError(
                403,
                "Forbidden",
                f"Operation {needed} is not permitted on this key.",
                "KeyOperationForbidden",
            )
        if operation == "wrap":
            value = wrap(key_version, request["alg"], request["value"])
        else:
            value = unwrap(key_version, request["alg"], request["value"])
        return {"kid": key_version.kid(base_url), "value": b64url_encode(value)}

    @staticmethod
    def route(path):
        """Return (operation, key name, version or "") for a keys path."""
        segments = path.split("/")
        if len(segments) < 3 or segments[0] != "" or segments[1] != "keys":
            raise VaultError(404, "NotFound", "The requested resource was not found.")
        name = segments[2]
        rest = segments[3:]
        if len(rest) == 0:
            operation, version = "get", ""
        elif len(rest) == 1:
            operation, version = "get", rest[0]
        elif len(rest) == 2 and rest[1].lower() in ("wrapkey", "unwrapkey"):
            operation = "wrap" if rest[1].lower() == "wrapkey" else "unwrap"
            version = rest[0]
        else:
            raise VaultError(404, "NotFound", "The requested resource was not found.")
        if not KEY_NAME_RE.match(name):
            raise bad_parameter(
                f"Key name {name[:127]!r} is invalid: it must be 1 to 127 letters, "
                "digits and dashes."
            )
        return operation, name, version

    def base_url(self):
        """Return this listener's URL as the client addressed it, the base of
        every kid."""
        scheme = "https" if self.server.tls_context else "http"
        host = self.headers.get("Host") or self.server.url.split("://", 1)[1]
        return f"{scheme}://{host}"

    def check_bearer_token(self, vault, entry):
        """Set entry["authorization"] to "valid", "missing", "invalid",
        "expired" or "wrong-audience", and raise 401 for all but "valid"."""
        audience = DATA_PLANE_AUDIENCES[vault]
        header = self.headers.get("Authorization")
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            entry["authorization"] = "missing"
            raise self.unauthorized(
                audience, "AKV10000: Request is missing a Bearer or PoP token."
            )
        with FAKE.lock:
            record = FAKE.tokens.get(token)
        if record is None:
            entry["authorization"] = "invalid"
            raise self.unauthorized(audience, "The access token is not valid.")
        if record["deadline"] <= time.monotonic():
            entry["authorization"] = "expired"
            raise self.unauthorized(audience, "The access token has expired.")
        if record["audience"] != audience:
            entry["authorization"] = "wrong-audience"
            raise self.unauthorized(
                audience,
                f"AKV10022: Invalid audience. Expected {audience}, found: "
                f"{record['audience']}.",
            )
        entry["authorization"] = "valid"

    @staticmethod
    def unauthorized(audience, message):
        challenge = (
            f'Bearer authorization="{FAKE.base_url}/{FAKE.default_tenant}", '
            f'resource="{audience}"'
        )
        return VaultError(
            401, "Unauthorized", message, headers=[("WWW-Authenticate", challenge)]
        )

    @staticmethod
    def lookup(vault, operation, name, version, entry):
        """Return the KeyVersion that a request names, or raise. Runs with
        FAKE.lock held."""
        key = FAKE.keys.get((vault, name))
        if key is None:
            raise key_not_found(name)
        if key.deny:
            raise VaultError(
                403,
                "Forbidden",
                "Caller is not authorized to perform action on resource. If role "
                "assignments, deny assignments or role definitions were changed "
                "recently, please observe propagation time. Action: "
                f"'{RBAC_ACTIONS[(vault, operation)]}'. Resource: 'keys/{name}'.",
                "ForbiddenByRbac",
            )
        key_version = key.versions.get(version) if version else key.latest
        if key_version is None:
            raise key_not_found(f"{name}/{version}")
        entry["version"] = key_version.version
        if not key_version.enabled:
            raise VaultError(
                403,
                "Forbidden",
                f"Operation {operation_name(operation)} is not allowed on a "
                "disabled key.",
                "KeyDisabled",
            )
        return key_version

    def parse_operation_body(self, body, entry):
        content_type = self.headers.get("Content-Type", "")
        if not content_type.lower().startswith("application/json"):
            raise VaultError(
                415,
                "UnsupportedMediaType",
                "The request body must have Content-Type application/json.",
            )
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise bad_parameter("The request body is not valid JSON.") from None
        if not isinstance(document, dict):
            raise bad_parameter("The request body must be a JSON object.")
        alg = document.get("alg")
        if not isinstance(alg, str) or not alg:
            raise bad_parameter("Property alg is required.")
        entry["alg"] = alg[:40]
        if alg not in KNOWN_ALGORITHMS:
            raise bad_parameter(f"Invalid algorithm: {alg[:40]}.")
        value = document.get("value")
        if not isinstance(value, str) or not value:
            raise bad_parameter("Property value is required.")
        try:
            data = b64url_decode(value)
        except ValueError:
            raise bad_parameter(
                "Property value is not valid base64url-encoded data."
            ) from None
        return {"alg": alg, "value": data}

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


def operation_name(operation):
    return {"get": "get", "wrap": "wrapKey", "unwrap": "unwrapKey"}[operation]


def fault_error(fault):
    status = fault["status"]
    headers = []
    if "retry_after" in fault:
        headers.append(("Retry-After", str(fault["retry_after"])))
    message = fault.get("message")
    if not message:
        message = (
            "Request was not processed because too many requests were received."
            if status == 429
            else "The service is temporarily unavailable."
        )
    return VaultError(
        status,
        fault.get("code") or FAULT_CODES.get(status, "InternalServerError"),
        message,
        headers=headers,
    )


# -- key wrap -----------------------------------------------------------------


def rsa_padding(alg):
    if alg == "RSA-OAEP-256":
        return padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA256()),
            algorithm=hashes.SHA256(),
            label=None,
        )
    if alg == "RSA-OAEP":
        return padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA1()),
            algorithm=hashes.SHA1(),
            label=None,
        )
    return padding.PKCS1v15()


def check_algorithm(key_version, alg):
    kty = key_version.key.kty
    if kty == "oct-HSM":
        if alg not in AES_ALGORITHMS:
            raise bad_parameter(f"Algorithm {alg} is not supported for key type {kty}.")
        required = AES_KW_SIZES.get(alg)
        if required is not None and required != key_version.key.size:
            raise bad_parameter(
                f"Algorithm {alg} needs a {required}-bit key, but "
                f"{key_version.key.name} is {key_version.key.size}-bit."
            )
    elif alg not in RSA_OVERHEAD:
        raise bad_parameter(f"Algorithm {alg} is not supported for key type {kty}.")


def check_aes_kw_length(data, minimum):
    if len(data) % 8 or len(data) < minimum:
        raise bad_parameter(
            f"The value must be a multiple of 8 bytes and at least {minimum} bytes "
            "long for AES key wrap."
        )


def wrap(key_version, alg, data):
    check_algorithm(key_version, alg)
    if key_version.key.kty == "oct-HSM":
        if alg == "CKM_AES_KEY_WRAP_PAD":
            return keywrap.aes_key_wrap_with_padding(key_version.material, data)
        check_aes_kw_length(data, 16)
        return keywrap.aes_key_wrap(key_version.material, data)
    limit = key_version.key.size // 8 - RSA_OVERHEAD[alg]
    if len(data) > limit:
        raise bad_parameter(
            f"The value is {len(data)} bytes long; {alg} with this key wraps at "
            f"most {limit} bytes."
        )
    return key_version.material.public_key().encrypt(data, rsa_padding(alg))


def unwrap(key_version, alg, data):
    check_algorithm(key_version, alg)
    failed = bad_parameter("The value could not be unwrapped with this key version.")
    if key_version.key.kty == "oct-HSM":
        check_aes_kw_length(data, 16 if alg == "CKM_AES_KEY_WRAP_PAD" else 24)
        try:
            if alg == "CKM_AES_KEY_WRAP_PAD":
                return keywrap.aes_key_unwrap_with_padding(key_version.material, data)
            return keywrap.aes_key_unwrap(key_version.material, data)
        except keywrap.InvalidUnwrap:
            raise failed from None
    if len(data) != key_version.key.size // 8:
        raise bad_parameter(
            f"The value must be {key_version.key.size // 8} bytes long for this key."
        )
    try:
        return key_version.material.decrypt(data, rsa_padding(alg))
    except ValueError:
        raise failed from None


# -- control actions ----------------------------------------------------------


def require_string(document, field):
    value = document.get(field)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} must be a non-empty string")
    return value


def choice(document, field, allowed, default):
    value = document.get(field, default)
    if value not in allowed:
        raise ValueError(f"{field} must be one of {sorted(allowed)}, not {value!r}")
    return value


def key_material(document, kty, size):
    """Return (material, size in bits) for a new key version: the imported
    key of the document, or a new random one."""
    if kty == "oct-HSM":
        if "key" in document:
            material = base64.b64decode(require_string(document, "key"), validate=True)
            if len(material) * 8 not in AES_SIZES:
                raise ValueError("key must be 16, 24 or 32 bytes")
            return material, len(material) * 8
        size = size or 256
        if size not in AES_SIZES:
            raise ValueError(
                f"size of an oct-HSM key must be one of {sorted(AES_SIZES)}"
            )
        return secrets.token_bytes(size // 8), size
    if "private_key_pem" in document:
        material = serialization.load_pem_private_key(
            require_string(document, "private_key_pem").encode(), password=None
        )
        if not isinstance(material, rsa.RSAPrivateKey):
            raise ValueError("private_key_pem must be an RSA private key")
        if material.key_size not in RSA_SIZES:
            raise ValueError(f"RSA key size must be one of {sorted(RSA_SIZES)}")
        return material, material.key_size
    size = size or 2048
    if size not in RSA_SIZES:
        raise ValueError(f"size of an RSA key must be one of {sorted(RSA_SIZES)}")
    return rsa.generate_private_key(public_exponent=65537, key_size=size), size


def existing_key(document):
    name = require_string(document, "name")
    vault = choice(document, "vault", set(KEY_TYPES), "vault")
    key = FAKE.keys.get((vault, name))
    if key is None:
        raise ValueError(f"no key {name} in the {vault} data plane")
    return key


def version_result(key, version):
    base = FAKE_URLS[key.vault]
    return {
        "name": key.name,
        "vault": key.vault,
        "kid": version.kid(base),
        "version": version.version,
    }


def control_create_key(document):
    name = require_string(document, "name")
    if not KEY_NAME_RE.match(name):
        raise ValueError(f"{name!r} is not a valid key name")
    kty = choice(document, "kty", {"RSA", "RSA-HSM", "oct-HSM"}, "RSA")
    default_vault = "managedhsm" if kty == "oct-HSM" else "vault"
    vault = choice(document, "vault", set(KEY_TYPES), default_vault)
    if kty not in KEY_TYPES[vault]:
        raise ValueError(f"a {vault} data plane holds no {kty} keys")
    if (vault, name) in FAKE.keys:
        raise ValueError(f"key {name} exists in the {vault} data plane")
    key_ops = document.get("key_ops", list(DEFAULT_KEY_OPS))
    if not isinstance(key_ops, list) or not all(op in ALL_KEY_OPS for op in key_ops):
        raise ValueError(f"key_ops must be a list of {list(ALL_KEY_OPS)}")
    size = document.get("size", 0)
    if not isinstance(size, int):
        raise ValueError("size must be an integer")
    material, size = key_material(document, kty, size)
    key = Key(name, vault, kty, size, key_ops, bool(document.get("deny", False)))
    version = key.add_version(material)
    version.enabled = bool(document.get("enabled", True))
    FAKE.keys[(vault, name)] = key
    LOG.info("control: created %s key %s/%s (%s %d)", vault, name, version.version,
             kty, size)
    return version_result(key, version)


def control_rotate(document):
    key = existing_key(document)
    material, size = key_material(document, key.kty, key.size)
    if size != key.size:
        raise ValueError(f"the new version must be {key.size}-bit like the key")
    version = key.add_version(material)
    LOG.info("control: rotated %s key %s to %s", key.vault, key.name, version.version)
    return version_result(key, version)


def control_version_state(document):
    key = existing_key(document)
    version_id = require_string(document, "version")
    version = key.versions.get(version_id)
    if version is None:
        raise ValueError(f"key {key.name} has no version {version_id}")
    enabled = document.get("enabled")
    if not isinstance(enabled, bool):
        raise ValueError("enabled must be true or false")
    version.enabled = enabled
    version.updated = int(time.time())
    LOG.info("control: %s/%s enabled=%s", key.name, version_id, enabled)
    return {"name": key.name, "version": version_id, "enabled": enabled}


def control_deny(document):
    key = existing_key(document)
    key.deny = bool(document.get("deny", True))
    LOG.info("control: deny=%s for %s key %s", key.deny, key.vault, key.name)
    return {"name": key.name, "vault": key.vault, "deny": key.deny}


def control_register_client(document):
    tenant_id = require_string(document, "tenant_id")
    client_id = require_string(document, "client_id")
    client_secret = require_string(document, "client_secret")
    FAKE.register_client(tenant_id, client_id, client_secret)
    LOG.info("control: registered client %s in tenant %s", client_id, tenant_id)
    return {"tenant_id": tenant_id, "client_id": client_id}


def app_of(document):
    """Return the (tenant_id, client_id) that a control request names, by
    default the default app registration's."""
    if "tenant_id" not in document and "client_id" not in document:
        return FAKE.default_tenant, FAKE.default_client_id
    if "tenant_id" not in document or "client_id" not in document:
        raise ValueError("give both tenant_id and client_id, or neither")
    return require_string(document, "tenant_id"), require_string(document, "client_id")


def federated_token_for(document, credential):
    """Return (token, expires_on) for a federated-credentials or
    rotate-federated-token request: the given token, or a new one."""
    now = int(time.time())
    lifetime = document.get("lifetime", DEFAULT_FEDERATED_LIFETIME)
    if not isinstance(lifetime, int) or isinstance(lifetime, bool):
        raise ValueError("lifetime must be an integer number of seconds")
    expires_on = document.get("expires_on")
    if expires_on is not None and (
        not isinstance(expires_on, int) or isinstance(expires_on, bool)
    ):
        raise ValueError("expires_on must be an integer (Unix seconds)")

    if "token" in document:
        token = require_string(document, "token")
        # A JWT contains no whitespace, and dekms strips trailing whitespace
        # from the token file, so a token with whitespace could never match.
        if any(character.isspace() or ord(character) < 0x20 for character in token):
            raise ValueError("token must not contain whitespace or control characters")
        if expires_on is None:
            expires_on = jwt_expiry(token)
        if expires_on is None:
            expires_on = now + lifetime
        check_expiry(expires_on)
        return token, expires_on
    if expires_on is not None:
        raise ValueError("expires_on is only for a given token; use lifetime")

    expires_on = now + lifetime
    check_expiry(expires_on)
    header = {"alg": "RS256", "kid": "dekms-azure-fake-oidc"}
    claims = {
        "aud": [credential.audience],
        "exp": expires_on,
        "iat": now,
        "iss": credential.issuer,
        "nbf": now,
        "sub": credential.subject,
    }
    token = ".".join(
        [
            b64url_encode(json.dumps(header).encode()),
            b64url_encode(json.dumps(claims).encode()),
            FEDERATED_TOKEN_MARKER + secrets.token_urlsafe(32),
        ]
    )
    return token, expires_on


def check_expiry(expires_on):
    # Error messages print the expiry as a date, which must be in years 1970
    # to 9999.
    if not 0 <= expires_on <= MAX_UNIX_SECONDS:
        raise ValueError(
            f"the token would expire at {expires_on}, which is not between 0 and "
            f"{MAX_UNIX_SECONDS} Unix seconds"
        )


def jwt_expiry(token):
    """Return the integer exp claim of a JWT-shaped token, or None."""
    expiry = jwt_payload(token).get("exp")
    if isinstance(expiry, int) and not isinstance(expiry, bool):
        return expiry
    return None


def federated_result(tenant_id, client_id, credential):
    return {
        "tenant_id": tenant_id,
        "client_id": client_id,
        "token": credential.token,
        "expires_on": credential.expires_on,
    }


def control_register_federated_credential(document):
    tenant_id, client_id = app_of(document)
    for field in ("issuer", "subject", "audience"):
        if field in document:
            require_string(document, field)
    credential = FederatedCredential(
        document.get("issuer", DEFAULT_FEDERATED_ISSUER),
        document.get("subject", DEFAULT_FEDERATED_SUBJECT),
        document.get("audience", DEFAULT_FEDERATED_AUDIENCE),
    )
    token, expires_on = federated_token_for(document, credential)
    FAKE.set_federated_token(tenant_id, client_id, credential, token, expires_on)
    LOG.info(
        "control: registered a federated credential for client %s in tenant %s "
        "(subject %s, expires_on %d)",
        client_id,
        tenant_id,
        credential.subject,
        expires_on,
    )
    return federated_result(tenant_id, client_id, credential)


def control_rotate_federated_token(document):
    tenant_id, client_id = app_of(document)
    credential = FAKE.federated_credentials.get((tenant_id, client_id))
    if credential is None:
        raise ValueError(
            f"client {client_id} in tenant {tenant_id} has no federated credential; "
            "POST federated-credentials first"
        )
    token, expires_on = federated_token_for(document, credential)
    FAKE.set_federated_token(tenant_id, client_id, credential, token, expires_on)
    LOG.info(
        "control: rotated the federated token of client %s in tenant %s "
        "(rotation %d, expires_on %d)",
        client_id,
        tenant_id,
        credential.rotations,
        expires_on,
    )
    return federated_result(tenant_id, client_id, credential)


def control_queue_fault(document):
    operation = choice(document, "operation", FAULT_OPERATIONS, None)
    status = document.get("status")
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("status must be an HTTP error status (400 to 599)")
    count = document.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise ValueError("count must be a positive integer")
    fault = {"operation": operation, "status": status, "remaining": count}
    retry_after = document.get("retry_after", 1 if status == 429 else None)
    if retry_after is not None:
        if not isinstance(retry_after, int) or retry_after < 0:
            raise ValueError("retry_after must be a non-negative integer")
        fault["retry_after"] = retry_after
    for optional in ("code", "message"):
        if optional in document:
            fault[optional] = require_string(document, optional)
    FAKE.faults.append(fault)
    LOG.info("control: queued status %d for %d %s calls", status, count, operation)
    return {"queued": dict(fault)}


def control_clear_faults(document):
    FAKE.faults.clear()
    return {"faults": []}


def control_config(document):
    if "token_lifetime" in document:
        lifetime = document["token_lifetime"]
        if not isinstance(lifetime, int) or lifetime < 1:
            raise ValueError("token_lifetime must be a positive integer")
        FAKE.token_lifetime = lifetime
    if "api_versions" in document:
        versions = document["api_versions"]
        if not isinstance(versions, list) or not versions or not all(
            isinstance(v, str) and v for v in versions
        ):
            raise ValueError("api_versions must be a non-empty list of strings")
        FAKE.api_versions = list(versions)
    return {"token_lifetime": FAKE.token_lifetime, "api_versions": FAKE.api_versions}


def control_issue_token(document):
    resource = require_string(document, "resource").rstrip("/")
    token, lifetime = FAKE.issue_token(resource, FAKE.default_tenant, "control")
    FAKE.counters["control_tokens"] += 1
    return {"access_token": token, "expires_in": lifetime}


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
    keys = []
    for key in FAKE.keys.values():
        keys.append(
            {
                "name": key.name,
                "vault": key.vault,
                "kty": key.kty,
                "size": key.size,
                "key_ops": key.key_ops,
                "deny": key.deny,
                "latest": key.latest.version,
                "versions": {v.version: v.enabled for v in key.versions.values()},
            }
        )
    return {
        "counters": dict(FAKE.counters),
        "entra_tokens_by_scope": dict(FAKE.entra_tokens_by_scope),
        "imds_tokens_by_resource": dict(FAKE.imds_tokens_by_resource),
        "faults_pending": sum(fault["remaining"] for fault in FAKE.faults),
        "keys": keys,
        "managed_identity": dict(FAKE.managed_identity),
        "federated_credentials": [
            {
                "tenant_id": tenant_id,
                "client_id": client_id,
                "issuer": credential.issuer,
                "subject": credential.subject,
                "audience": credential.audience,
                "expires_on": credential.expires_on,
                "rotations": credential.rotations,
            }
            for (tenant_id, client_id), credential in FAKE.federated_credentials.items()
        ],
    }


# Each control action runs with FAKE.lock held, returns the JSON result and
# raises ValueError for an invalid request.
CONTROL_ACTIONS = {
    ("POST", "keys"): control_create_key,
    ("POST", "rotate"): control_rotate,
    ("POST", "version-state"): control_version_state,
    ("POST", "deny"): control_deny,
    ("POST", "clients"): control_register_client,
    ("POST", "federated-credentials"): control_register_federated_credential,
    ("POST", "rotate-federated-token"): control_rotate_federated_token,
    ("POST", "faults"): control_queue_fault,
    ("DELETE", "faults"): control_clear_faults,
    ("POST", "config"): control_config,
    ("POST", "issue-token"): control_issue_token,
    ("POST", "expire-tokens"): control_expire_tokens,
    ("GET", "requests"): control_list_requests,
    ("DELETE", "requests"): control_clear_requests,
    ("GET", "state"): control_state,
}

# Data plane URLs by role, for the kid values that control actions return.
FAKE_URLS = {}


def write_credentials(path):
    """Write the default app registration and managed identity to `path`."""
    (client,) = [c for c in FAKE.clients.values() if c.tenant_id == FAKE.default_tenant]
    document = {
        "tenant_id": client.tenant_id,
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "authority_host": FAKE.base_url,
        "managed_identity_client_id": FAKE.managed_identity["client_id"],
        "managed_identity_object_id": FAKE.managed_identity["object_id"],
        "managed_identity_resource_id": FAKE.managed_identity["msi_res_id"],
        "vault_url": FAKE_URLS["vault"],
        "managed_hsm_url": FAKE_URLS["managedhsm"],
    }
    write_private_bytes(path, (json.dumps(document, indent=2) + "\n").encode())
    LOG.info("wrote credentials of client %s to %s", client.client_id, path)


def main():
    global FAKE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write-credentials",
        metavar="PATH",
        help="write the tenant id, client id and client secret of the default "
        "app registration, and the managed identity ids, as JSON to PATH "
        "(mode 0600)",
    )
    parser.add_argument(
        "--token-lifetime",
        type=int,
        default=3599,
        help="lifetime of issued access tokens in seconds (default: 3599)",
    )
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument(
        "--tls",
        nargs=2,
        metavar=("CERT", "KEY"),
        help="serve both data planes over HTTPS with this PEM certificate chain "
        "and key",
    )
    tls.add_argument(
        "--generate-tls",
        metavar="DIR",
        help="write a CA (DIR/ca.pem) and a server certificate for 127.0.0.1, "
        "::1 and localhost that it signs, and serve both data planes over "
        "HTTPS with them",
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
        stream=sys.stderr, level=logging.INFO, format="azure_fake: %(message)s"
    )

    tls_context = None
    if args.tls or args.generate_tls:
        if args.generate_tls:
            _, cert_path, key_path = generate_tls(args.generate_tls)
        else:
            cert_path, key_path = args.tls
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_context.minimum_version = ssl.TLSVersion.TLSv1_2
        tls_context.load_cert_chain(cert_path, key_path)

    FAKE = Fake(args.token_lifetime)
    FAKE.default_client_id = str(uuid.uuid4())
    FAKE.register_client(
        FAKE.default_tenant,
        FAKE.default_client_id,
        # '+', '/' and '=' make a form body without percent-encoding fail.
        f"{SECRET_PREFIX}+{secrets.token_hex(12)}/=",
    )
    main_server = Server("main")
    vault_server = Server("vault", tls_context)
    hsm_server = Server("managedhsm", tls_context)
    FAKE.base_url = main_server.url
    FAKE_URLS["vault"] = vault_server.url
    FAKE_URLS["managedhsm"] = hsm_server.url
    if args.write_credentials:
        write_credentials(args.write_credentials)

    for server in (vault_server, hsm_server):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    if args.exit_on_stdin_eof:

        def exit_at_eof():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)

        threading.Thread(target=exit_at_eof, daemon=True).start()
    # The sockets listen since their constructors returned, so connections
    # made after these lines are accepted.
    print(f"VAULT {vault_server.url}", flush=True)
    print(f"MANAGED_HSM {hsm_server.url}", flush=True)
    print(f"READY {main_server.url}", flush=True)
    LOG.info(
        "listening on %s (tokens, control), %s (Key Vault), %s (Managed HSM)",
        main_server.url,
        vault_server.url,
        hsm_server.url,
    )
    try:
        main_server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
