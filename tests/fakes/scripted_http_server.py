#!/usr/bin/env python3
"""Loopback HTTP server with canned behaviours, for HTTP transport tests.

Binds 127.0.0.1 on an ephemeral port and writes "READY http://127.0.0.1:PORT"
to stderr once it accepts connections; with "--tls CERT KEY" it serves
HTTPS and writes an https URL. Paths choose the behaviour:

  /echo               200 with a JSON object describing the request
  /status/CODE        responds CODE with a short body
  /bytes/N            200 with N bytes of "x"
  /slow/MS            waits MS milliseconds, then answers 200
  /reset              closes the connection without answering
  /reset-count/KEY    counts the request for KEY, then resets as /reset
  /flaky/KEY/N/CODE   answers CODE to the first N requests for KEY, then 200
  /retry-after/VALUE  503 with "Retry-After: VALUE"
  /count/KEY          200 with the number of requests seen for KEY
  /naive-s3/...       an S3 imitation that ignores If-None-Match and
                      authentication: PUT stores, GET reads, HEAD answers 200
  /naive-gcs/...      a Cloud Storage imitation that ignores
                      ifGenerationMatch and authentication: uploads store
                      under the name= parameter, object GETs read, and
                      bucket GETs answer 200
"""

import http.server
import json
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

COUNTS = {}
OBJECTS = {}
LOCK = threading.Lock()


def bump(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        length = self.headers.get("Content-Length")
        body = self.rfile.read(int(length)) if length else b""
        parts = self.path.split("?")[0].strip("/").split("/")
        head = parts[0]
        if head == "naive-s3":
            key = self.path.split("?")[0]
            if self.command == "PUT":
                with LOCK:
                    OBJECTS[key] = body
                self.reply(200)
            elif self.command == "HEAD":
                self.reply(200)
            else:
                with LOCK:
                    stored = OBJECTS.get(key)
                if stored is None:
                    self.reply(404, b"<Error><Code>NoSuchKey</Code></Error>")
                else:
                    self.reply(200, stored)
        elif head == "naive-gcs":
            path, _, query = self.path.partition("?")
            params = urllib.parse.parse_qs(query)
            if self.command == "POST" and "/upload/" in path:
                name = params["name"][0]
                with LOCK:
                    OBJECTS["gcs:" + name] = body
                reply = {"name": name, "size": str(len(body))}
                self.reply(200, json.dumps(reply).encode(),
                           [("Content-Type", "application/json")])
            elif "/o/" in path:
                name = urllib.parse.unquote(path.split("/o/", 1)[1])
                with LOCK:
                    stored = OBJECTS.get("gcs:" + name)
                if stored is None:
                    self.reply(404, b"Not Found")
                else:
                    self.reply(200, stored)
            else:
                self.reply(200, b"{}", [("Content-Type", "application/json")])
        elif head == "echo":
            description = {
                "method": self.command,
                "path": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode("latin-1"),
                "chunked": "chunked" in self.headers.get("Transfer-Encoding", ""),
            }
            self.reply(200, json.dumps(description).encode(),
                       [("Content-Type", "application/json"),
                        ("X-Test-Header", "  padded value  ")])
        elif head == "status":
            self.reply(int(parts[1]), b"status body")
        elif head == "bytes":
            self.reply(200, b"x" * int(parts[1]))
        elif head == "slow":
            time.sleep(int(parts[1]) / 1000.0)
            self.reply(200, b"slow")
        elif head == "reset-count":
            bump(parts[1])
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif head == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif head == "flaky":
            key, failures, code = parts[1], int(parts[2]), int(parts[3])
            seen = bump(key)
            if seen <= failures:
                self.reply(code, b"flaky failure")
            else:
                self.reply(200, b"recovered")
        elif head == "retry-after":
            bump("retry-after")
            self.reply(503, b"busy", [("Retry-After", parts[1])])
        elif head == "count":
            with LOCK:
                count = COUNTS.get(parts[1], 0)
            self.reply(200, str(count).encode())
        else:
            self.reply(404, b"unknown path")

    do_GET = do_PUT = do_POST = do_HEAD = handle_any


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    scheme = "http"
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    sys.stderr.write(f"READY {scheme}://127.0.0.1:{port}\n")
    sys.stderr.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
