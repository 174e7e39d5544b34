#!/usr/bin/env python3
"""Loopback fake of AWS STS AssumeRoleWithWebIdentity and EC2 IMDSv2.

Binds 127.0.0.1 on an ephemeral port and prints "READY http://127.0.0.1:PORT"
on stdout once it accepts connections. Uses the standard library only.

STS: POST / with the unsigned form of AssumeRoleWithWebIdentity. The fake
checks every form field and responds with XML credentials, or with an XML
ErrorResponse when a check fails or an error mode is on.

IMDSv2: PUT /latest/api/token issues a session token; the GETs of
/latest/meta-data/iam/security-credentials/ (the role name) and
/latest/meta-data/iam/security-credentials/ROLE (JSON credentials) return 401
without a valid token. There is no IMDSv1.

Every credential the fake issues contains a marker ("FakeStsSecret",
"FakeStsSession", "FakeImdsSecret", "FakeImdsSession", "FakeImdsToken"), so
tests can check that none of them reaches a log or an error message.

Control paths (not part of the AWS APIs):
  GET  /_fake/state               JSON counters and the last STS form fields
  POST /_fake/configure           merges a JSON object into the configuration
  POST /_fake/expire-imds-tokens  invalidates every IMDS token issued so far

Configuration keys (also settable with the command-line flags):
  role_arn               RoleArn that STS accepts
  expiration             ISO 8601 expiry of issued credentials
  sts_error              STS error code to respond with, or null
  sts_error_echo_token   put the received token in the error message
  sts_unavailable_count  respond 503 to this many STS requests first
  imds_role              role name that IMDS lists; "" lists none (404)
  imds_code              "Code" of the IMDS credentials JSON
"""

import argparse
import datetime
import http.server
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
ROLES_PATH = "/latest/meta-data/iam/security-credentials/"
SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")

LOCK = threading.Lock()
CONFIG = {}
STATE = {
    "requests": 0,
    "sts_calls": 0,
    "sts_issued": 0,
    "sts_last_token": None,
    "sts_last_role_arn": None,
    "sts_last_session_name": None,
    "imds_token_puts": 0,
    "imds_unauthorized": 0,
    "imds_credential_gets": 0,
    "imds_issued": 0,
}
# IMDS token -> time.monotonic() deadline.
IMDS_TOKENS = {}

STS_ERROR_STATUS = {"AccessDenied": 403, "RegionDisabledException": 403}


def sts_error_xml(code, message):
    request_id = "fake-request-" + secrets.token_hex(4)
    return (
        f'<ErrorResponse xmlns="{STS_NAMESPACE}">'
        f"<Error><Type>Sender</Type><Code>{escape(code)}</Code>"
        f"<Message>{escape(message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def do_GET(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def dispatch(self):
        body = self.read_body()
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_fake/"):
            self.control(path, body)
            return
        with LOCK:
            STATE["requests"] += 1
        if path.startswith("/latest/"):
            self.imds(path)
        elif path == "/":
            self.sts(body)
        else:
            self.reply(404, b"no such path in the fake")

    # -- control --------------------------------------------------------------

    def control(self, path, body):
        with LOCK:
            if path == "/_fake/state" and self.command == "GET":
                self.reply(200, json.dumps(STATE).encode(), "application/json")
            elif path == "/_fake/configure" and self.command == "POST":
                CONFIG.update(json.loads(body))
                self.reply(200, json.dumps(CONFIG).encode(), "application/json")
            elif path == "/_fake/expire-imds-tokens" and self.command == "POST":
                IMDS_TOKENS.clear()
                self.reply(200, b"expired")
            else:
                self.reply(404, b"no such control path")

    # -- STS ------------------------------------------------------------------

    def sts(self, body):
        if self.command != "POST":
            self.reply(405, sts_error_xml("InvalidAction", "STS takes POST"))
            return
        problem = self.check_sts_request(body)
        with LOCK:
            STATE["sts_calls"] += 1
            if problem is not None:
                self.reply(400, sts_error_xml(*problem), "text/xml")
                return
            form = urllib.parse.parse_qs(body.decode(), strict_parsing=True)
            token = form["WebIdentityToken"][0]
            STATE["sts_last_token"] = token
            STATE["sts_last_role_arn"] = form["RoleArn"][0]
            STATE["sts_last_session_name"] = form["RoleSessionName"][0]
            if CONFIG.get("sts_unavailable_count", 0) > 0:
                CONFIG["sts_unavailable_count"] -= 1
                self.reply(503, b"service unavailable")
                return
            error = CONFIG.get("sts_error")
            if error:
                message = "The fake rejects the token"
                if CONFIG.get("sts_error_echo_token"):
                    message += ": " + token
                self.reply(STS_ERROR_STATUS.get(error, 400),
                           sts_error_xml(error, message), "text/xml")
                return
            STATE["sts_issued"] += 1
            n = STATE["sts_issued"]
            expiration = CONFIG["expiration"]
        xml = (
            f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_NAMESPACE}">'
            "<AssumeRoleWithWebIdentityResult>"
            "<SubjectFromWebIdentityToken>system:serviceaccount:default:dekms"
            "</SubjectFromWebIdentityToken>"
            "<Credentials>"
            f"<SessionToken>{escape(f'FakeStsSession+{n}&/=')}</SessionToken>"
            f"<SecretAccessKey>FakeStsSecret/{n}+key</SecretAccessKey>"
            f"<Expiration>{expiration}</Expiration>"
            f"<AccessKeyId>ASIAFAKESTS{n:04d}</AccessKeyId>"
            "</Credentials>"
            f"<AssumedRoleUser><Arn>{escape(CONFIG['role_arn'])}/session</Arn>"
            "</AssumedRoleUser>"
            "</AssumeRoleWithWebIdentityResult>"
            "<ResponseMetadata><RequestId>fake-request-ok</RequestId>"
            "</ResponseMetadata></AssumeRoleWithWebIdentityResponse>"
        )
        self.reply(200, xml.encode(), "text/xml")

    def check_sts_request(self, body):
        """Returns (code, message) for a malformed request, or None."""
        content_type = self.headers.get("Content-Type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            return ("InvalidParameterValue",
                    f"Content-Type is {content_type!r}, not a form")
        if "Authorization" in self.headers:
            return ("InvalidParameterValue",
                    "AssumeRoleWithWebIdentity must be unsigned")
        try:
            form = urllib.parse.parse_qs(body.decode(), strict_parsing=True,
                                         keep_blank_values=True)
        except ValueError as error:
            return ("MalformedQueryString", f"the form does not parse: {error}")
        for name, values in form.items():
            if len(values) != 1:
                return ("InvalidParameterValue", f"{name} appears twice")
        fields = {name: values[0] for name, values in form.items()}

        expected = {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": CONFIG["role_arn"],
        }
        for name, value in expected.items():
            if fields.get(name) != value:
                return ("ValidationError",
                        f"{name} is {fields.get(name)!r}, expected {value!r}")

        if not SESSION_NAME.match(fields.get("RoleSessionName", "")):
            return ("ValidationError", "RoleSessionName is missing or invalid")
        if not fields.get("WebIdentityToken"):
            return ("MissingParameter", "WebIdentityToken is missing")

        unknown = set(fields) - set(expected) - {"RoleSessionName",
                                                 "WebIdentityToken"}
        if unknown:
            return ("InvalidParameterValue", f"unknown fields {sorted(unknown)}")
        return None

    # -- IMDSv2 ---------------------------------------------------------------

    def imds(self, path):
        if "X-Forwarded-For" in self.headers:
            self.reply(403, b"Forbidden")
            return
        if path == "/latest/api/token":
            self.imds_token()
            return
        if self.command != "GET":
            self.reply(405, b"Method Not Allowed")
            return
        with LOCK:
            token = self.headers.get(TOKEN_HEADER)
            deadline = IMDS_TOKENS.get(token) if token else None
            if deadline is None or deadline < time.monotonic():
                STATE["imds_unauthorized"] += 1
                self.reply(401, b"Unauthorized")
                return
            role = CONFIG["imds_role"]
            if path == ROLES_PATH:
                if not role:
                    self.reply(404, b"Not Found")
                else:
                    self.reply(200, (role + "\n").encode())
                return
            if not role or path != ROLES_PATH + role:
                self.reply(404, b"Not Found")
                return
            STATE["imds_credential_gets"] += 1
            STATE["imds_issued"] += 1
            n = STATE["imds_issued"]
            document = {
                "Code": CONFIG["imds_code"],
                "LastUpdated": "2030-01-01T00:00:00Z",
                "Type": "AWS-HMAC",
                "AccessKeyId": f"ASIAFAKEIMDS{n:04d}",
                "SecretAccessKey": f"FakeImdsSecret/{n}",
                "Token": f"FakeImdsSession+{n}",
                "Expiration": CONFIG["expiration"],
                "Nested": {"Ignored": ["a", 1]},
            }
        self.reply(200, json.dumps(document, indent=2).encode(), "text/plain")

    def imds_token(self):
        if self.command != "PUT":
            self.reply(405, b"Method Not Allowed")
            return
        ttl = self.headers.get(TOKEN_TTL_HEADER, "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            self.reply(400, b"Bad Request")
            return
        with LOCK:
            STATE["imds_token_puts"] += 1
            token = f"FakeImdsToken-{STATE['imds_token_puts']}-" + \
                secrets.token_hex(8)
            IMDS_TOKENS[token] = time.monotonic() + int(ttl)
        self.reply(200, token.encode())


def default_expiration():
    expiry = datetime.datetime.now(datetime.timezone.utc) + \
        datetime.timedelta(hours=1)
    return expiry.strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role-arn",
                        default="arn:aws:iam::123456789012:role/dekms-test")
    parser.add_argument("--expiration", default=default_expiration())
    parser.add_argument("--sts-error", default=None)
    parser.add_argument("--imds-role", default="dekms-instance-role")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="exit when stdin closes, so the fake never "
                             "outlives the test that reads its output")
    args = parser.parse_args()
    CONFIG.update({
        "role_arn": args.role_arn,
        "expiration": args.expiration,
        "sts_error": args.sts_error,
        "sts_error_echo_token": False,
        "sts_unavailable_count": 0,
        "imds_role": args.imds_role,
        "imds_code": "Success",
    })

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if args.exit_on_stdin_eof:
        def exit_at_eof():
            while sys.stdin.buffer.read(4096):
                pass
            os._exit(0)
        threading.Thread(target=exit_at_eof, daemon=True).start()
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
