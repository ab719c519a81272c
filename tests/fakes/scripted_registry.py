"""A loopback registry whose answers a test scripts, optionally in front of a real registry.

``ScriptedRegistry(upstream=None)`` listens on ``127.0.0.1:<random port>``. For each request the first
matching route (``on(method, path_regex, answer)``, searched in order, the path with its query) answers:

* ``answer`` a tuple ``(status, headers, body)``; ``body`` bytes or anything JSON-able;
* or a callable ``answer(request) -> (status, headers, body)``, ``request`` having ``method``, ``path``,
  ``headers``, ``body`` and ``server`` (this fake, e.g. for its ``address``);
* a ``Stream(chunks)`` body: an iterable of byte chunks, sent with chunked transfer encoding (no length),
  for answers that do not say how long they are.

Without a matching route the request goes to ``upstream`` (``127.0.0.1:5000``, Host header unchanged, as the
fault proxy does), else 404 ``NAME_UNKNOWN``. Every request is recorded in ``seen`` (method, path, headers).
Loopback only; bounded (request bodies up to 64 MiB, upstream timeouts).
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterable

from tests.fakes.loopback import LoopbackServer

MAX_BODY = 64 << 20
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    server: "ScriptedRegistry"


class Stream:
    """A body sent in chunks with no Content-Length."""

    def __init__(self, chunks: Iterable[bytes]):
        self.chunks = chunks


class ScriptedRegistry(LoopbackServer):
    thread_name = "scripted-registry"

    def __init__(self, upstream: str | None = None) -> None:
        super().__init__()
        self.upstream = upstream
        self.routes: list[tuple[str, re.Pattern[str], Any]] = []
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def on(self, method: str, path: str, answer: Any) -> "ScriptedRegistry":
        self.routes.append((method, re.compile(path), answer))
        return self

    def count(self, method: str, path: str = "") -> int:
        with self.lock:
            return sum(1 for m, p, _ in self.seen if m == method and re.search(path, p))

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(_Handler):
            server_owner = owner

        return Handler


class _Handler(BaseHTTPRequestHandler):
    server_owner: ScriptedRegistry
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except OSError:  # the client dropped the connection (e.g. an answer it would not read to the end)
            self.close_connection = True

    def _serve(self) -> None:
        owner = self.server_owner
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        body = self.rfile.read(length) if length else b""
        with owner.lock:
            owner.seen.append((self.command, self.path, dict(self.headers)))
        for method, pattern, answer in owner.routes:
            if method in (self.command, "*") and pattern.search(self.path):
                if callable(answer):
                    answer = answer(Request(self.command, self.path, dict(self.headers), body, owner))
                return self._answer(*answer)
        if owner.upstream:
            return self._forward(body)
        return self._answer(404, {}, {"errors": [{"code": "NAME_UNKNOWN", "message": "no such repository"}]})

    def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if isinstance(body, Stream):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for chunk in body.chunks:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                self.close_connection = True
            return
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
        if not (self.command == "HEAD" and any(k.lower() == "content-length" for k in headers)):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            try:
                self.wfile.write(data)
            except OSError:
                self.close_connection = True

    def _forward(self, body: bytes) -> None:
        host, _, port = self.server_owner.upstream.rpartition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if body or self.command in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read() if self.command != "HEAD" else b""
            out = {k: v for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP}
        finally:
            conn.close()
        if self.command == "HEAD":
            self.send_response(resp.status)
            for k, v in out.items():
                self.send_header(k, v)
            self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
            self.end_headers()
            return
        self._answer(resp.status, out, data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

