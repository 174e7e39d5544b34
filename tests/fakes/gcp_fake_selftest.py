#!/usr/bin/env python3
"""Self-test of gcp_fake.py over loopback HTTP.

Usage: gcp_fake_selftest.py [--python PATH]

PATH is the interpreter of the test-tools virtualenv (default: this one).
This script re-executes itself with PATH, because it signs JWTs with the
`cryptography` package that only the virtualenv has. It exits with 77, which
ctest reports as a skip, when PATH or `cryptography` is missing, except when
the environment variable CI is "true", where that is a failure (exit 1).

The test computes CRC-32C bit by bit and builds and signs every JWT itself,
so it checks the fake against implementations that share no code with it.
"""

import argparse
import base64
import http.client
import json
import os
import secrets
import stat
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

EXIT_SKIP = 77
REEXEC_MARKER = "DEKMS_GCP_FAKE_SELFTEST_REEXEC"
FAKE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gcp_fake.py")
HTTP_TIMEOUT_SECONDS = 10
START_TIMEOUT_SECONDS = 30

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE_CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
SCOPE_CLOUDKMS = "https://www.googleapis.com/auth/cloudkms"
SCOPE_STORAGE = "https://www.googleapis.com/auth/devstorage.read_write"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
PROJECT_PATH = "/computeMetadata/v1/project/project-id"
DECRYPTION_FAILED = (
    "Decryption failed: verify that 'name' refers to the correct CryptoKey."
)


def crc32c_bitwise(data):
    """CRC-32C without a table: reflected polynomial 0x82F63B78."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def b64(data):
    return base64.b64encode(data).decode("ascii")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text):
    return base64.b64decode(text, validate=True)


class FakeProcess:
    """One gcp_fake.py child process with its credential files."""

    def __init__(self, directory, extra_args=()):
        self.service_account_paths = [
            os.path.join(directory, "sa-1.json"),
            os.path.join(directory, "sa-2.json"),
        ]
        self.authorized_user_path = os.path.join(directory, "user.json")
        argv = [sys.executable, FAKE_PATH, "--exit-on-stdin-eof"]
        for path in self.service_account_paths:
            argv += ["--write-service-account", path]
        argv += ["--write-authorized-user", self.authorized_user_path]
        argv += list(extra_args)
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.stderr_lines = []
        self.stderr_reader = threading.Thread(target=self.read_stderr, daemon=True)
        self.stderr_reader.start()
        ready = {}

        def read_ready():
            ready["line"] = self.process.stdout.readline().decode()

        reader = threading.Thread(target=read_ready, daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_SECONDS)
        line = ready.get("line", "")
        if not line.startswith("READY http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(
                f"gcp_fake.py printed {line!r} instead of READY; stderr:\n"
                + self.stderr_text()
            )
        self.url = line.split()[1]
        self.port = int(self.url.rsplit(":", 1)[1])
        with open(self.service_account_paths[0]) as file:
            self.service_account = json.load(file)
        with open(self.service_account_paths[1]) as file:
            self.service_account_2 = json.load(file)
        with open(self.authorized_user_path) as file:
            self.authorized_user = json.load(file)

    def read_stderr(self):
        for line in self.process.stderr:
            self.stderr_lines.append(line.decode(errors="replace"))

    def stderr_text(self):
        return "".join(self.stderr_lines)

    def stop(self):
        self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.stderr_reader.join(10)
        self.process.stdout.close()
        self.process.stderr.close()

    # -- HTTP -----------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, chunked=False):
        """Send one request and return (status, headers, body bytes)."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=HTTP_TIMEOUT_SECONDS
        )
        try:
            if isinstance(body, str):
                body = body.encode()
            if chunked:
                connection.request(
                    method,
                    path,
                    body=iter([body[:7], body[7:]]),
                    headers=headers or {},
                    encode_chunked=True,
                )
            else:
                connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def control(self, method, path, document=None, expected_status=200):
        body = json.dumps(document) if document is not None else None
        status, _, response = self.request(method, "/__control__/" + path, body)
        if status != expected_status:
            raise AssertionError(
                f"control {method} {path} returned {status}: {response!r}"
            )
        return json.loads(response)

    def post_form(self, fields, content_type="application/x-www-form-urlencoded"):
        body = urllib.parse.urlencode(fields)
        status, headers, response = self.request(
            "POST", "/token", body, {"Content-Type": content_type}
        )
        return status, json.loads(response)

    def kms(self, method, name, document=None, token=None, suffix=""):
        """Call Cloud KMS and return (status, headers, parsed JSON or text)."""
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps(document) if document is not None else None
        status, response_headers, response = self.request(
            method, f"/v1/{name}{suffix}", body, headers
        )
        try:
            parsed = json.loads(response)
        except ValueError:
            parsed = response.decode(errors="replace")
        return status, response_headers, parsed


def make_assertion(account, **overrides):
    """Return a JWT for `account` (a parsed key file), signed with its key.

    Keyword arguments replace claims; header_* replace header fields, and a
    value of None removes the field."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": account["private_key_id"]}
    claims = {
        "iss": account["client_email"],
        "scope": SCOPE_CLOUD_PLATFORM,
        "aud": account["token_uri"],
        "iat": now,
        "exp": now + 3600,
    }
    signing_key_pem = overrides.pop("signing_key_pem", account["private_key"])
    for name, value in overrides.items():
        target, field = (
            (header, name[len("header_"):])
            if name.startswith("header_")
            else (claims, name)
        )
        if value is None:
            target.pop(field, None)
        else:
            target[field] = value
    signing_input = (
        b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    )
    key = serialization.load_pem_private_key(signing_key_pem.encode(), None)
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


FAKE = None
KEY = "projects/p/locations/global/keyRings/r/cryptoKeys/"


class GcpFakeTestCase(unittest.TestCase):
    fake = None

    @classmethod
    def setUpClass(cls):
        cls.fake = FAKE

    def token(self, scopes=None):
        document = {} if scopes is None else {"scopes": scopes}
        return self.fake.control("POST", "issue-token", document)["access_token"]

    def create_key(self, key_id, **options):
        document = {"name": KEY + key_id}
        document.update(options)
        return self.fake.control("POST", "keys", document)

    def exchange(self, assertion):
        return self.fake.post_form(
            {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
        )

    def encrypt(self, name, plaintext, aad=None, token=None, checksums=True):
        document = {"plaintext": b64(plaintext)}
        if checksums:
            document["plaintextCrc32c"] = str(crc32c_bitwise(plaintext))
        if aad is not None:
            document["additionalAuthenticatedData"] = b64(aad)
            if checksums:
                document["additionalAuthenticatedDataCrc32c"] = str(
                    crc32c_bitwise(aad)
                )
        return self.fake.kms(
            "POST", name, document, token or self.token(), suffix=":encrypt"
        )

    def decrypt(self, name, ciphertext, aad=None, token=None):
        document = {
            "ciphertext": b64(ciphertext),
            "ciphertextCrc32c": str(crc32c_bitwise(ciphertext)),
        }
        if aad is not None:
            document["additionalAuthenticatedData"] = b64(aad)
            document["additionalAuthenticatedDataCrc32c"] = str(crc32c_bitwise(aad))
        return self.fake.kms(
            "POST", name, document, token or self.token(), suffix=":decrypt"
        )

    def set_state(self, version, state):
        self.fake.control("POST", "version-state", {"name": version, "state": state})

    def assert_google_error(self, response, code, status, message_part=None):
        status_code, _, body = response
        self.assertEqual(status_code, code, body)
        self.assertIsInstance(body, dict, body)
        self.assertEqual(body["error"]["code"], code)
        self.assertEqual(body["error"]["status"], status)
        if message_part is not None:
            self.assertIn(message_part, body["error"]["message"])


# -- CRC-32C of the test itself ------------------------------------------------


class Crc32cTest(unittest.TestCase):
    def test_published_vectors(self):
        self.assertEqual(crc32c_bitwise(b"123456789"), 0xE3069283)
        self.assertEqual(crc32c_bitwise(b"\x00" * 32), 0x8A9136AA)
        self.assertEqual(crc32c_bitwise(b"\xff" * 32), 0x62A8AB43)
        self.assertEqual(crc32c_bitwise(b""), 0)


# -- credential files ----------------------------------------------------------


class CredentialFileTest(GcpFakeTestCase):
    def test_service_account_file(self):
        account = self.fake.service_account
        self.assertEqual(account["type"], "service_account")
        self.assertEqual(account["token_uri"], self.fake.url + "/token")
        self.assertEqual(account["project_id"], "dekms-test-project")
        self.assertTrue(
            account["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
        )
        for field in ("private_key_id", "client_email", "client_id", "auth_uri"):
            self.assertTrue(account[field], field)
        self.assertNotEqual(
            account["client_email"], self.fake.service_account_2["client_email"]
        )

    def test_files_are_private(self):
        paths = self.fake.service_account_paths + [self.fake.authorized_user_path]
        for path in paths:
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)

    def test_authorized_user_file(self):
        user = self.fake.authorized_user
        self.assertEqual(user["type"], "authorized_user")
        self.assertEqual(user["token_uri"], self.fake.url + "/token")
        for field in ("client_id", "client_secret", "refresh_token"):
            self.assertTrue(user[field], field)

    def test_urls_stay_on_loopback(self):
        for account in (self.fake.service_account, self.fake.authorized_user):
            for field, value in account.items():
                if field.endswith("_uri") or field.endswith("_url"):
                    self.assertTrue(value.startswith(self.fake.url), field)


# -- OAuth2 token endpoint -----------------------------------------------------


class TokenEndpointTest(GcpFakeTestCase):
    def test_valid_assertion_gets_token(self):
        status, body = self.exchange(make_assertion(self.fake.service_account))

        self.assertEqual(status, 200, body)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 3599)
        self.assertTrue(body["access_token"].startswith("ya29."))
        token = body["access_token"]
        status, _, key = self.fake.kms("GET", self.shared_key(), token=token)
        self.assertEqual(status, 200, key)

    def shared_key(self):
        name = KEY + "token-endpoint"
        self.fake.request(
            "POST", "/__control__/keys", json.dumps({"name": name})
        )
        return name

    def test_second_account_gets_token(self):
        status, body = self.exchange(make_assertion(self.fake.service_account_2))
        self.assertEqual(status, 200, body)

    def test_cloudkms_scope_accepted(self):
        status, body = self.exchange(
            make_assertion(self.fake.service_account, scope=SCOPE_CLOUDKMS)
        )
        self.assertEqual(status, 200, body)

    def test_storage_token_lacks_kms_scope(self):
        status, body = self.exchange(
            make_assertion(self.fake.service_account, scope=SCOPE_STORAGE)
        )
        self.assertEqual(status, 200, body)

        response = self.fake.kms("GET", self.shared_key(), token=body["access_token"])
        self.assert_google_error(response, 403, "PERMISSION_DENIED", "scopes")
        self.assertIn('error="insufficient_scope"', response[1]["WWW-Authenticate"])

    def test_bad_signature_rejected(self):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        other_pem = other_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

        status, body = self.exchange(
            make_assertion(self.fake.service_account, signing_key_pem=other_pem)
        )

        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")
        self.assertEqual(body["error_description"], "Invalid JWT Signature.")

    def test_altered_claims_rejected(self):
        header, _, signature = make_assertion(self.fake.service_account).split(".")
        claims = b64url(
            json.dumps(
                {
                    "iss": self.fake.service_account["client_email"],
                    "scope": SCOPE_CLOUD_PLATFORM,
                    "aud": self.fake.url + "/token",
                    "iat": int(time.time()),
                    "exp": int(time.time()) + 60,
                }
            ).encode()
        )

        status, body = self.exchange(f"{header}.{claims}.{signature}")

        self.assertEqual(status, 400)
        self.assertEqual(body["error_description"], "Invalid JWT Signature.")

    def test_wrong_kid_rejected(self):
        status, body = self.exchange(
            make_assertion(
                self.fake.service_account,
                header_kid=self.fake.service_account_2["private_key_id"],
            )
        )
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")

    def test_missing_kid_rejected(self):
        status, body = self.exchange(
            make_assertion(self.fake.service_account, header_kid=None)
        )
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")

    def test_wrong_alg_rejected(self):
        status, body = self.exchange(
            make_assertion(self.fake.service_account, header_alg="RS512")
        )
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")

    def test_wrong_typ_rejected(self):
        status, body = self.exchange(
            make_assertion(self.fake.service_account, header_typ=None)
        )
        self.assertEqual(status, 400)

    def test_wrong_audience_rejected(self):
        status, body = self.exchange(
            make_assertion(
                self.fake.service_account, aud="https://oauth2.googleapis.com/token"
            )
        )
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")
        self.assertIn("audience", body["error_description"])

    def test_expired_assertion_rejected(self):
        now = int(time.time())
        status, body = self.exchange(
            make_assertion(self.fake.service_account, iat=now - 200, exp=now - 10)
        )
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")
        self.assertIn("iat and exp", body["error_description"])

    def test_future_iat_rejected(self):
        now = int(time.time())
        status, body = self.exchange(
            make_assertion(self.fake.service_account, iat=now + 600, exp=now + 1200)
        )
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")

    def test_backdated_iat_accepted(self):
        now = int(time.time())
        status, body = self.exchange(
            make_assertion(self.fake.service_account, iat=now - 30, exp=now + 3570)
        )
        self.assertEqual(status, 200, body)

    def test_lifetime_over_hour_rejected(self):
        now = int(time.time())
        status, body = self.exchange(
            make_assertion(self.fake.service_account, iat=now, exp=now + 3601)
        )
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")

    def test_missing_scope_rejected(self):
        status, body = self.exchange(
            make_assertion(self.fake.service_account, scope=None)
        )
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_scope")

    def test_unrelated_scope_rejected(self):
        status, body = self.exchange(
            make_assertion(
                self.fake.service_account,
                scope="https://www.googleapis.com/auth/userinfo.email",
            )
        )
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_scope")

    def test_unknown_issuer_rejected(self):
        status, body = self.exchange(
            make_assertion(
                self.fake.service_account,
                iss="stranger@dekms-test-project.iam.gserviceaccount.com",
            )
        )
        self.assertEqual(status, 401)
        self.assertEqual(body["error"], "invalid_client")

    def test_padded_segments_rejected(self):
        header, claims, signature = make_assertion(self.fake.service_account).split(".")
        padded = signature + "=" * (-len(signature) % 4 or 4)
        status, body = self.exchange(f"{header}.{claims}.{padded}")
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")

    def test_two_segments_rejected(self):
        header, claims, _ = make_assertion(self.fake.service_account).split(".")
        status, body = self.exchange(f"{header}.{claims}")
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")

    def test_json_body_rejected(self):
        status, body = self.fake.post_form(
            {"grant_type": JWT_BEARER_GRANT, "assertion": "x.y.z"},
            content_type="application/json",
        )
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_request")

    def test_unknown_grant_type_rejected(self):
        status, body = self.fake.post_form({"grant_type": "client_credentials"})
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "unsupported_grant_type")

    def test_refresh_token_grant(self):
        user = self.fake.authorized_user
        status, body = self.fake.post_form(
            {
                "grant_type": "refresh_token",
                "client_id": user["client_id"],
                "client_secret": user["client_secret"],
                "refresh_token": user["refresh_token"],
            }
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertIn(SCOPE_CLOUD_PLATFORM, body["scope"].split())

    def test_refresh_wrong_secret_rejected(self):
        user = self.fake.authorized_user
        status, body = self.fake.post_form(
            {
                "grant_type": "refresh_token",
                "client_id": user["client_id"],
                "client_secret": "wrong",
                "refresh_token": user["refresh_token"],
            }
        )
        self.assertEqual(status, 401)
        self.assertEqual(body["error"], "invalid_client")

    def test_refresh_wrong_token_rejected(self):
        user = self.fake.authorized_user
        status, body = self.fake.post_form(
            {
                "grant_type": "refresh_token",
                "client_id": user["client_id"],
                "client_secret": user["client_secret"],
                "refresh_token": "1//wrong",
            }
        )
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")

    def test_unencoded_form_rejected(self):
        # A '+' that is not percent-encoded decodes to a space, so the client
        # secret no longer matches.
        user = self.fake.authorized_user
        self.assertIn("+", user["client_secret"])
        body = (
            "grant_type=refresh_token"
            f"&client_id={user['client_id']}"
            f"&client_secret={user['client_secret']}"
            f"&refresh_token={urllib.parse.quote(user['refresh_token'], safe='')}"
        )
        status, _, response = self.fake.request(
            "POST",
            "/token",
            body,
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.assertEqual(status, 401, response)

    def test_status_fault(self):
        self.fake.control(
            "POST", "faults", {"operation": "token", "kind": "status", "status": 503}
        )

        first_status, _ = self.exchange(make_assertion(self.fake.service_account))
        second_status, _ = self.exchange(make_assertion(self.fake.service_account))

        self.assertEqual(first_status, 503)
        self.assertEqual(second_status, 200)

    def test_counts_issued_tokens(self):
        before = self.fake.control("GET", "state")["counters"]
        self.exchange(make_assertion(self.fake.service_account))
        self.exchange(make_assertion(self.fake.service_account, aud="x"))
        after = self.fake.control("GET", "state")["counters"]
        self.assertEqual(
            after["token_endpoint_tokens"], before["token_endpoint_tokens"] + 1
        )


# -- GCE metadata server -------------------------------------------------------


class MetadataTest(GcpFakeTestCase):
    def tearDown(self):
        self.fake.control("POST", "metadata", {"flavor_header": True})

    def test_token_with_flavor(self):
        status, headers, body = self.fake.request(
            "GET", TOKEN_PATH, headers={"Metadata-Flavor": "Google"}
        )

        self.assertEqual(status, 200, body)
        self.assertEqual(headers["Metadata-Flavor"], "Google")
        document = json.loads(body)
        self.assertEqual(document["token_type"], "Bearer")
        self.assertEqual(document["expires_in"], 3599)
        self.create_key("metadata")
        kms_status, _, key = self.fake.kms(
            "GET", KEY + "metadata", token=document["access_token"]
        )
        self.assertEqual(kms_status, 200, key)

    def test_missing_flavor_rejected(self):
        before = self.fake.control("GET", "state")["counters"]["metadata_tokens"]
        status, _, body = self.fake.request("GET", TOKEN_PATH)
        after = self.fake.control("GET", "state")["counters"]["metadata_tokens"]
        self.assertEqual(status, 403)
        self.assertIn(b"Metadata-Flavor", body)
        self.assertEqual(after, before)

    def test_wrong_flavor_rejected(self):
        status, _, _ = self.fake.request(
            "GET", TOKEN_PATH, headers={"Metadata-Flavor": "google"}
        )
        self.assertEqual(status, 403)

    def test_forwarded_request_rejected(self):
        status, _, _ = self.fake.request(
            "GET",
            TOKEN_PATH,
            headers={"Metadata-Flavor": "Google", "X-Forwarded-For": "10.0.0.1"},
        )
        self.assertEqual(status, 403)

    def test_project_id(self):
        status, headers, body = self.fake.request(
            "GET", PROJECT_PATH, headers={"Metadata-Flavor": "Google"}
        )
        self.assertEqual(status, 200)
        self.assertEqual(body, b"dekms-test-project")
        self.assertEqual(headers["Metadata-Flavor"], "Google")

    def test_flavor_header_switch(self):
        self.fake.control("POST", "metadata", {"flavor_header": False})
        status, headers, _ = self.fake.request(
            "GET", TOKEN_PATH, headers={"Metadata-Flavor": "Google"}
        )
        self.assertEqual(status, 200)
        self.assertIsNone(headers.get("Metadata-Flavor"))

    def test_status_fault_counts(self):
        self.fake.control(
            "POST",
            "faults",
            {
                "operation": "metadata_token",
                "kind": "status",
                "status": 503,
                "count": 2,
            },
        )
        flavor = {"Metadata-Flavor": "Google"}
        statuses = [
            self.fake.request("GET", TOKEN_PATH, headers=flavor)[0]
            for _ in range(3)
        ]
        self.assertEqual(statuses, [503, 503, 200])

    def test_requested_scopes(self):
        status, _, body = self.fake.request(
            "GET",
            TOKEN_PATH + "?scopes=" + SCOPE_STORAGE,
            headers={"Metadata-Flavor": "Google"},
        )
        self.assertEqual(status, 200)
        self.create_key("metadata-scopes")
        response = self.fake.kms(
            "GET", KEY + "metadata-scopes", token=json.loads(body)["access_token"]
        )
        self.assert_google_error(response, 403, "PERMISSION_DENIED")


# -- Cloud KMS -----------------------------------------------------------------


class KmsTest(GcpFakeTestCase):
    def test_get_crypto_key(self):
        created = self.create_key("get")

        status, _, key = self.fake.kms("GET", KEY + "get", token=self.token())

        self.assertEqual(status, 200, key)
        self.assertEqual(key["name"], KEY + "get")
        self.assertEqual(key["purpose"], "ENCRYPT_DECRYPT")
        self.assertEqual(key["primary"]["name"], created["primary"])
        self.assertEqual(key["primary"]["state"], "ENABLED")
        self.assertEqual(key["primary"]["protectionLevel"], "SOFTWARE")
        self.assertEqual(key["primary"]["algorithm"], "GOOGLE_SYMMETRIC_ENCRYPTION")
        self.assertIn("createTime", key["primary"])
        self.assertEqual(key["versionTemplate"]["protectionLevel"], "SOFTWARE")

    def test_round_trip_with_aad_and_checksums(self):
        self.create_key("round-trip")
        plaintext = secrets.token_bytes(32)
        aad = b"dek-id:disk-1"

        status, _, encrypted = self.encrypt(KEY + "round-trip", plaintext, aad)

        self.assertEqual(status, 200, encrypted)
        self.assertEqual(encrypted["name"], KEY + "round-trip/cryptoKeyVersions/1")
        ciphertext = unb64(encrypted["ciphertext"])
        self.assertEqual(encrypted["ciphertextCrc32c"], str(crc32c_bitwise(ciphertext)))
        self.assertIs(encrypted["verifiedPlaintextCrc32c"], True)
        self.assertIs(encrypted["verifiedAdditionalAuthenticatedDataCrc32c"], True)
        self.assertEqual(encrypted["protectionLevel"], "SOFTWARE")
        self.assertNotIn(plaintext, ciphertext)

        status, _, decrypted = self.decrypt(KEY + "round-trip", ciphertext, aad)

        self.assertEqual(status, 200, decrypted)
        self.assertEqual(unb64(decrypted["plaintext"]), plaintext)
        self.assertEqual(decrypted["plaintextCrc32c"], str(crc32c_bitwise(plaintext)))
        self.assertIs(decrypted["usedPrimary"], True)
        self.assertEqual(decrypted["protectionLevel"], "SOFTWARE")

    def test_verified_flags_omitted_without_checksums(self):
        self.create_key("no-checksums")
        status, _, encrypted = self.encrypt(
            KEY + "no-checksums", b"data", b"aad", checksums=False
        )
        self.assertEqual(status, 200, encrypted)
        self.assertNotIn("verifiedPlaintextCrc32c", encrypted)
        self.assertNotIn("verifiedAdditionalAuthenticatedDataCrc32c", encrypted)
        self.assertIn("ciphertextCrc32c", encrypted)

    def test_numbers_and_url_safe_base64_accepted(self):
        self.create_key("lenient")
        plaintext = bytes(range(250, 256)) * 3
        document = {
            "plaintext": base64.urlsafe_b64encode(plaintext).decode().rstrip("="),
            "plaintextCrc32c": crc32c_bitwise(plaintext),
        }
        status, _, encrypted = self.fake.kms(
            "POST", KEY + "lenient", document, self.token(), suffix=":encrypt"
        )
        self.assertEqual(status, 200, encrypted)
        self.assertIs(encrypted["verifiedPlaintextCrc32c"], True)
        status, _, decrypted = self.decrypt(
            KEY + "lenient", unb64(encrypted["ciphertext"])
        )
        self.assertEqual(unb64(decrypted["plaintext"]), plaintext)

    def test_chunked_request_accepted(self):
        self.create_key("chunked")
        body = json.dumps({"plaintext": b64(b"chunked body")})
        status, _, response = self.fake.request(
            "POST",
            f"/v1/{KEY}chunked:encrypt",
            body,
            {"Authorization": f"Bearer {self.token()}"},
            chunked=True,
        )
        self.assertEqual(status, 200, response)

    def test_post_without_length_rejected(self):
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.fake.port, timeout=HTTP_TIMEOUT_SECONDS
        )
        try:
            connection.putrequest("POST", f"/v1/{KEY}any:encrypt")
            connection.endheaders()
            status = connection.getresponse().status
        finally:
            connection.close()
        self.assertEqual(status, 411)

    def test_wrong_plaintext_checksum(self):
        self.create_key("bad-plaintext-crc")
        document = {"plaintext": b64(b"data"), "plaintextCrc32c": "12345"}
        response = self.fake.kms(
            "POST", KEY + "bad-plaintext-crc", document, self.token(), suffix=":encrypt"
        )
        self.assert_google_error(response, 400, "INVALID_ARGUMENT", "plaintext_crc32c")

    def test_wrong_aad_checksum(self):
        self.create_key("bad-aad-crc")
        document = {
            "plaintext": b64(b"data"),
            "additionalAuthenticatedData": b64(b"aad"),
            "additionalAuthenticatedDataCrc32c": str(crc32c_bitwise(b"other")),
        }
        response = self.fake.kms(
            "POST", KEY + "bad-aad-crc", document, self.token(), suffix=":encrypt"
        )
        self.assert_google_error(
            response, 400, "INVALID_ARGUMENT", "additional_authenticated_data_crc32c"
        )

    def test_wrong_ciphertext_checksum(self):
        self.create_key("bad-ciphertext-crc")
        _, _, encrypted = self.encrypt(KEY + "bad-ciphertext-crc", b"data")
        document = {
            "ciphertext": encrypted["ciphertext"],
            "ciphertextCrc32c": str(int(encrypted["ciphertextCrc32c"]) ^ 1),
        }
        response = self.fake.kms(
            "POST",
            KEY + "bad-ciphertext-crc",
            document,
            self.token(),
            suffix=":decrypt",
        )
        self.assert_google_error(response, 400, "INVALID_ARGUMENT", "ciphertext_crc32c")

    def test_decrypt_with_other_aad_fails(self):
        self.create_key("aad")
        _, _, encrypted = self.encrypt(KEY + "aad", b"data", b"aad-1")
        response = self.decrypt(KEY + "aad", unb64(encrypted["ciphertext"]), b"aad-2")
        self.assert_google_error(response, 400, "INVALID_ARGUMENT", DECRYPTION_FAILED)

    def test_decrypt_without_aad_fails(self):
        self.create_key("aad-missing")
        _, _, encrypted = self.encrypt(KEY + "aad-missing", b"data", b"aad-1")
        response = self.decrypt(KEY + "aad-missing", unb64(encrypted["ciphertext"]))
        self.assert_google_error(response, 400, "INVALID_ARGUMENT", DECRYPTION_FAILED)

    def test_decrypt_under_other_key_fails(self):
        self.create_key("key-a")
        self.create_key("key-b")
        _, _, encrypted = self.encrypt(KEY + "key-a", b"data")
        response = self.decrypt(KEY + "key-b", unb64(encrypted["ciphertext"]))
        self.assert_google_error(response, 400, "INVALID_ARGUMENT", DECRYPTION_FAILED)

    def test_decrypt_altered_ciphertext_fails(self):
        self.create_key("altered")
        _, _, encrypted = self.encrypt(KEY + "altered", b"data")
        ciphertext = bytearray(unb64(encrypted["ciphertext"]))
        for position in (0, 5, len(ciphertext) // 2, len(ciphertext) - 1):
            altered = bytearray(ciphertext)
            altered[position] ^= 0x40
            response = self.decrypt(KEY + "altered", bytes(altered))
            self.assert_google_error(
                response, 400, "INVALID_ARGUMENT", DECRYPTION_FAILED
            )

    def test_decrypt_short_ciphertext_fails(self):
        self.create_key("short")
        response = self.decrypt(KEY + "short", b"\x01short")
        self.assert_google_error(response, 400, "INVALID_ARGUMENT", DECRYPTION_FAILED)

    def test_named_version_and_rotation(self):
        self.create_key("rotate")
        _, _, old = self.encrypt(KEY + "rotate", b"old data")
        rotated = self.fake.control("POST", "rotate", {"name": KEY + "rotate"})
        self.assertEqual(rotated["primary"], KEY + "rotate/cryptoKeyVersions/2")

        _, _, new = self.encrypt(KEY + "rotate", b"new data")
        _, _, pinned = self.encrypt(KEY + "rotate/cryptoKeyVersions/1", b"pinned")
        status, _, old_plain = self.decrypt(KEY + "rotate", unb64(old["ciphertext"]))

        self.assertEqual(new["name"], KEY + "rotate/cryptoKeyVersions/2")
        self.assertEqual(pinned["name"], KEY + "rotate/cryptoKeyVersions/1")
        self.assertEqual(status, 200, old_plain)
        self.assertEqual(unb64(old_plain["plaintext"]), b"old data")
        self.assertNotIn("usedPrimary", old_plain)
        _, _, key = self.fake.kms("GET", KEY + "rotate", token=self.token())
        self.assertEqual(key["primary"]["name"], rotated["primary"])

    def test_get_version(self):
        self.create_key("version-get")
        status, _, version = self.fake.kms(
            "GET", KEY + "version-get/cryptoKeyVersions/1", token=self.token()
        )
        self.assertEqual(status, 200, version)
        self.assertEqual(version["state"], "ENABLED")

    def test_unknown_version_not_found(self):
        self.create_key("version-missing")
        response = self.encrypt(KEY + "version-missing/cryptoKeyVersions/7", b"data")
        self.assert_google_error(response, 404, "NOT_FOUND")

    def test_disabled_primary_fails_precondition(self):
        self.create_key("disable")
        _, _, encrypted = self.encrypt(KEY + "disable", b"data")
        version = KEY + "disable/cryptoKeyVersions/1"
        ciphertext = unb64(encrypted["ciphertext"])
        self.set_state(version, "DISABLED")

        encrypt_response = self.encrypt(KEY + "disable", b"data")
        decrypt_response = self.decrypt(KEY + "disable", ciphertext)
        self.set_state(version, "ENABLED")
        enabled_status, _, _ = self.decrypt(KEY + "disable", ciphertext)

        self.assert_google_error(
            encrypt_response, 400, "FAILED_PRECONDITION", "DISABLED"
        )
        self.assert_google_error(
            decrypt_response, 400, "FAILED_PRECONDITION", "DISABLED"
        )
        self.assertEqual(enabled_status, 200)

    def test_destroyed_version_fails_precondition(self):
        self.create_key("destroy")
        _, _, encrypted = self.encrypt(KEY + "destroy", b"data")
        version = KEY + "destroy/cryptoKeyVersions/1"
        self.set_state(version, "DESTROYED")

        response = self.decrypt(KEY + "destroy", unb64(encrypted["ciphertext"]))

        self.assert_google_error(response, 400, "FAILED_PRECONDITION", "DESTROYED")
        self.fake.control(
            "POST",
            "version-state",
            {"name": version, "state": "ENABLED"},
            expected_status=400,
        )

    def test_created_disabled_primary(self):
        self.create_key("created-disabled", primary_state="DISABLED")
        response = self.encrypt(KEY + "created-disabled", b"data")
        self.assert_google_error(response, 400, "FAILED_PRECONDITION")

    def test_wrong_purpose_fails_precondition(self):
        self.create_key("sign", purpose="ASYMMETRIC_SIGN")
        _, _, key = self.fake.kms("GET", KEY + "sign", token=self.token())
        self.assertNotIn("primary", key)
        response = self.encrypt(KEY + "sign", b"data")
        self.assert_google_error(response, 400, "FAILED_PRECONDITION", "purpose")

    def test_missing_key_not_found(self):
        response = self.fake.kms("GET", KEY + "absent", token=self.token())
        self.assert_google_error(response, 404, "NOT_FOUND", KEY + "absent")
        response = self.encrypt(KEY + "absent", b"data")
        self.assert_google_error(response, 404, "NOT_FOUND")

    def test_missing_key_as_permission_denied(self):
        self.fake.control("POST", "config", {"missing_key_status": 403})
        try:
            response = self.encrypt(KEY + "absent-403", b"data")
        finally:
            self.fake.control("POST", "config", {"missing_key_status": 404})
        self.assert_google_error(
            response, 403, "PERMISSION_DENIED", "(or it may not exist)"
        )

    def test_denied_key_names_permission(self):
        self.create_key("denied", deny=True)
        expected = {
            "get": "cloudkms.cryptoKeys.get",
            ":encrypt": "cloudkms.cryptoKeyVersions.useToEncrypt",
            ":decrypt": "cloudkms.cryptoKeyVersions.useToDecrypt",
        }
        responses = {
            "get": self.fake.kms("GET", KEY + "denied", token=self.token()),
            ":encrypt": self.encrypt(KEY + "denied", b"data"),
            ":decrypt": self.decrypt(KEY + "denied", b"\x01" + b"x" * 60),
        }
        for operation, permission in expected.items():
            self.assert_google_error(
                responses[operation],
                403,
                "PERMISSION_DENIED",
                f"Permission '{permission}' denied on resource '{KEY}denied' "
                "(or it may not exist).",
            )

    def test_deny_switch(self):
        self.create_key("deny-later")
        self.fake.control("POST", "deny", {"name": KEY + "deny-later", "deny": True})
        denied = self.encrypt(KEY + "deny-later", b"data")
        self.fake.control("POST", "deny", {"name": KEY + "deny-later", "deny": False})
        allowed_status, _, _ = self.encrypt(KEY + "deny-later", b"data")
        self.assert_google_error(denied, 403, "PERMISSION_DENIED")
        self.assertEqual(allowed_status, 200)

    def test_software_size_limits(self):
        self.create_key("limits")
        limit = 64 * 1024
        status, _, _ = self.encrypt(KEY + "limits", b"p" * limit, b"a" * limit)
        self.assertEqual(status, 200)
        self.assert_google_error(
            self.encrypt(KEY + "limits", b"p" * (limit + 1)), 400, "INVALID_ARGUMENT"
        )
        self.assert_google_error(
            self.encrypt(KEY + "limits", b"p", b"a" * (limit + 1)),
            400,
            "INVALID_ARGUMENT",
        )

    def test_hsm_combined_limit(self):
        self.create_key("hsm", protection_level="HSM")
        status, _, encrypted = self.encrypt(KEY + "hsm", b"p" * 4096, b"a" * 4096)
        self.assertEqual(status, 200, encrypted)
        self.assertEqual(encrypted["protectionLevel"], "HSM")
        self.assert_google_error(
            self.encrypt(KEY + "hsm", b"p" * 4096, b"a" * 4097), 400, "INVALID_ARGUMENT"
        )

    def test_empty_plaintext_rejected(self):
        self.create_key("empty")
        response = self.fake.kms(
            "POST", KEY + "empty", {}, self.token(), suffix=":encrypt"
        )
        self.assert_google_error(response, 400, "INVALID_ARGUMENT")

    def test_malformed_requests_rejected(self):
        self.create_key("malformed")
        cases = {
            "unknown field": {"plaintext": b64(b"x"), "plaintextCrc": "1"},
            "bad base64": {"plaintext": "not base64!"},
            "bad int64": {"plaintext": b64(b"x"), "plaintextCrc32c": "12a"},
            "bool int64": {"plaintext": b64(b"x"), "plaintextCrc32c": True},
        }
        for case, document in cases.items():
            response = self.fake.kms(
                "POST", KEY + "malformed", document, self.token(), suffix=":encrypt"
            )
            with self.subTest(case):
                self.assert_google_error(response, 400, "INVALID_ARGUMENT")
        status, _, body = self.fake.request(
            "POST",
            f"/v1/{KEY}malformed:encrypt",
            "{not json",
            {"Authorization": f"Bearer {self.token()}"},
        )
        self.assertEqual(status, 400, body)

    def test_unknown_routes_not_found(self):
        self.create_key("routes")
        token = self.token()
        paths = [
            ("POST", f"/v1/{KEY}routes/cryptoKeyVersions/1:decrypt"),
            ("GET", f"/v1/{KEY}routes:encrypt"),
            ("GET", "/v1/" + urllib.parse.quote(KEY + "routes", safe="")),
            ("POST", f"/v1/{KEY}routes:sign"),
        ]
        for method, path in paths:
            status, _, _ = self.fake.request(
                method, path, "{}", {"Authorization": f"Bearer {token}"}
            )
            with self.subTest(path):
                self.assertEqual(status, 404)

    def test_missing_authorization(self):
        self.create_key("auth")
        response = self.fake.kms("GET", KEY + "auth")
        self.assert_google_error(response, 401, "UNAUTHENTICATED")
        self.assertTrue(response[1]["WWW-Authenticate"].startswith("Bearer "))

    def test_unknown_token(self):
        self.create_key("auth-unknown")
        response = self.fake.kms("GET", KEY + "auth-unknown", token="ya29.unknown")
        self.assert_google_error(response, 401, "UNAUTHENTICATED")
        self.assertIn('error="invalid_token"', response[1]["WWW-Authenticate"])

    def test_basic_scheme_rejected(self):
        self.create_key("auth-basic")
        status, _, _ = self.fake.request(
            "GET",
            f"/v1/{KEY}auth-basic",
            headers={"Authorization": "Basic " + self.token()},
        )
        self.assertEqual(status, 401)


class KmsFaultTest(GcpFakeTestCase):
    def setUp(self):
        self.fake.control("DELETE", "faults")
        self.create_key(self.id().rsplit(".", 1)[1].replace("_", "-"))
        self.name = KEY + self.id().rsplit(".", 1)[1].replace("_", "-")

    def queue(self, operation, kind, **fields):
        document = {"operation": operation, "kind": kind}
        document.update(fields)
        self.fake.control("POST", "faults", document)

    def test_encrypt_corrupt_checksum(self):
        self.queue("encrypt", "corrupt_checksum")
        status, _, encrypted = self.encrypt(self.name, b"data")
        ciphertext = unb64(encrypted["ciphertext"])
        self.assertEqual(status, 200)
        self.assertNotEqual(
            encrypted["ciphertextCrc32c"], str(crc32c_bitwise(ciphertext))
        )
        self.assertEqual(self.decrypt(self.name, ciphertext)[0], 200)

    def test_encrypt_corrupt_data(self):
        self.queue("encrypt", "corrupt_data")
        status, _, encrypted = self.encrypt(self.name, b"data")
        ciphertext = unb64(encrypted["ciphertext"])
        self.assertEqual(status, 200)
        self.assertNotEqual(
            encrypted["ciphertextCrc32c"], str(crc32c_bitwise(ciphertext))
        )
        self.assertEqual(self.decrypt(self.name, ciphertext)[0], 400)

    def test_encrypt_omit_verified(self):
        self.queue("encrypt", "omit_verified")
        status, _, encrypted = self.encrypt(self.name, b"data", b"aad")
        self.assertEqual(status, 200)
        self.assertNotIn("verifiedPlaintextCrc32c", encrypted)
        self.assertNotIn("verifiedAdditionalAuthenticatedDataCrc32c", encrypted)
        _, _, next_encrypted = self.encrypt(self.name, b"data", b"aad")
        self.assertIs(next_encrypted["verifiedPlaintextCrc32c"], True)

    def test_decrypt_corrupt_checksum(self):
        _, _, encrypted = self.encrypt(self.name, b"data")
        self.queue("decrypt", "corrupt_checksum")
        status, _, decrypted = self.decrypt(self.name, unb64(encrypted["ciphertext"]))
        self.assertEqual(status, 200)
        self.assertEqual(unb64(decrypted["plaintext"]), b"data")
        self.assertNotEqual(decrypted["plaintextCrc32c"], str(crc32c_bitwise(b"data")))

    def test_decrypt_corrupt_data(self):
        _, _, encrypted = self.encrypt(self.name, b"data")
        self.queue("decrypt", "corrupt_data")
        status, _, decrypted = self.decrypt(self.name, unb64(encrypted["ciphertext"]))
        plaintext = unb64(decrypted["plaintext"])
        self.assertEqual(status, 200)
        self.assertNotEqual(plaintext, b"data")
        self.assertEqual(decrypted["plaintextCrc32c"], str(crc32c_bitwise(b"data")))

    def test_status_faults_use_google_shape(self):
        self.queue("encrypt", "status", status=429, count=2)
        self.queue("get", "status", status=503)
        first = self.encrypt(self.name, b"data")
        second = self.encrypt(self.name, b"data")
        third_status, _, _ = self.encrypt(self.name, b"data")
        get_response = self.fake.kms("GET", self.name, token=self.token())
        self.assert_google_error(first, 429, "RESOURCE_EXHAUSTED")
        self.assert_google_error(second, 429, "RESOURCE_EXHAUSTED")
        self.assertEqual(third_status, 200)
        self.assert_google_error(get_response, 503, "UNAVAILABLE")

    def test_unauthenticated_call_keeps_fault(self):
        self.queue("get", "status", status=500)
        unauthenticated = self.fake.kms("GET", self.name)
        faulted = self.fake.kms("GET", self.name, token=self.token())
        self.assert_google_error(unauthenticated, 401, "UNAUTHENTICATED")
        self.assert_google_error(faulted, 500, "INTERNAL")

    def test_invalid_fault_rejected(self):
        self.fake.control(
            "POST",
            "faults",
            {"operation": "decrypt", "kind": "omit_verified"},
            expected_status=400,
        )
        self.fake.control(
            "POST",
            "faults",
            {"operation": "encrypt", "kind": "status", "status": 200},
            expected_status=400,
        )


class RequestLogTest(GcpFakeTestCase):
    def test_entries_describe_requests(self):
        self.fake.control("DELETE", "requests")
        self.create_key("logged")
        self.encrypt(KEY + "logged", b"data", b"aad")
        self.fake.kms("GET", KEY + "logged")

        entries = self.fake.control("GET", "requests")["requests"]

        self.assertEqual(len(entries), 2, entries)
        encrypt, get = entries
        self.assertEqual(encrypt["operation"], "encrypt")
        self.assertEqual(encrypt["name"], KEY + "logged")
        self.assertEqual(encrypt["authorization"], "valid")
        self.assertEqual(
            encrypt["fields"],
            [
                "additionalAuthenticatedData",
                "additionalAuthenticatedDataCrc32c",
                "plaintext",
                "plaintextCrc32c",
            ],
        )
        self.assertEqual(encrypt["status"], 200)
        self.assertEqual(get["authorization"], "missing")
        self.assertEqual(get["status"], 401)


# -- secrets stay out of the log -----------------------------------------------


class SecretLeakTest(GcpFakeTestCase):
    def test_no_secret_in_logs_or_request_list(self):
        self.create_key("leak")
        plaintext = b"LeakCanary-" + secrets.token_hex(8).encode()
        token = self.token()
        _, _, encrypted = self.encrypt(KEY + "leak", plaintext, token=token)
        self.decrypt(KEY + "leak", unb64(encrypted["ciphertext"]), token=token)
        self.exchange(make_assertion(self.fake.service_account))
        user = self.fake.authorized_user
        self.fake.post_form(
            {
                "grant_type": "refresh_token",
                "client_id": user["client_id"],
                "client_secret": user["client_secret"],
                "refresh_token": user["refresh_token"],
            }
        )
        self.fake.request("GET", TOKEN_PATH, headers={"Metadata-Flavor": "Google"})
        time.sleep(0.2)

        request_list = json.dumps(self.fake.control("GET", "requests"))
        secrets_sent = {
            "plaintext": b64(plaintext),
            "plaintext bytes": plaintext.decode(),
            "ciphertext": encrypted["ciphertext"],
            "access token": token,
            "token prefix": "FakeGcpToken",
            "client secret": "FakeGcpSecret",
            "refresh token": "FakeGcpRefresh",
            "private key": "PRIVATE KEY",
            "private key id": self.fake.service_account["private_key_id"],
        }
        for label, secret in secrets_sent.items():
            with self.subTest(label):
                self.assertNotIn(secret, self.fake.stderr_text())
                self.assertNotIn(secret, request_list)


# -- expiry, run against a separate fake ---------------------------------------


class TokenExpiryTest(unittest.TestCase):
    def test_expired_tokens_rejected(self):
        import tempfile

        with tempfile.TemporaryDirectory() as directory:
            fake = FakeProcess(directory, ["--token-lifetime", "1"])
            try:
                fake.control("POST", "keys", {"name": KEY + "expiry"})
                status, body = fake.post_form(
                    {
                        "grant_type": JWT_BEARER_GRANT,
                        "assertion": make_assertion(fake.service_account),
                    }
                )
                self.assertEqual(status, 200, body)
                self.assertEqual(body["expires_in"], 1)
                token = body["access_token"]
                self.assertEqual(fake.kms("GET", KEY + "expiry", token=token)[0], 200)
                time.sleep(1.2)
                expired = fake.kms("GET", KEY + "expiry", token=token)

                fake.control("POST", "config", {"token_lifetime": 3600})
                fresh = fake.control("POST", "issue-token", {})["access_token"]
                fresh_status = fake.kms("GET", KEY + "expiry", token=fresh)[0]
                fake.control("POST", "expire-tokens", {})
                revoked = fake.kms("GET", KEY + "expiry", token=fresh)
            finally:
                fake.stop()
        self.assertEqual(expired[0], 401)
        self.assertEqual(expired[2]["error"]["status"], "UNAUTHENTICATED")
        self.assertEqual(fresh_status, 200)
        self.assertEqual(revoked[0], 401)


# -- entry point ---------------------------------------------------------------


def tools_missing(message):
    """Report missing test tools: a skip, or a failure under CI=true."""
    if os.environ.get("CI") == "true":
        sys.stderr.write(f"gcp_fake_selftest: {message} (failing because CI=true)\n")
        return 1
    sys.stderr.write(f"gcp_fake_selftest: skipped: {message}\n")
    return EXIT_SKIP


def main():
    global FAKE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable)
    args, unittest_args = parser.parse_known_args()

    if os.environ.get(REEXEC_MARKER) != "1":
        if not os.access(args.python, os.X_OK):
            return tools_missing(
                f"interpreter {args.python} not found; "
                "run scripts/install-test-tools.sh"
            )
        os.environ[REEXEC_MARKER] = "1"
        os.execv(args.python, [args.python, os.path.abspath(__file__)] + sys.argv[1:])
    try:
        import cryptography  # noqa: F401
    except ImportError:
        return tools_missing(
            f"{sys.executable} cannot import cryptography; "
            "run scripts/install-test-tools.sh"
        )

    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        FAKE = FakeProcess(directory)
        try:
            program = unittest.main(
                argv=[sys.argv[0], "-v"] + unittest_args, exit=False
            )
        finally:
            FAKE.stop()
            exit_code = FAKE.process.returncode
    if exit_code not in (0, None):
        sys.stderr.write(f"gcp_fake.py exited with code {exit_code}\n")
        return 1
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
