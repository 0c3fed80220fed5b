#!/usr/bin/python3
"""A small HTTP(S) server for the HTTP client's integration tests (http_client_test.cpp).

Listens on 127.0.0.1 only. With --cert/--key it speaks TLS (1.2 or newer) with that certificate
(the test PKI's), else plain http. Once listening it prints "READY <port>" on stdout; each request
adds a line "REQUEST <method> <path>" (never a header value or a body).

Routes:
  GET  /hello              200 "hello", with headers "X-Test-Header: Mixed Case Value" and
                           "Set-Cookie: a=b"
  POST /echo               200, a JSON object: method, path, content_type, authorization (the
                           header as received), body (latin-1 decoded), length
  GET  /status/<code>      that status, a small JSON error body, "Retry-After: 7"
  GET  /big?n=<N>          N octets of "x", with Content-Length
  GET  /stream?n=<N>       N octets of "x", no Content-Length (HTTP/1.0 style, ends at close)
  GET  /slow?ms=<M>        waits M ms, then 200 "late"

Options: --port P (required), --cert FILE --key FILE.
"""
import argparse
import json
import ssl
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "oauthmail-test/1"

    def log_message(self, fmt, *args):  # the default logs to stderr with the full request line
        pass

    def note(self):
        print(f"REQUEST {self.command} {urlsplit(self.path).path}", flush=True)

    def reply(self, status, body, content_type="text/plain", extra=None, length=True):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.note()
        url = urlsplit(self.path)
        q = parse_qs(url.query)
        if url.path == "/hello":
            self.reply(200, b"hello", extra={"X-Test-Header": "Mixed Case Value", "Set-Cookie": "a=b"})
        elif url.path.startswith("/status/"):
            code = int(url.path.rsplit("/", 1)[1])
            self.reply(code, b'{"error":"test_error"}', "application/json", {"Retry-After": "7"})
        elif url.path == "/big":
            self.reply(200, b"x" * int(q["n"][0]))
        elif url.path == "/stream":
            n = int(q["n"][0])
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            chunk = b"x" * 65536
            try:
                while n > 0:
                    self.wfile.write(chunk[: min(n, len(chunk))])
                    n -= len(chunk)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                pass
        elif url.path == "/slow":
            time.sleep(int(q["ms"][0]) / 1000)
            self.reply(200, b"late")
        else:
            self.reply(404, b"not found")

    def do_POST(self):
        self.note()
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length) if length else b""
        if urlsplit(self.path).path == "/echo":
            out = {
                "method": self.command,
                "path": self.path,
                "content_type": self.headers.get("Content-Type"),
                "authorization": self.headers.get("Authorization"),
                "expect": self.headers.get("Expect"),
                "body": body.decode("latin-1"),
                "length": len(body),
            }
            self.reply(200, json.dumps(out).encode(), "application/json")
        else:
            self.reply(404, b"not found")

    do_PUT = do_POST


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    a = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.daemon_threads = True
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(a.cert, a.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"READY {a.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
