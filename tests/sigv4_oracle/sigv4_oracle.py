#!/usr/bin/env python3
"""Sign requests with botocore, as an independent check of dekms's SigV4.

Reads a JSON list of requests from the file named by the only argument, or
from stdin without one. Each request is an object with:

  method             "GET", "PUT", "POST", ...
  endpoint           scheme://host[:port], with no path
  path               the raw path, not yet percent-encoded ("/b/a b.txt")
  query              list of [name, value] pairs, raw; a null value gives a
                     parameter without '='
  headers            list of [name, value] pairs, sent and signed as given
  body_hex           the body as hex
  access_key_id, secret_access_key, session_token ("" for none)
  region, service    the credential scope
  timestamp          the signing time, yyyymmddTHHMMSSZ
  s3                 true for S3SigV4Auth, false for SigV4Auth

The URL is built the way botocore's serializers build it: the path is
encoded with urllib.parse.quote(safe="/~") and each query name and value
with quote(safe="-_.~"). botocore then signs that URL unchanged.

Prints a JSON list with, per request:

  url            the URL that was signed
  authorization  the Authorization header botocore set
  headers        every header on the request after signing except
                 Authorization, as [lowercased name, value] pairs. botocore
                 adds X-Amz-Date, X-Amz-Security-Token with a session token,
                 and X-Amz-Content-SHA256 for S3. It signs a Host header
                 derived from the URL without adding it to the request.

Exits with 1 and a message on stderr when botocore is missing or a request
is invalid.
"""

import datetime
import json
import sys
import urllib.parse

try:
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
except ImportError as error:
    sys.exit(
        f"sigv4_oracle: botocore is not installed ({error}); "
        "run scripts/install-test-tools.sh and use its virtualenv"
    )


def build_url(request):
    url = request["endpoint"] + urllib.parse.quote(request["path"], safe="/~")
    parameters = []
    for name, value in request["query"]:
        encoded = urllib.parse.quote(name, safe="-_.~")
        if value is not None:
            encoded += "=" + urllib.parse.quote(value, safe="-_.~")
        parameters.append(encoded)
    if parameters:
        url += "?" + "&".join(parameters)
    return url


def sign(request):
    url = build_url(request)
    aws_request = botocore.awsrequest.AWSRequest(
        method=request["method"],
        url=url,
        data=bytes.fromhex(request["body_hex"]),
    )
    # HTTPHeaders appends on assignment, so repeated names stay repeated.
    for name, value in request["headers"]:
        aws_request.headers[name] = value

    credentials = botocore.credentials.Credentials(
        request["access_key_id"],
        request["secret_access_key"],
        request["session_token"] or None,
    )
    signer_class = (
        botocore.auth.S3SigV4Auth if request["s3"] else botocore.auth.SigV4Auth
    )
    signer = signer_class(credentials, request["service"], request["region"])

    # botocore reads the clock through this module attribute.
    timestamp = datetime.datetime.strptime(
        request["timestamp"], botocore.auth.SIGV4_TIMESTAMP
    )
    botocore.auth.get_current_datetime = lambda *args, **kwargs: timestamp
    signer.add_auth(aws_request)

    headers = [
        [name.lower(), value]
        for name, value in aws_request.headers.items()
        if name.lower() != "authorization"
    ]
    return {
        "url": url,
        "authorization": aws_request.headers["Authorization"],
        "headers": headers,
    }


def main():
    if len(sys.argv) > 2:
        sys.exit("usage: sigv4_oracle.py [REQUESTS_JSON_FILE]")
    try:
        if len(sys.argv) == 2:
            with open(sys.argv[1], encoding="utf-8") as requests_file:
                requests = json.load(requests_file)
        else:
            requests = json.load(sys.stdin)
    except (OSError, ValueError) as error:
        sys.exit(f"sigv4_oracle: cannot read the requests: {error}")
    try:
        results = [sign(request) for request in requests]
    except (KeyError, TypeError, ValueError) as error:
        sys.exit(f"sigv4_oracle: invalid request: {error!r}")
    json.dump(results, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
