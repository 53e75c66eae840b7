"""A small HTTP proxy on 127.0.0.1 that forwards to an S3 server and injects S3's failures.

For a given fraction of requests (seeded, so a run is reproducible) it answers 503 SlowDown or
500 InternalError, resets the connection, or stalls mid-body (headers and half the body, then
silence longer than the client's read timeout). Two faults are aimed rather than random (a
plan's ``matching`` and ``times``): ``cut`` sends an answer's headers and half its body, then
closes the connection (a download broken mid-body); ``moved`` answers as S3 does for a bucket in
another region (301 PermanentRedirect). Everything else is forwarded untouched, Host header
included, so that SigV4 signatures still verify upstream. Every request is recorded (method,
path, Range header), as the server saw it: the oracle for what a client asked.
"""

from __future__ import annotations

import http.client
import random
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("slowdown", "internal", "reset", "stall")  # test_s3_faults runs each at random
MOVED_REGION = "eu-west-1"
_SERVER_ERRORS = {"slowdown": ("SlowDown", 503), "internal": ("InternalError", 500)}

_ERROR_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
    "<Message>injected by the test proxy</Message></Error>"
)
# What S3 answers for a bucket in another region than the request's endpoint (AWS's documented
# PermanentRedirect error, with the header naming the bucket's region).
_MOVED_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PermanentRedirect</Code>'
    "<Message>The bucket you are attempting to access must be addressed using the specified "
    "endpoint. Please send all future requests to this endpoint.</Message>"
    f"<Endpoint>s3.{MOVED_REGION}.amazonaws.com</Endpoint></Error>"
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None


@dataclass
class FaultPlan:
    fault: str
    rate: float
    stall_seconds: float = 3.0
    seed: int = 7
    injected: int = 0
    forwarded: int = 0
    matching: str = ""  # only requests whose "METHOD path" this matches are struck
    times: int | None = None  # at most this many strikes
    requests: list[Request] = field(default_factory=list)  # every request, in order
    struck: list[int] = field(default_factory=list)  # the indices of those a fault struck
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def strike(self, request: Request) -> bool:
        with self.lock:
            self.requests.append(request)
            hit = (
                self.random.random() < self.rate
                and re.search(self.matching, f"{request.method} {request.path}") is not None
                and (self.times is None or self.injected < self.times)
            )
            if hit:
                self.injected += 1
                self.struck.append(len(self.requests) - 1)
            else:
                self.forwarded += 1
            return hit


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive, as the clients use it), and no request log in the test output."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass


def send_head(
    handler: BaseHTTPRequestHandler,
    status: int,
    reason: str,
    headers: list[tuple[str, str]],
    length: int,
) -> None:
    """Send the status line and the upstream's end-to-end headers for a body of ``length``
    bytes that follows whole, whatever the upstream's own framing was."""
    handler.send_response_only(status, reason)
    for name, value in headers:
        if name.lower() not in ("transfer-encoding", "connection", "content-length"):
            handler.send_header(name, value)
    handler.send_header("Content-Length", str(length))
    handler.end_headers()


class FaultProxy:
    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.plan = plan
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(QuietHandler):
            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, self.headers.get("Range"))
                fault = proxy.plan.fault if proxy.plan.strike(request) else None
                if fault in ("slowdown", "internal"):
                    code, status = (
                        ("SlowDown", 503) if fault == "slowdown" else ("InternalError", 500)
                    )
                    self._error(status, _ERROR_BODY.format(code=code))
                    return
                if fault == "moved":
                    self._error(301, _MOVED_BODY, [("x-amz-bucket-region", MOVED_REGION)])
                    return
                if fault == "reset":
                    # SO_LINGER 0: close() sends a TCP RST, as a dropped connection does.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    return
                status, reason, headers, payload = self._forward(body)
                send_head(self, status, reason, headers, len(payload))
                if self.command == "HEAD":
                    return
                if fault == "stall":
                    # The request did reach the server; its answer stops halfway, then silence.
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    time.sleep(proxy.plan.stall_seconds)
                    self.close_connection = True
                    return
                if fault == "cut":
                    self.wfile.write(payload[: len(payload) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(payload)

            def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
                upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=60
                )
                try:
                    upstream.request(
                        self.command, self.path, body=body, headers=dict(self.headers.items())
                    )
                    answer = upstream.getresponse()
                    return answer.status, answer.reason, answer.getheaders(), answer.read()
                finally:
                    upstream.close()

            def _error(
                self, status: int, body: str, headers: list[tuple[str, str]] | None = None
            ) -> None:
                payload = body.encode()
                self.send_response_only(status)
                for name, value in headers or []:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler
