#!/usr/bin/env python3
"""Self-test of azure_fake.py over loopback HTTP and HTTPS.

Usage: azure_fake_selftest.py [--python PATH] [unittest arguments]

PATH is the interpreter of the test-tools virtualenv (default: this one).
This script re-executes itself with PATH, because it checks the fake's
cryptography with the `cryptography` package that only the virtualenv has.
It exits with 77, which ctest reports as a skip, when PATH or
`cryptography` is missing, except when the environment variable CI is
"true", where that is a failure (exit 1).

The checks are independent of the fake's code. AES key wrap is checked
against the published vectors of RFC 3394 and RFC 5649, and against an
implementation of RFC 3394 on raw AES in this file. RSA wrapping is checked
with keys that this test generates, imports into the fake and uses itself.
"""

import argparse
import base64
import http.client
import json
import os
import re
import secrets
import ssl
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

EXIT_SKIP = 77
REEXEC_MARKER = "DEKMS_AZURE_FAKE_SELFTEST_REEXEC"
FAKE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "azure_fake.py")
HTTP_TIMEOUT_SECONDS = 10
START_TIMEOUT_SECONDS = 30

VAULT = "https://vault.azure.net"
MANAGED_HSM = "https://managedhsm.azure.net"
STORAGE = "https://storage.azure.com"
IMDS_PATH = "/metadata/identity/oauth2/token"
VERSION_RE = re.compile(r"^[0-9a-f]{32}$")
API = "api-version=7.5"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# RFC 3394 section 4.6: a 256-bit key wrapped with a 256-bit KEK.
RFC3394_KEK = bytes(range(32))
RFC3394_DATA = bytes.fromhex(
    "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F"
)
RFC3394_WRAPPED = bytes.fromhex(
    "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43B"
    "FB988B9B7A02DD21"
)
# RFC 5649 section 6: a 192-bit KEK and two keys that are not multiples of 8.
RFC5649_KEK = bytes.fromhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8")
RFC5649_CASES = [
    (
        bytes.fromhex("c37b7e6492584340bed12207808941155068f738"),
        bytes.fromhex(
            "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"
        ),
    ),
    (
        bytes.fromhex("466f7250617369"),
        bytes.fromhex("afbeb0f07dfbf5419200f2ccb50bb24f"),
    ),
]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text):
    if "=" in text or "+" in text or "/" in text:
        raise AssertionError(f"{text!r} is not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def aes_key_wrap_rfc3394(kek, data):
    """RFC 3394 section 2.2.1 on raw AES-ECB, independent of the fake's
    keywrap module."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    encryptor = Cipher(algorithms.AES(kek), modes.ECB()).encryptor()
    a = bytes.fromhex("A6A6A6A6A6A6A6A6")
    r = [data[i:i + 8] for i in range(0, len(data), 8)]
    n = len(r)
    for j in range(6):
        for i in range(n):
            b = encryptor.update(a + r[i])
            t = n * j + i + 1
            a = (int.from_bytes(b[:8], "big") ^ t).to_bytes(8, "big")
            r[i] = b[8:]
    return a + b"".join(r)


def new_rsa_key(size=2048):
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def pem(private_key):
    from cryptography.hazmat.primitives import serialization

    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def rsa_padding(alg):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    if alg == "RSA-OAEP-256":
        return padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    if alg == "RSA-OAEP":
        return padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    return padding.PKCS1v15()


class FakeProcess:
    """One azure_fake.py child process with its credentials file."""

    def __init__(self, directory, extra_args=()):
        self.credentials_path = os.path.join(directory, "credentials.json")
        argv = [
            sys.executable,
            FAKE_PATH,
            "--exit-on-stdin-eof",
            "--write-credentials",
            self.credentials_path,
        ] + list(extra_args)
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.stderr_lines = []
        self.stderr_reader = threading.Thread(target=self.read_stderr, daemon=True)
        self.stderr_reader.start()
        lines = {}

        def read_lines():
            while True:
                line = self.process.stdout.readline().decode()
                if not line:
                    return
                word, _, url = line.strip().partition(" ")
                lines[word] = url
                if word == "READY":
                    return

        reader = threading.Thread(target=read_lines, daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_SECONDS)
        if not lines.get("READY", "").startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(
                f"azure_fake.py printed {lines!r} without READY; stderr:\n"
                + self.stderr_text()
            )
        self.url = lines["READY"]
        self.vault_url = lines["VAULT"]
        self.hsm_url = lines["MANAGED_HSM"]
        self.ssl_context = None
        if self.vault_url.startswith("https://"):
            self.ssl_context = ssl.create_default_context(
                cafile=os.path.join(directory, "ca.pem")
            )
        with open(self.credentials_path) as file:
            self.credentials = json.load(file)

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

    def request(self, method, url, body=None, headers=None):
        """Send one request to `url` and return (status, headers, body)."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname,
                parts.port,
                timeout=HTTP_TIMEOUT_SECONDS,
                context=self.ssl_context,
            )
        else:
            connection = http.client.HTTPConnection(
                parts.hostname, parts.port, timeout=HTTP_TIMEOUT_SECONDS
            )
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            if isinstance(body, str):
                body = body.encode()
            connection.request(method, target, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def request_json(self, method, url, body=None, headers=None):
        status, response_headers, response = self.request(method, url, body, headers)
        try:
            parsed = json.loads(response)
        except ValueError:
            parsed = response.decode(errors="replace")
        return status, response_headers, parsed

    def control(self, method, path, document=None, expected_status=200):
        body = json.dumps(document) if document is not None else None
        url = f"{self.url}/__control__/{path}"
        status, _, response = self.request(method, url, body)
        if status != expected_status:
            raise AssertionError(
                f"control {method} {path} returned {status}: {response!r}"
            )
        return json.loads(response)

    def token_request(self, fields, tenant=None, content_type=None, raw_body=None):
        tenant = tenant or self.credentials["tenant_id"]
        body = raw_body if raw_body is not None else urllib.parse.urlencode(fields)
        return self.request_json(
            "POST",
            f"{self.url}/{tenant}/oauth2/v2.0/token",
            body,
            {"Content-Type": content_type or "application/x-www-form-urlencoded"},
        )

    def client_assertion(self, requested_scope, assertion, **overrides):
        """Request a token with a federated token as the client assertion,
        as AKS workload identity does. Keyword arguments work as for
        client_credentials()."""
        fields = {
            "client_secret": None,
            "client_assertion_type": JWT_BEARER,
            "client_assertion": assertion,
        }
        fields.update(overrides)
        return self.client_credentials(requested_scope, **fields)

    def client_credentials(self, requested_scope, **overrides):
        """Request a token; keyword arguments replace form fields, and None
        removes one."""
        fields = {
            "grant_type": "client_credentials",
            "client_id": self.credentials["client_id"],
            "client_secret": self.credentials["client_secret"],
            "scope": requested_scope,
        }
        for name, value in overrides.items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
        return self.token_request(fields)

    def imds(self, query, headers=None):
        if headers is None:
            headers = {"Metadata": "true"}
        return self.request_json("GET", f"{self.url}{IMDS_PATH}?{query}", None, headers)

    def keys(self, base, method, path, token=None, document=None, api=API,
             content_type="application/json"):
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body = None
        if document is not None:
            body = json.dumps(document) if not isinstance(document, str) else document
            headers["Content-Type"] = content_type
        url = f"{base}/keys/{path}" + (f"?{api}" if api else "")
        return self.request_json(method, url, body, headers)


FAKE = None


class AzureFakeTestCase(unittest.TestCase):
    fake = None

    @classmethod
    def setUpClass(cls):
        cls.fake = FAKE

    def token(self, resource=VAULT):
        return self.fake.control("POST", "issue-token", {"resource": resource})[
            "access_token"
        ]

    def create_key(self, name, **options):
        document = {"name": name}
        document.update(options)
        return self.fake.control("POST", "keys", document)

    def vault(self, method, path, token=None, document=None, **kwargs):
        if token is None:
            token = self.token(VAULT)
        return self.fake.keys(
            self.fake.vault_url, method, path, token, document, **kwargs
        )

    def hsm(self, method, path, token=None, document=None, **kwargs):
        if token is None:
            token = self.token(MANAGED_HSM)
        return self.fake.keys(
            self.fake.hsm_url, method, path, token, document, **kwargs
        )

    def assert_vault_error(self, response, status, code, inner=None, message=None):
        status_code, _, body = response
        self.assertEqual(status_code, status, body)
        self.assertIsInstance(body, dict, body)
        self.assertEqual(set(body), {"error"}, body)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertIsInstance(body["error"]["message"], str)
        if inner is None:
            self.assertNotIn("innererror", body["error"])
        else:
            self.assertEqual(body["error"]["innererror"], {"code": inner}, body)
        if message is not None:
            self.assertIn(message, body["error"]["message"])

    def assert_entra_error(self, response, status, error, code):
        status_code, headers, body = response
        self.assertEqual(status_code, status, body)
        self.assertEqual(body["error"], error, body)
        self.assertEqual(body["error_codes"], [code], body)
        self.assertTrue(body["error_description"].startswith(f"AADSTS{code}: "), body)
        for field in ("timestamp", "trace_id", "correlation_id", "error_uri"):
            self.assertIsInstance(body[field], str, field)
        self.assertTrue(body["error_uri"].startswith(self.fake.url), body)
        self.assertIn("no-store", headers["Cache-Control"])


# -- Entra ID token endpoint --------------------------------------------------


class EntraTokenTest(AzureFakeTestCase):
    def test_client_credentials_token(self):
        status, headers, body = self.fake.client_credentials(f"{VAULT}/.default")

        self.assertEqual(status, 200, body)
        self.assertEqual(set(body), {"token_type", "expires_in", "ext_expires_in",
                                     "access_token"})
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["expires_in"], 3599)
        self.assertEqual(body["ext_expires_in"], 3599)
        self.assertIn("no-store", headers["Cache-Control"])
        self.create_key("entra-token")
        status, _, key = self.vault("GET", "entra-token", body["access_token"])
        self.assertEqual(status, 200, key)

    def test_token_is_jwt_shaped_with_audience(self):
        _, _, body = self.fake.client_credentials(f"{MANAGED_HSM}/.default")
        header, claims, signature = body["access_token"].split(".")

        padded = claims + "=" * (-len(claims) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded))
        self.assertEqual(decoded["aud"], MANAGED_HSM)
        self.assertEqual(decoded["tid"], self.fake.credentials["tenant_id"])
        self.assertEqual(decoded["appid"], self.fake.credentials["client_id"])
        self.assertTrue(signature.startswith("FakeAzureToken"))

    def test_secret_needs_form_encoding(self):
        secret = self.fake.credentials["client_secret"]
        for character in "+/=":
            self.assertIn(character, secret)
        fields = (
            "grant_type=client_credentials"
            f"&client_id={self.fake.credentials['client_id']}"
            f"&client_secret={secret}&scope={VAULT}/.default"
        )

        response = self.fake.token_request(None, raw_body=fields)

        self.assert_entra_error(response, 401, "invalid_client", 7000215)

    def test_wrong_secret(self):
        response = self.fake.client_credentials(
            f"{VAULT}/.default", client_secret="FakeAzureSecret-wrong"
        )
        self.assert_entra_error(response, 401, "invalid_client", 7000215)

    def test_missing_secret(self):
        response = self.fake.client_credentials(f"{VAULT}/.default", client_secret=None)
        self.assert_entra_error(response, 401, "invalid_client", 7000218)

    def test_unknown_tenant(self):
        response = self.fake.token_request(
            {"grant_type": "client_credentials"}, tenant="no-such-tenant"
        )
        self.assert_entra_error(response, 400, "invalid_request", 90002)
        self.assertIn("'no-such-tenant'", response[2]["error_description"])

    def test_unknown_client(self):
        response = self.fake.client_credentials(
            f"{VAULT}/.default", client_id="00000000-0000-0000-0000-000000000000"
        )
        self.assert_entra_error(response, 400, "unauthorized_client", 700016)

    def test_missing_parameters(self):
        for name in ("grant_type", "client_id", "scope"):
            with self.subTest(name):
                response = self.fake.client_credentials(f"{VAULT}/.default",
                                                        **{name: None})
                self.assert_entra_error(response, 400, "invalid_request", 900144)
                self.assertIn(f"'{name}'", response[2]["error_description"])

    def test_unsupported_grant_type(self):
        response = self.fake.client_credentials(f"{VAULT}/.default",
                                                grant_type="password")
        self.assert_entra_error(response, 400, "unsupported_grant_type", 70003)

    def test_scope_rules(self):
        cases = [
            (VAULT, "invalid_scope", 1002012),
            (f"{VAULT}/.default {STORAGE}/.default", "invalid_scope", 70011),
            ("https://example.invalid/.default", "invalid_resource", 500011),
        ]
        for scope, error, code in cases:
            with self.subTest(scope):
                response = self.fake.client_credentials(scope)
                self.assert_entra_error(response, 400, error, code)

    def test_every_documented_scope(self):
        for resource in (VAULT, MANAGED_HSM, STORAGE):
            with self.subTest(resource):
                status, _, body = self.fake.client_credentials(f"{resource}/.default")
                self.assertEqual(status, 200, body)

    def test_json_body_rejected(self):
        response = self.fake.token_request(
            None, raw_body=json.dumps({"grant_type": "client_credentials"}),
            content_type="application/json",
        )
        self.assert_entra_error(response, 400, "invalid_request", 900144)

    def test_get_rejected(self):
        tenant = self.fake.credentials["tenant_id"]
        response = self.fake.request_json("GET",
                                          f"{self.fake.url}/{tenant}/oauth2/v2.0/token")
        self.assert_entra_error(response, 400, "invalid_request", 900561)

    def test_repeated_parameter_rejected(self):
        body = (
            urllib.parse.urlencode(
                {
                    "grant_type": "client_credentials",
                    "client_id": self.fake.credentials["client_id"],
                    "client_secret": self.fake.credentials["client_secret"],
                    "scope": f"{VAULT}/.default",
                }
            )
            + "&scope=x"
        )
        status, _, response = self.fake.token_request(None, raw_body=body)
        self.assertEqual(status, 400, response)
        self.assertEqual(response["error"], "invalid_request")

    def test_registered_client_in_other_tenant(self):
        self.fake.control(
            "POST",
            "clients",
            {
                "tenant_id": "contoso.onmicrosoft.com",
                "client_id": "second-app",
                "client_secret": "FakeAzureSecret+second/=",
            },
        )
        fields = {
            "grant_type": "client_credentials",
            "client_id": "second-app",
            "client_secret": "FakeAzureSecret+second/=",
            "scope": f"{VAULT}/.default",
        }

        status, _, body = self.fake.token_request(fields,
                                                  tenant="contoso.onmicrosoft.com")
        wrong_tenant = self.fake.token_request(fields)

        self.assertEqual(status, 200, body)
        self.assert_entra_error(wrong_tenant, 400, "unauthorized_client", 700016)

    def test_faults(self):
        self.fake.control("POST", "faults", {"operation": "token", "status": 429,
                                             "retry_after": 3})
        self.fake.control("POST", "faults", {"operation": "token", "status": 503})

        throttled = self.fake.client_credentials(f"{VAULT}/.default")
        unavailable = self.fake.client_credentials(f"{VAULT}/.default")
        served = self.fake.client_credentials(f"{VAULT}/.default")

        self.assertEqual(throttled[0], 429, throttled[2])
        self.assertEqual(throttled[1]["Retry-After"], "3")
        self.assertEqual(throttled[2]["error"], "temporarily_unavailable")
        self.assertEqual(unavailable[0], 503, unavailable[2])
        self.assertIsNone(unavailable[1]["Retry-After"])
        self.assertEqual(served[0], 200, served[2])


# -- Entra ID client assertions (workload identity) ---------------------------


def jwt_claims(token):
    _, claims, _ = token.split(".")
    return json.loads(unb64url(claims))


class FederatedCredentialTest(AzureFakeTestCase):
    def register(self, **options):
        return self.fake.control("POST", "federated-credentials", options)

    def test_generated_token_shape(self):
        before = int(time.time())
        registered = self.register(lifetime=600)

        claims = jwt_claims(registered["token"])

        self.assertEqual(registered["tenant_id"], self.fake.credentials["tenant_id"])
        self.assertEqual(registered["client_id"], self.fake.credentials["client_id"])
        self.assertEqual(claims["iss"], "https://oidc.example.test/")
        self.assertEqual(claims["sub"], "system:serviceaccount:dekms-test:dekms")
        self.assertEqual(claims["aud"], ["api://AzureADTokenExchange"])
        self.assertGreaterEqual(claims["exp"], before + 600)
        self.assertLessEqual(claims["exp"], int(time.time()) + 600)
        self.assertEqual(registered["expires_on"], claims["exp"])
        self.assertTrue(registered["token"].split(".")[2].startswith("FakeFederatedToken"))

    def test_assertion_accepted(self):
        token = self.register()["token"]

        status, headers, body = self.fake.client_assertion(f"{VAULT}/.default", token)

        self.assertEqual(status, 200, body)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertIn("no-store", headers["Cache-Control"])
        self.create_key("federated")
        status, _, key = self.vault("GET", "federated", body["access_token"])
        self.assertEqual(status, 200, key)

    def test_unknown_assertion(self):
        self.register()
        forged = self.register(client_id="other-app",
                               tenant_id=self.fake.credentials["tenant_id"])["token"]

        response = self.fake.client_assertion(f"{VAULT}/.default", forged)

        self.assert_entra_error(response, 401, "invalid_client", 70021)
        description = response[2]["error_description"]
        self.assertIn("No matching federated identity record found", description)
        self.assertIn("Assertion Subject: 'system:serviceaccount:dekms-test:dekms'",
                      description)

    def test_assertion_must_match_exactly(self):
        token = self.register()["token"]
        for label, assertion in (("trailing newline", token + "\n"),
                                 ("truncated", token[:-1]),
                                 ("not a JWT", "not-a-token")):
            with self.subTest(label):
                response = self.fake.client_assertion(f"{VAULT}/.default", assertion)
                self.assert_entra_error(response, 401, "invalid_client", 70021)

    def test_expired_assertion(self):
        token = self.register(lifetime=-60)["token"]

        response = self.fake.client_assertion(f"{VAULT}/.default", token)

        self.assert_entra_error(response, 401, "invalid_client", 700024)
        self.assertIn("Client assertion is not within its valid time range",
                      response[2]["error_description"])

    def test_assertion_expires(self):
        token = self.register(lifetime=1)["token"]
        fresh = self.fake.client_assertion(f"{VAULT}/.default", token)
        time.sleep(1.1)

        expired = self.fake.client_assertion(f"{VAULT}/.default", token)

        self.assertEqual(fresh[0], 200, fresh[2])
        self.assert_entra_error(expired, 401, "invalid_client", 700024)

    def test_rotated_away_assertion(self):
        old = self.register()["token"]
        rotated = self.fake.control("POST", "rotate-federated-token", {})
        new = rotated["token"]

        old_response = self.fake.client_assertion(f"{VAULT}/.default", old)
        new_response = self.fake.client_assertion(f"{VAULT}/.default", new)

        self.assertNotEqual(old, new)
        self.assert_entra_error(old_response, 401, "invalid_client", 70021)
        self.assertEqual(new_response[0], 200, new_response[2])
        self.assertEqual(jwt_claims(new)["sub"], jwt_claims(old)["sub"])

    def test_rotation_keeps_claims(self):
        self.register(subject="system:serviceaccount:ns:sa",
                      issuer="https://oidc.example.test/cluster-2/")

        rotated = self.fake.control("POST", "rotate-federated-token", {"lifetime": 120})

        claims = jwt_claims(rotated["token"])
        self.assertEqual(claims["sub"], "system:serviceaccount:ns:sa")
        self.assertEqual(claims["iss"], "https://oidc.example.test/cluster-2/")
        state = self.fake.control("GET", "state")
        (entry,) = [c for c in state["federated_credentials"]
                    if c["client_id"] == self.fake.credentials["client_id"]]
        self.assertEqual(entry["subject"], "system:serviceaccount:ns:sa")
        self.assertEqual(entry["expires_on"], rotated["expires_on"])
        self.assertEqual(entry["rotations"], 1)
        self.assertNotIn("token", entry)

    def test_both_secret_and_assertion(self):
        token = self.register()["token"]

        response = self.fake.client_assertion(
            f"{VAULT}/.default", token,
            client_secret=self.fake.credentials["client_secret"],
        )

        self.assert_entra_error(response, 400, "invalid_request", 9002313)

    def test_wrong_assertion_type(self):
        token = self.register()["token"]
        cases = [
            ("saml", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
             90011),
            ("missing", None, 900144),
            ("empty", "", 900144),
        ]
        for label, assertion_type, code in cases:
            with self.subTest(label):
                response = self.fake.client_assertion(
                    f"{VAULT}/.default", token, client_assertion_type=assertion_type)
                self.assert_entra_error(response, 400, "invalid_request", code)

    def test_assertion_of_other_client(self):
        tenant = self.fake.credentials["tenant_id"]
        token = self.register(tenant_id=tenant, client_id="wi-app-a")["token"]
        self.register(tenant_id=tenant, client_id="wi-app-b")

        response = self.fake.client_assertion(f"{VAULT}/.default", token,
                                              client_id="wi-app-b")

        self.assert_entra_error(response, 401, "invalid_client", 70021)

    def test_new_app_has_no_secret(self):
        tenant = "workload.onmicrosoft.com"
        token = self.register(tenant_id=tenant, client_id="wi-only")["token"]
        fields = {
            "grant_type": "client_credentials",
            "client_id": "wi-only",
            "scope": f"{MANAGED_HSM}/.default",
        }

        accepted = self.fake.token_request(
            dict(fields, client_assertion_type=JWT_BEARER, client_assertion=token),
            tenant=tenant,
        )
        with_secret = self.fake.token_request(
            dict(fields, client_secret="FakeAzureSecret-guess"), tenant=tenant)

        self.assertEqual(accepted[0], 200, accepted[2])
        self.assert_entra_error(with_secret, 401, "invalid_client", 7000215)

    def test_given_token_accepted(self):
        exp = int(time.time()) + 300
        given_token = ".".join([b64url(b'{"alg":"none"}'),
                          b64url(json.dumps({"exp": exp, "sub": "given"}).encode()),
                          "FakeFederatedToken-given"])

        registered = self.register(token=given_token)
        status, _, body = self.fake.client_assertion(f"{VAULT}/.default", given_token)

        self.assertEqual(registered["token"], given_token)
        self.assertEqual(registered["expires_on"], exp)
        self.assertEqual(status, 200, body)

    def test_given_token_without_exp(self):
        before = int(time.time())

        registered = self.register(token="FakeFederatedToken-opaque", lifetime=90)
        expired = self.register(token="FakeFederatedToken-old",
                                expires_on=before - 10)
        response = self.fake.client_assertion(f"{VAULT}/.default",
                                              "FakeFederatedToken-old")

        self.assertGreaterEqual(registered["expires_on"], before + 90)
        self.assertEqual(expired["expires_on"], before - 10)
        self.assert_entra_error(response, 401, "invalid_client", 700024)

    def test_control_rejects_bad_requests(self):
        tenant = self.fake.credentials["tenant_id"]
        bad_registrations = [
            {"token": "has space"},
            {"token": "trailing\n"},
            {"token": ""},
            {"lifetime": "60"},
            {"expires_on": 1},
            {"subject": ""},
            {"client_id": "only-client"},
            {"tenant_id": tenant},
            {"lifetime": 10 ** 12},
        ]
        for document in bad_registrations:
            with self.subTest(document):
                self.fake.control("POST", "federated-credentials", document,
                                  expected_status=400)
        self.fake.control("POST", "rotate-federated-token",
                          {"tenant_id": tenant, "client_id": "never-registered"},
                          expected_status=400)

    def test_request_log_names_credential_kind(self):
        token = self.register()["token"]
        self.fake.control("DELETE", "requests")
        self.fake.client_credentials(f"{VAULT}/.default")
        self.fake.client_assertion(f"{VAULT}/.default", token)
        self.fake.client_assertion(f"{VAULT}/.default", "FakeFederatedToken-unknown")
        self.fake.client_assertion(f"{VAULT}/.default", token,
                                   client_secret=self.fake.credentials["client_secret"])
        self.fake.client_credentials(f"{VAULT}/.default", client_secret=None)

        entries = self.fake.control("GET", "requests")["requests"]

        self.assertEqual([e["credential"] for e in entries],
                         ["secret", "assertion", "assertion", "both", None])
        self.assertEqual([e["status"] for e in entries], [200, 200, 401, 400, 401])
        self.assertEqual(entries[2]["error_code"], 70021)
        log_text = json.dumps(entries) + self.fake.stderr_text()
        self.assertNotIn(token, log_text)
        self.assertNotIn("FakeFederatedToken", log_text)


# -- IMDS ---------------------------------------------------------------------


class ImdsTest(AzureFakeTestCase):
    def test_token_fields_are_strings(self):
        before = int(time.time())
        status, _, body = self.fake.imds(f"api-version=2018-02-01&resource={VAULT}")

        self.assertEqual(status, 200, body)
        for field in ("access_token", "client_id", "expires_in", "expires_on",
                      "ext_expires_in", "not_before", "resource", "token_type"):
            self.assertIsInstance(body[field], str, field)
        self.assertEqual(body["token_type"], "Bearer")
        self.assertEqual(body["resource"], VAULT)
        self.assertEqual(body["expires_in"], "3599")
        self.assertGreaterEqual(int(body["expires_on"]), before + 3599)
        self.assertLessEqual(int(body["not_before"]), int(time.time()))
        self.assertEqual(body["client_id"],
                         self.fake.credentials["managed_identity_client_id"])

    def test_token_works_for_managed_hsm(self):
        self.create_key("imds-hsm", kty="oct-HSM")
        _, _, body = self.fake.imds(
            f"api-version=2018-02-01&resource={urllib.parse.quote(MANAGED_HSM + '/')}"
        )

        status, _, key = self.hsm("GET", "imds-hsm", body["access_token"])

        self.assertEqual(status, 200, key)

    def test_metadata_header_required(self):
        for headers in ({}, {"Metadata": "false"}):
            with self.subTest(headers):
                status, _, body = self.fake.imds(
                    f"api-version=2018-02-01&resource={VAULT}", headers
                )
                self.assertEqual(status, 400, body)
                self.assertEqual(body["error"], "bad_request_102")
                self.assertEqual(body["error_description"],
                                 "Required metadata header not specified")

    def test_forwarded_request_rejected(self):
        status, _, body = self.fake.imds(
            f"api-version=2018-02-01&resource={VAULT}",
            {"Metadata": "true", "X-Forwarded-For": "192.0.2.1"},
        )
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"], "invalid_request")

    def test_bad_queries(self):
        cases = [
            (f"resource={VAULT}", "invalid_request"),
            (f"api-version=2099-01-01&resource={VAULT}", "invalid_request"),
            ("api-version=2018-02-01", "invalid_request"),
            ("api-version=2018-02-01&resource=https://example.invalid",
             "invalid_resource"),
        ]
        for query, error in cases:
            with self.subTest(query):
                status, _, body = self.fake.imds(query)
                self.assertEqual(status, 400, body)
                self.assertEqual(body["error"], error)

    def test_user_assigned_identities(self):
        credentials = self.fake.credentials
        good = [
            f"client_id={credentials['managed_identity_client_id']}",
            f"object_id={credentials['managed_identity_object_id']}",
            "msi_res_id="
            + urllib.parse.quote(credentials["managed_identity_resource_id"], safe=""),
        ]
        for selector in good:
            with self.subTest(selector):
                status, _, body = self.fake.imds(
                    f"api-version=2018-02-01&resource={VAULT}&{selector}"
                )
                self.assertEqual(status, 200, body)
        status, _, body = self.fake.imds(
            f"api-version=2018-02-01&resource={VAULT}&client_id=someone-else"
        )
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error_description"], "Identity not found")

    def test_faults_for_next_calls(self):
        for status in (404, 410, 429, 500):
            self.fake.control("POST", "faults", {"operation": "imds", "status": status})
        self.fake.control("POST", "faults",
                          {"operation": "imds", "status": 500, "count": 2})

        seen = [self.fake.imds(f"api-version=2018-02-01&resource={VAULT}")[0]
                for _ in range(7)]

        self.assertEqual(seen, [404, 410, 429, 500, 500, 500, 200])


# -- Key Vault data plane -----------------------------------------------------


class KeyVaultGetTest(AzureFakeTestCase):
    def test_key_bundle(self):
        private_key = new_rsa_key()
        created = self.create_key("bundle", private_key_pem=pem(private_key))

        status, headers, body = self.vault("GET", "bundle")

        self.assertEqual(status, 200, body)
        jwk = body["key"]
        self.assertEqual(jwk["kid"], f"{self.fake.vault_url}/keys/bundle/"
                         f"{created['version']}")
        self.assertRegex(jwk["kid"].rsplit("/", 1)[1], VERSION_RE)
        self.assertEqual(jwk["kty"], "RSA")
        self.assertEqual(jwk["key_ops"], ["wrapKey", "unwrapKey"])
        numbers = private_key.public_key().public_numbers()
        self.assertEqual(int.from_bytes(unb64url(jwk["n"]), "big"), numbers.n)
        self.assertEqual(int.from_bytes(unb64url(jwk["e"]), "big"), numbers.e)
        attributes = body["attributes"]
        self.assertIs(attributes["enabled"], True)
        self.assertIsInstance(attributes["created"], int)
        self.assertIsInstance(attributes["updated"], int)
        self.assertEqual(attributes["recoveryLevel"], "Recoverable+Purgeable")
        self.assertTrue(headers["x-ms-request-id"])

    def test_version_forms(self):
        first = self.create_key("forms")
        second = self.fake.control("POST", "rotate", {"name": "forms"})

        for path, expected in [
            ("forms", second),
            ("forms/", second),
            (f"forms/{first['version']}", first),
            (f"forms/{second['version']}", second),
        ]:
            with self.subTest(path):
                status, _, body = self.vault("GET", path)
                self.assertEqual(status, 200, body)
                self.assertEqual(body["key"]["kid"], expected["kid"])

    def test_every_api_version(self):
        self.create_key("api-versions")
        for version in ("7.4", "7.5", "7.6", "2025-07-01"):
            with self.subTest(version):
                status, _, body = self.vault("GET", "api-versions",
                                             api=f"api-version={version}")
                self.assertEqual(status, 200, body)

    def test_bad_api_versions(self):
        self.create_key("bad-api")
        for api in (None, "api-version=", "api-version=7.2", "api-version=2016-10-01"):
            with self.subTest(api):
                self.assert_vault_error(self.vault("GET", "bad-api", api=api),
                                        400, "BadParameter")

    def test_missing_key_and_version(self):
        self.create_key("present")
        self.assert_vault_error(
            self.vault("GET", "absent"), 404, "KeyNotFound",
            message="A key with (name/id) absent was not found in this key vault",
        )
        self.assert_vault_error(
            self.vault("GET", "present/" + "0" * 32), 404, "KeyNotFound",
            message=f"(name/id) present/{'0' * 32} was not found",
        )

    def test_unknown_paths(self):
        for path in ("/secrets/x", "/keys", "/keys/a/b/c/d"):
            with self.subTest(path):
                status, _, _ = self.fake.request_json(
                    "GET", f"{self.fake.vault_url}{path}?{API}",
                    headers={"Authorization": f"Bearer {self.token()}"},
                )
                self.assertEqual(status, 404)

    def test_wrong_method(self):
        self.create_key("method")
        status, _, body = self.vault("POST", "method", document={})
        self.assertEqual(status, 405, body)


class AuthorizationTest(AzureFakeTestCase):
    def challenge(self, resource):
        return (f'Bearer authorization="{self.fake.url}/'
                f'{self.fake.credentials["tenant_id"]}", resource="{resource}"')

    def test_missing_token_challenge(self):
        self.create_key("challenge")
        self.create_key("challenge", vault="managedhsm", kty="RSA-HSM")
        for base, resource in ((self.fake.vault_url, VAULT),
                               (self.fake.hsm_url, MANAGED_HSM)):
            with self.subTest(resource):
                response = self.fake.keys(base, "GET", "challenge")
                self.assert_vault_error(response, 401, "Unauthorized",
                                        message="AKV10000")
                self.assertEqual(response[1]["WWW-Authenticate"],
                                 self.challenge(resource))

    def test_other_schemes_count_as_missing(self):
        status, headers, _ = self.fake.request_json(
            "GET", f"{self.fake.vault_url}/keys/challenge?{API}",
            headers={"Authorization": "Basic dXNlcjpwYXNz"},
        )
        self.assertEqual(status, 401)
        self.assertEqual(headers["WWW-Authenticate"], self.challenge(VAULT))

    def test_audience_binding(self):
        self.create_key("audience")
        self.create_key("audience", vault="managedhsm", kty="oct-HSM")
        cases = [
            (self.fake.vault_url, MANAGED_HSM, VAULT),
            (self.fake.vault_url, STORAGE, VAULT),
            (self.fake.hsm_url, VAULT, MANAGED_HSM),
        ]
        for base, token_audience, expected in cases:
            with self.subTest(f"{token_audience} at {expected}"):
                response = self.fake.keys(base, "GET", "audience",
                                          self.token(token_audience))
                self.assert_vault_error(
                    response, 401, "Unauthorized",
                    message=f"AKV10022: Invalid audience. Expected {expected}, "
                    f"found: {token_audience}.",
                )
                self.assertEqual(response[1]["WWW-Authenticate"],
                                 self.challenge(expected))

    def test_unknown_token(self):
        self.create_key("unknown-token")
        response = self.vault("GET", "unknown-token", "eyJ0.eyJ0.FakeAzureTokenForged")
        self.assert_vault_error(response, 401, "Unauthorized")

    def test_expired_tokens(self):
        self.create_key("expiry")
        token = self.token()
        self.assertEqual(self.vault("GET", "expiry", token)[0], 200)

        self.fake.control("POST", "expire-tokens", {})
        expired = self.vault("GET", "expiry", token)

        self.assert_vault_error(expired, 401, "Unauthorized")
        self.assertEqual(self.vault("GET", "expiry")[0], 200)


class RsaWrapTest(AzureFakeTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.private_key = new_rsa_key()
        cls.created = cls.fake.control(
            "POST",
            "keys",
            {"name": "rsa-wrap", "private_key_pem": pem(cls.private_key)},
        )

    def wrap(self, alg, data, path=None, **kwargs):
        path = path or f"rsa-wrap/{self.created['version']}/wrapkey"
        return self.vault("POST", path, document={"alg": alg, "value": b64url(data)},
                          **kwargs)

    def unwrap(self, alg, data, path=None):
        path = path or f"rsa-wrap/{self.created['version']}/unwrapkey"
        return self.vault("POST", path, document={"alg": alg, "value": b64url(data)})

    def test_fake_wraps_test_unwraps(self):
        dek = secrets.token_bytes(32)
        for alg in ("RSA-OAEP-256", "RSA-OAEP", "RSA1_5"):
            with self.subTest(alg):
                status, _, body = self.wrap(alg, dek)
                self.assertEqual(status, 200, body)
                self.assertEqual(body["kid"], self.created["kid"])
                wrapped = unb64url(body["value"])
                self.assertEqual(len(wrapped), 256)
                self.assertEqual(self.private_key.decrypt(wrapped, rsa_padding(alg)),
                                 dek)

    def test_test_wraps_fake_unwraps(self):
        dek = secrets.token_bytes(32)
        for alg in ("RSA-OAEP-256", "RSA-OAEP", "RSA1_5"):
            with self.subTest(alg):
                wrapped = self.private_key.public_key().encrypt(dek, rsa_padding(alg))
                status, _, body = self.unwrap(alg, wrapped)
                self.assertEqual(status, 200, body)
                self.assertEqual(body["kid"], self.created["kid"])
                self.assertEqual(unb64url(body["value"]), dek)

    def test_oaep_256_is_not_sha1(self):
        wrapped = self.private_key.public_key().encrypt(b"k" * 32,
                                                         rsa_padding("RSA-OAEP"))
        self.assert_vault_error(self.unwrap("RSA-OAEP-256", wrapped), 400,
                                "BadParameter")

    def test_empty_version_and_case_mean_latest(self):
        for path in ("rsa-wrap//wrapkey", "rsa-wrap//wrapKey"):
            with self.subTest(path):
                status, _, body = self.wrap("RSA-OAEP-256", b"k" * 32, path=path)
                self.assertEqual(status, 200, body)
                self.assertEqual(body["kid"], self.created["kid"])

    def test_padded_value_accepted(self):
        dek = b"\xfb\xff" * 8 + b"\x01"
        padded = base64.urlsafe_b64encode(dek).decode()
        self.assertTrue(padded.endswith("="))
        status, _, body = self.vault(
            "POST", f"rsa-wrap/{self.created['version']}/wrapkey",
            document={"alg": "RSA-OAEP-256", "value": padded},
        )
        self.assertEqual(status, 200, body)
        self.assertEqual(
            self.private_key.decrypt(unb64url(body["value"]),
                                     rsa_padding("RSA-OAEP-256")), dek)

    def test_standard_base64_rejected(self):
        standard = base64.b64encode(b"\xfb\xff" * 16).decode()
        self.assertIn("+", standard + "/")
        response = self.vault(
            "POST", f"rsa-wrap/{self.created['version']}/wrapkey",
            document={"alg": "RSA-OAEP-256", "value": standard},
        )
        self.assert_vault_error(response, 400, "BadParameter")

    def test_size_limits(self):
        for alg, limit in (("RSA-OAEP-256", 190), ("RSA-OAEP", 214), ("RSA1_5", 245)):
            with self.subTest(alg):
                self.assertEqual(self.wrap(alg, b"x" * limit)[0], 200)
                self.assert_vault_error(self.wrap(alg, b"x" * (limit + 1)), 400,
                                        "BadParameter")

    def test_bad_requests(self):
        path = f"rsa-wrap/{self.created['version']}/wrapkey"
        cases = [
            {"alg": "RSA-OAEP-512", "value": b64url(b"k")},
            {"alg": "A256KW", "value": b64url(b"k" * 32)},
            {"value": b64url(b"k")},
            {"alg": "RSA-OAEP-256"},
            {"alg": "RSA-OAEP-256", "value": ""},
            {"alg": "RSA-OAEP-256", "value": "not base64!"},
            "[1, 2]",
            "{not json",
        ]
        for document in cases:
            with self.subTest(document):
                self.assert_vault_error(self.vault("POST", path, document=document),
                                        400, "BadParameter")

    def test_unwrap_needs_modulus_length(self):
        self.assert_vault_error(self.unwrap("RSA-OAEP-256", b"x" * 255), 400,
                                "BadParameter")

    def test_non_json_content_type(self):
        response = self.vault(
            "POST", f"rsa-wrap/{self.created['version']}/wrapkey",
            document={"alg": "RSA-OAEP-256", "value": b64url(b"k")},
            content_type="application/x-www-form-urlencoded",
        )
        self.assert_vault_error(response, 415, "UnsupportedMediaType")

    def test_larger_moduli(self):
        self.create_key("rsa-3072", kty="RSA-HSM", size=3072)
        status, _, body = self.vault("POST", "rsa-3072//wrapkey",
                                     document={"alg": "RSA-OAEP-256",
                                               "value": b64url(b"x" * 318)})
        self.assertEqual(status, 200, body)
        self.assertEqual(len(unb64url(body["value"])), 384)
        _, _, key = self.vault("GET", "rsa-3072")
        self.assertEqual(key["key"]["kty"], "RSA-HSM")


class KeyLifecycleTest(AzureFakeTestCase):
    def test_rotation_keeps_old_versions(self):
        first = self.create_key("rotating")
        document = {"alg": "RSA-OAEP-256", "value": b64url(b"d" * 32)}
        _, _, old = self.vault("POST", "rotating//wrapkey", document=document)
        second = self.fake.control("POST", "rotate", {"name": "rotating"})

        _, _, latest = self.vault("GET", "rotating")
        with_old = self.vault("POST", f"rotating/{first['version']}/unwrapkey",
                              document={"alg": "RSA-OAEP-256", "value": old["value"]})
        with_new = self.vault("POST", "rotating//unwrapkey",
                              document={"alg": "RSA-OAEP-256", "value": old["value"]})

        self.assertEqual(old["kid"], first["kid"])
        self.assertNotEqual(second["version"], first["version"])
        self.assertEqual(latest["key"]["kid"], second["kid"])
        self.assertEqual(with_old[0], 200, with_old[2])
        self.assertEqual(unb64url(with_old[2]["value"]), b"d" * 32)
        self.assert_vault_error(with_new, 400, "BadParameter")

    def test_disabled_version(self):
        first = self.create_key("disabling")
        second = self.fake.control("POST", "rotate", {"name": "disabling"})
        self.fake.control("POST", "version-state",
                          {"name": "disabling", "version": second["version"],
                           "enabled": False})
        document = {"alg": "RSA-OAEP-256", "value": b64url(b"d" * 32)}

        for method, path, doc in [
            ("GET", "disabling", None),
            ("POST", "disabling//wrapkey", document),
            ("POST", f"disabling/{second['version']}/unwrapkey", document),
        ]:
            with self.subTest(path):
                self.assert_vault_error(self.vault(method, path, document=doc), 403,
                                        "Forbidden", "KeyDisabled",
                                        message="not allowed on a disabled key")
        status, _, body = self.vault("POST", f"disabling/{first['version']}/wrapkey",
                                     document=document)
        self.assertEqual(status, 200, body)

    def test_disabled_at_creation(self):
        self.create_key("born-disabled", enabled=False)
        self.assert_vault_error(self.vault("GET", "born-disabled"), 403, "Forbidden",
                                "KeyDisabled")

    def test_denied_key(self):
        self.create_key("denied", deny=True)
        response = self.vault("POST", "denied//wrapkey",
                              document={"alg": "RSA-OAEP-256", "value": b64url(b"d")})
        self.assert_vault_error(response, 403, "Forbidden", "ForbiddenByRbac",
                                message="Microsoft.KeyVault/vaults/keys/wrap/action")
        self.fake.control("POST", "deny", {"name": "denied", "deny": False})
        self.assertEqual(self.vault("GET", "denied")[0], 200)

    def test_key_ops(self):
        self.create_key("wrap-only", key_ops=["wrapKey"])
        _, _, wrapped = self.vault("POST", "wrap-only//wrapkey",
                                   document={"alg": "RSA-OAEP-256",
                                             "value": b64url(b"d" * 32)})
        response = self.vault("POST", "wrap-only//unwrapkey",
                              document={"alg": "RSA-OAEP-256",
                                        "value": wrapped["value"]})
        self.assert_vault_error(response, 403, "Forbidden", "KeyOperationForbidden",
                                message="Operation unwrapKey is not permitted")

    def test_control_rejects_bad_keys(self):
        cases = [
            {"name": "bad name"},
            {"name": "k", "kty": "oct-HSM", "vault": "vault"},
            {"name": "k", "kty": "RSA", "vault": "managedhsm"},
            {"name": "k", "size": 1024},
            {"name": "k", "kty": "oct-HSM", "size": 512},
            {"name": "k", "key_ops": ["fly"]},
        ]
        for document in cases:
            with self.subTest(document):
                self.fake.control("POST", "keys", document, expected_status=400)


class ManagedHsmWrapTest(AzureFakeTestCase):
    def test_rfc3394_vector(self):
        self.create_key(
            "rfc3394", kty="oct-HSM", key=base64.b64encode(RFC3394_KEK).decode()
        )
        for alg in ("A256KW", "CKM_AES_KEY_WRAP"):
            with self.subTest(alg):
                status, _, body = self.hsm("POST", "rfc3394//wrapkey",
                                           document={"alg": alg,
                                                     "value": b64url(RFC3394_DATA)})
                self.assertEqual(status, 200, body)
                self.assertEqual(unb64url(body["value"]), RFC3394_WRAPPED)
                status, _, body = self.hsm("POST", "rfc3394//unwrapkey",
                                           document={"alg": alg,
                                                     "value": b64url(RFC3394_WRAPPED)})
                self.assertEqual(status, 200, body)
                self.assertEqual(unb64url(body["value"]), RFC3394_DATA)

    def test_rfc5649_vectors(self):
        self.create_key(
            "rfc5649", kty="oct-HSM", key=base64.b64encode(RFC5649_KEK).decode()
        )
        for data, wrapped in RFC5649_CASES:
            with self.subTest(len(data)):
                status, _, body = self.hsm("POST", "rfc5649//wrapkey",
                                           document={"alg": "CKM_AES_KEY_WRAP_PAD",
                                                     "value": b64url(data)})
                self.assertEqual(status, 200, body)
                self.assertEqual(unb64url(body["value"]), wrapped)
                status, _, body = self.hsm("POST", "rfc5649//unwrapkey",
                                           document={"alg": "CKM_AES_KEY_WRAP_PAD",
                                                     "value": b64url(wrapped)})
                self.assertEqual(status, 200, body)
                self.assertEqual(unb64url(body["value"]), data)

    def test_random_keys_match_reference(self):
        for size, alg in ((128, "A128KW"), (192, "A192KW"), (256, "A256KW")):
            with self.subTest(alg):
                kek = secrets.token_bytes(size // 8)
                name = f"reference-{size}"
                created = self.create_key(name, kty="oct-HSM",
                                          key=base64.b64encode(kek).decode())
                data = secrets.token_bytes(32)
                status, _, body = self.hsm("POST",
                                           f"{name}/{created['version']}/wrapkey",
                                           document={"alg": alg, "value": b64url(data)})
                self.assertEqual(status, 200, body)
                self.assertEqual(body["kid"], created["kid"])
                self.assertEqual(unb64url(body["value"]),
                                 aes_key_wrap_rfc3394(kek, data))

    def test_kw_length_rules(self):
        self.create_key("kw-lengths", kty="oct-HSM")
        for alg, length, status in [
            ("A256KW", 8, 400),
            ("A256KW", 20, 400),
            ("A256KW", 16, 200),
            ("CKM_AES_KEY_WRAP", 15, 400),
            ("CKM_AES_KEY_WRAP_PAD", 1, 200),
            ("CKM_AES_KEY_WRAP_PAD", 15, 200),
        ]:
            with self.subTest(f"{alg} {length}"):
                response = self.hsm("POST", "kw-lengths//wrapkey",
                                    document={"alg": alg,
                                              "value": b64url(b"z" * length)})
                self.assertEqual(response[0], status, response[2])
                if status == 400:
                    self.assertEqual(response[2]["error"]["code"], "BadParameter")

    def test_algorithm_must_fit_key(self):
        self.create_key("aes-128", kty="oct-HSM", size=128)
        for alg in ("A256KW", "RSA-OAEP-256", "A256GCM"):
            with self.subTest(alg):
                response = self.hsm("POST", "aes-128//wrapkey",
                                    document={"alg": alg, "value": b64url(b"z" * 16)})
                self.assert_vault_error(response, 400, "BadParameter")

    def test_tampered_value_fails(self):
        self.create_key("tamper", kty="oct-HSM")
        _, _, body = self.hsm("POST", "tamper//wrapkey",
                              document={"alg": "A256KW", "value": b64url(b"q" * 32)})
        wrapped = bytearray(unb64url(body["value"]))
        wrapped[-1] ^= 1

        response = self.hsm("POST", "tamper//unwrapkey",
                            document={"alg": "A256KW", "value": b64url(bytes(wrapped))})

        self.assert_vault_error(response, 400, "BadParameter")

    def test_oct_bundle_has_no_material(self):
        created = self.create_key("oct-bundle", kty="oct-HSM")
        status, _, body = self.hsm("GET", "oct-bundle")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["key"]["kid"], created["kid"])
        self.assertEqual(body["key"]["kty"], "oct-HSM")
        for field in ("n", "e", "k"):
            self.assertNotIn(field, body["key"])

    def test_planes_hold_separate_keys(self):
        self.create_key("plane-only-hsm", kty="oct-HSM")
        self.assert_vault_error(self.vault("GET", "plane-only-hsm"), 404, "KeyNotFound")
        denied = self.create_key("hsm-denied", kty="oct-HSM", deny=True)
        self.assertEqual(denied["vault"], "managedhsm")
        self.assert_vault_error(
            self.hsm("GET", "hsm-denied"), 403, "Forbidden", "ForbiddenByRbac",
            message="Microsoft.KeyVault/managedHsm/keys/read/action",
        )


class FaultTest(AzureFakeTestCase):
    def test_data_plane_faults(self):
        self.create_key("faulty")
        token = self.token()
        self.fake.control("POST", "faults", {"operation": "get", "status": 429})
        self.fake.control("POST", "faults",
                          {"operation": "wrap", "status": 503, "count": 2})
        self.fake.control("POST", "faults", {"operation": "unwrap", "status": 500,
                                             "code": "InternalError",
                                             "message": "injected"})
        document = {"alg": "RSA-OAEP-256", "value": b64url(b"f" * 32)}

        throttled = self.vault("GET", "faulty", token)
        served = self.vault("GET", "faulty", token)
        wraps = [self.vault("POST", "faulty//wrapkey", token, document)
                 for _ in range(3)]
        unwrapped = self.vault("POST", "faulty//unwrapkey", token,
                               {"alg": "RSA-OAEP-256", "value": wraps[2][2]["value"]})

        self.assert_vault_error(throttled, 429, "Throttled")
        self.assertEqual(throttled[1]["Retry-After"], "1")
        self.assertEqual(served[0], 200)
        self.assert_vault_error(wraps[0], 503, "ServiceUnavailable")
        self.assert_vault_error(wraps[1], 503, "ServiceUnavailable")
        self.assertEqual(wraps[2][0], 200)
        self.assert_vault_error(unwrapped, 500, "InternalError", message="injected")
        state = self.fake.control("GET", "state")
        self.assertEqual(state["faults_pending"], 0)

    def test_faults_wait_for_authentication(self):
        self.create_key("fault-auth")
        self.fake.control("POST", "faults", {"operation": "get", "status": 503})

        unauthenticated = self.fake.keys(self.fake.vault_url, "GET", "fault-auth")
        faulted = self.vault("GET", "fault-auth")

        self.assertEqual(unauthenticated[0], 401)
        self.assertEqual(faulted[0], 503)

    def test_clear_faults(self):
        self.create_key("fault-clear")
        self.fake.control("POST", "faults", {"operation": "get", "status": 503})
        self.fake.control("DELETE", "faults")
        self.assertEqual(self.vault("GET", "fault-clear")[0], 200)

    def test_control_rejects_bad_faults(self):
        for document in ({"operation": "sign", "status": 500},
                         {"operation": "get", "status": 200},
                         {"operation": "get", "status": 500, "count": 0}):
            with self.subTest(document):
                self.fake.control("POST", "faults", document, expected_status=400)


# -- request log, counters and secrets ----------------------------------------


class RequestLogTest(AzureFakeTestCase):
    def test_entries(self):
        self.create_key("logged")
        self.fake.control("DELETE", "requests")
        token = self.token()
        self.vault("POST", "logged//wrapkey", token,
                   {"alg": "RSA-OAEP-256", "value": b64url(b"l" * 32)})
        self.fake.keys(self.fake.vault_url, "GET", "logged")
        self.vault("GET", "logged", self.token(STORAGE))
        self.fake.client_credentials(f"{VAULT}/.default")
        self.fake.imds(f"api-version=2018-02-01&resource={VAULT}")

        entries = self.fake.control("GET", "requests")["requests"]

        self.assertEqual([e["seq"] for e in entries], [1, 2, 3, 4, 5])
        wrap, missing, wrong, entra, imds = entries
        self.assertEqual(wrap["role"], "vault")
        self.assertEqual(wrap["operation"], "wrap")
        self.assertEqual(wrap["key"], "logged")
        self.assertRegex(wrap["version"], VERSION_RE)
        self.assertEqual(wrap["alg"], "RSA-OAEP-256")
        self.assertEqual(wrap["api_version"], "7.5")
        self.assertEqual(wrap["authorization"], "valid")
        self.assertEqual(wrap["status"], 200)
        self.assertEqual(missing["authorization"], "missing")
        self.assertEqual(missing["status"], 401)
        self.assertEqual(wrong["authorization"], "wrong-audience")
        self.assertEqual(entra["role"], "entra")
        self.assertEqual(entra["client_id"], self.fake.credentials["client_id"])
        self.assertEqual(entra["scope"], f"{VAULT}/.default")
        self.assertEqual(imds["role"], "imds")
        self.assertEqual(imds["resource"], VAULT)

    def test_token_counters(self):
        before = self.fake.control("GET", "state")
        self.fake.client_credentials(f"{MANAGED_HSM}/.default")
        self.fake.client_credentials(f"{MANAGED_HSM}/.default")
        self.fake.imds(f"api-version=2018-02-01&resource={STORAGE}/")

        after = self.fake.control("GET", "state")

        scope = f"{MANAGED_HSM}/.default"
        self.assertEqual(after["entra_tokens_by_scope"].get(scope, 0)
                         - before["entra_tokens_by_scope"].get(scope, 0), 2)
        resource = f"{STORAGE}/"
        self.assertEqual(after["imds_tokens_by_resource"].get(resource, 0)
                         - before["imds_tokens_by_resource"].get(resource, 0), 1)
        self.assertEqual(after["counters"]["entra_tokens"]
                         - before["counters"]["entra_tokens"], 2)


class SecretLeakTest(AzureFakeTestCase):
    def test_no_secret_in_logs_or_request_list(self):
        self.create_key("leak")
        self.create_key("leak-hsm", kty="oct-HSM")
        dek = b"LeakCanary-" + secrets.token_hex(8).encode() + b"!!!!!"
        _, _, entra = self.fake.client_credentials(f"{VAULT}/.default")
        _, _, imds = self.fake.imds(f"api-version=2018-02-01&resource={MANAGED_HSM}")
        _, _, wrapped = self.vault("POST", "leak//wrapkey", entra["access_token"],
                                   {"alg": "RSA-OAEP-256", "value": b64url(dek)})
        self.vault("POST", "leak//unwrapkey", entra["access_token"],
                   {"alg": "RSA-OAEP-256", "value": wrapped["value"]})
        _, _, hsm_wrapped = self.hsm(
            "POST",
            "leak-hsm//wrapkey",
            imds["access_token"],
            {"alg": "CKM_AES_KEY_WRAP_PAD", "value": b64url(dek)},
        )
        self.fake.client_credentials(
            f"{VAULT}/.default", client_secret="FakeAzureSecretX"
        )
        federated = self.fake.control("POST", "federated-credentials", {})["token"]
        self.fake.client_assertion(f"{VAULT}/.default", federated)
        rotated = self.fake.control("POST", "rotate-federated-token", {})["token"]
        self.fake.client_assertion(f"{VAULT}/.default", federated)
        time.sleep(0.2)

        request_list = json.dumps(self.fake.control("GET", "requests"))
        state = json.dumps(self.fake.control("GET", "state"))
        secrets_sent = {
            "dek": dek.decode(),
            "dek base64url": b64url(dek),
            "wrapped": wrapped["value"],
            "hsm wrapped": hsm_wrapped["value"],
            "entra token": entra["access_token"],
            "imds token": imds["access_token"],
            "token marker": "FakeAzureToken",
            "client secret": self.fake.credentials["client_secret"],
            "secret prefix": "FakeAzureSecret",
            "private key": "PRIVATE KEY",
            "federated token": federated,
            "rotated federated token": rotated,
            "federated token marker": "FakeFederatedToken",
        }
        for label, secret in secrets_sent.items():
            with self.subTest(label):
                self.assertNotIn(secret, self.fake.stderr_text())
                self.assertNotIn(secret, request_list)
                self.assertNotIn(secret, state)


class CredentialsFileTest(AzureFakeTestCase):
    def test_file_is_private_and_complete(self):
        mode = stat.S_IMODE(os.stat(self.fake.credentials_path).st_mode)
        self.assertEqual(mode, 0o600)
        credentials = self.fake.credentials
        self.assertEqual(credentials["authority_host"], self.fake.url)
        self.assertEqual(credentials["vault_url"], self.fake.vault_url)
        self.assertEqual(credentials["managed_hsm_url"], self.fake.hsm_url)
        self.assertTrue(credentials["client_secret"].startswith("FakeAzureSecret"))
        for url in (self.fake.url, self.fake.vault_url, self.fake.hsm_url):
            self.assertTrue(url.startswith("http://127.0.0.1:"), url)


# -- TLS, run against a separate fake -----------------------------------------


class TlsTest(unittest.TestCase):
    def test_data_planes_serve_verified_https(self):
        with tempfile.TemporaryDirectory() as directory:
            fake = FakeProcess(directory, ["--generate-tls", directory])
            try:
                self.assertTrue(fake.vault_url.startswith("https://127.0.0.1:"))
                self.assertTrue(fake.hsm_url.startswith("https://127.0.0.1:"))
                self.assertTrue(fake.url.startswith("http://127.0.0.1:"))
                key_mode = stat.S_IMODE(
                    os.stat(os.path.join(directory, "server-key.pem")).st_mode)
                self.assertEqual(key_mode, 0o600)
                fake.control("POST", "keys", {"name": "tls", "kty": "oct-HSM"})
                token = fake.control("POST", "issue-token",
                                     {"resource": MANAGED_HSM})["access_token"]
                status, _, body = fake.keys(fake.hsm_url, "POST", "tls//wrapkey", token,
                                            {"alg": "A256KW",
                                             "value": b64url(b"t" * 32)})
                self.assertEqual(status, 200, body)
                self.assertTrue(body["kid"].startswith(fake.hsm_url + "/keys/tls/"))

                # Without the CA, certificate verification fails.
                fake.ssl_context = ssl.create_default_context()
                with self.assertRaises(ssl.SSLCertVerificationError):
                    fake.keys(fake.vault_url, "GET", "tls", token)
                # A plain HTTP request to the HTTPS port gets no response.
                fake.ssl_context = None
                with self.assertRaises((http.client.HTTPException, OSError)):
                    fake.request("GET", fake.vault_url.replace("https", "http"))
            finally:
                fake.stop()


class TokenLifetimeTest(unittest.TestCase):
    def test_short_lifetime_expires(self):
        with tempfile.TemporaryDirectory() as directory:
            fake = FakeProcess(directory, ["--token-lifetime", "1"])
            try:
                fake.control("POST", "keys", {"name": "short"})
                status, _, body = fake.client_credentials(f"{VAULT}/.default")
                self.assertEqual(status, 200, body)
                self.assertEqual(body["expires_in"], 1)
                token = body["access_token"]
                fresh = fake.keys(fake.vault_url, "GET", "short", token)
                self.assertEqual(fresh[0], 200, fresh[2])
                time.sleep(1.2)
                expired = fake.keys(fake.vault_url, "GET", "short", token)
            finally:
                fake.stop()
        self.assertEqual(expired[0], 401)
        self.assertEqual(expired[2]["error"]["code"], "Unauthorized")
        self.assertIn("expired", expired[2]["error"]["message"])


# -- entry point --------------------------------------------------------------


def tools_missing(message):
    """Report missing test tools: a skip, or a failure under CI=true."""
    if os.environ.get("CI") == "true":
        sys.stderr.write(f"azure_fake_selftest: {message} (failing because CI=true)\n")
        return 1
    sys.stderr.write(f"azure_fake_selftest: skipped: {message}\n")
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
        sys.stderr.write(f"azure_fake.py exited with code {exit_code}\n")
        return 1
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
