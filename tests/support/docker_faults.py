"""A proxy on a unix socket in front of the test dockerd that makes chosen Engine API calls fail.

drtool reaches docker through the SDK and DOCKER_HOST, so pointing DOCKER_HOST at this socket is
all it takes: every request is forwarded to the real daemon, except those matching a rule the
test set, which get the 500 and JSON message a failing daemon sends.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.support.fault_proxy import QuietHandler, send_head


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=120)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@dataclass
class _Rule:
    method: str
    path: re.Pattern[str]
    skip: int
    times: int
    seen: int = 0


@dataclass
class DockerFaults:
    """Serves on ``socket_path``; forwards to the daemon listening on ``upstream``."""

    socket_path: Path
    upstream: str
    rules: list[_Rule] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def fail(self, method: str, path: str, skip: int = 0, times: int = 1) -> None:
        """Answer 500 to ``times`` ``method`` requests whose path matches ``path`` (a regular
        expression), after ``skip`` of them have gone through."""
        with self.lock:
            self.rules.append(_Rule(method, re.compile(path), skip, times))

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def _strikes(self, method: str, path: str) -> bool:
        with self.lock:
            struck = False
            for rule in self.rules:
                if rule.method == method and rule.path.search(path):
                    rule.seen += 1
                    struck = struck or rule.skip < rule.seen <= rule.skip + rule.times
            return struck

    def __enter__(self) -> DockerFaults:
        self.server = _Server(str(self.socket_path), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
        self.socket_path.unlink(missing_ok=True)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(QuietHandler):
            def address_string(self) -> str:  # a unix socket has no client address
                return "docker-client"

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if proxy._strikes(self.command, self.path.split("?")[0]):
                    payload = json.dumps({"message": "failure injected by the test"}).encode()
                    json_type = [("Content-Type", "application/json")]
                    self._answer(500, "Internal Server Error", json_type, payload)
                    return
                upstream = _UnixConnection(proxy.upstream)
                try:
                    upstream.request(
                        self.command, self.path, body=body, headers=dict(self.headers.items())
                    )
                    answer = upstream.getresponse()
                    self._answer(answer.status, answer.reason, answer.getheaders(), answer.read())
                finally:
                    upstream.close()

            def _answer(
                self, status: int, reason: str, headers: list[tuple[str, str]], payload: bytes
            ) -> None:
                send_head(self, status, reason, headers, len(payload))
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        return Handler
