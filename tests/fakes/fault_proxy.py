"""A fault-injecting HTTP proxy on loopback, for the reliability tests.

``FaultProxy(upstream)`` listens on ``127.0.0.1:<random port>`` and forwards every request to
``upstream`` (``127.0.0.1:5000`` for the real registry, or a forge fake's ``http://127.0.0.1:PORT``),
passing the ``Host`` header through unchanged, so a registry builds its upload ``Location`` URLs
(and a fake its links) on the proxy's address and every later request comes back through it.

Rules (:meth:`FaultProxy.add`) match on method (``*`` for any), a regex searched in the path (query
included) and optionally the ``User-Agent`` (to aim at dockerd's pushes, ``docker/``, or at the
tool's own client, ``python-requests``). Each rule fires for its next ``times`` matching requests
(``None``: for ever); the first rule that matches and still has hits left wins. What a rule does:

* ``reset``: reads the request, then closes the connection with an RST (SO_LINGER 0);
* ``delay``: waits ``seconds`` (capped, interruptible), then drops the connection without an
  answer, or forwards the request when ``then="forward"``;
* ``status``: answers that status at once (500/502/503/504, 408, 429 with ``Retry-After``, any 4xx),
  with a registry-style (``{"errors": [...]}``) or GitHub-style (``{"message": ...}``) JSON body;
* ``hold``: waits until ``event`` is set (at most ``seconds``), then forwards: orders two clients' requests
  without sleeping, for races;
* ``pass``: forwards as usual (for its callbacks).

Any rule may have ``before`` (called when it matches) and ``after`` (called once the answer went back).

Every request is recorded (:attr:`FaultProxy.log`: method, path, agent, what happened, status), and
each rule counts its hits (:attr:`Rule.hits`). Loopback only (the upstream must be a loopback host),
bounded (request bodies up to 256 MiB, delays up to 60 s, socket timeouts everywhere).
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.loopback import LoopbackServer

LOOPBACK = ("127.0.0.1", "::1", "localhost")
MAX_BODY = 256 << 20
MAX_DELAY = 60.0
UPSTREAM_TIMEOUT = 120.0
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length"}

_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
_REGISTRY_CODES = {400: "MANIFEST_INVALID", 401: "UNAUTHORIZED", 403: "DENIED", 404: "MANIFEST_UNKNOWN",
                   405: "UNSUPPORTED", 408: "UNKNOWN", 429: "TOOMANYREQUESTS"}


@dataclass
class Rule:
    method: str
    path: re.Pattern
    action: str  # "reset" | "delay" | "status"
    times: int | None = 1  # None: every matching request
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    seconds: float = 0.0
    then: str = "drop"  # for delay: "drop" or "forward"
    agent: re.Pattern | None = None
    event: threading.Event | None = None
    before: Any = None
    after: Any = None
    hits: int = 0

    def matches(self, method: str, path: str, agent: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method != "*" and self.method != method:
            return False
        if self.agent is not None and not self.agent.search(agent or ""):
            return False
        return bool(self.path.search(path))


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    agent: str
    outcome: str  # "forwarded", "reset", "dropped", "injected"
    status: int | None


class FaultProxy(LoopbackServer):
    """``with FaultProxy("127.0.0.1:5000") as proxy:`` -> ``proxy.address`` is ``127.0.0.1:PORT``."""

    thread_name = "fault-proxy"

    def __init__(self, upstream: str, style: str = "registry", rewrite: bool | None = None):
        super().__init__()
        parts = urlsplit(upstream if "://" in upstream else f"http://{upstream}")
        if parts.scheme != "http" or parts.hostname not in LOOPBACK:
            raise ValueError(f"the fault proxy forwards to plain HTTP on loopback only, not {upstream!r}")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.style = style  # error body shape: "registry", or "github"/"gitlab" ({"message": ...})
        # Rewrite the upstream's own address in answers to the proxy's (as a reverse proxy does), so links a
        # fake builds from its server address (GitHub's upload_url) come back through the proxy too.
        self.rewrite = (style != "registry") if rewrite is None else rewrite
        self.rules: list[Rule] = []
        self.log: list[Seen] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def handler_class(self):
        return type("Handler", (_Handler,), {"owner": self})

    def stop(self) -> None:
        self._stop.set()
        super().stop()

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    # -- rules -------------------------------------------------------------------------------
    def add(self, method: str, path: str, action: str, *, times: int | None = 1, status: int | None = None,
            retry_after: str | int | None = None, headers: dict[str, str] | None = None, body: Any = None,
            seconds: float = 0.0, then: str = "drop", agent: str | None = None,
            event: threading.Event | None = None, before: Any = None, after: Any = None) -> Rule:
        if action not in ("reset", "delay", "status", "hold", "pass"):
            raise ValueError(f"unknown fault action {action!r}")
        if action == "status" and not (status and 400 <= status <= 599):
            raise ValueError("a status fault needs a 4xx or 5xx status")
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs["Retry-After"] = str(retry_after)
        rule = Rule(method.upper(), re.compile(path), action, times, status, hdrs, body,
                    min(float(seconds), MAX_DELAY), then, re.compile(agent) if agent else None,
                    event, before, after)
        with self.lock:
            self.rules.append(rule)
        return rule

    def reset(self, method: str, path: str, **kw: Any) -> Rule:
        return self.add(method, path, "reset", **kw)

    def delay(self, method: str, path: str, seconds: float, **kw: Any) -> Rule:
        return self.add(method, path, "delay", seconds=seconds, **kw)

    def status(self, method: str, path: str, status: int, **kw: Any) -> Rule:
        return self.add(method, path, "status", status=status, **kw)

    def hold(self, method: str, path: str, event: threading.Event, seconds: float = 30.0, **kw: Any) -> Rule:
        return self.add(method, path, "hold", event=event, seconds=seconds, **kw)

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def _match(self, method: str, path: str, agent: str) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path, agent):
                    rule.hits += 1
                    return rule
        return None

    def _record(self, seen: Seen) -> None:
        with self.lock:
            self.log.append(seen)

    # -- inspection --------------------------------------------------------------------------
    def count(self, method: str | None = None, path: str | None = None, outcome: str | None = None) -> int:
        with self.lock:
            return sum(1 for s in self.log
                       if (method is None or s.method == method.upper())
                       and (path is None or re.search(path, s.path))
                       and (outcome is None or s.outcome == outcome))

    def error_body(self, status: int) -> bytes:
        reason = _REASONS.get(status, "Error")
        if self.style != "registry":  # GitHub and GitLab: {"message": ...}
            doc: Any = {"message": reason, "documentation_url": "https://docs.github.com/rest"}
        else:
            code = _REGISTRY_CODES.get(status, "UNAVAILABLE" if status >= 500 else "UNKNOWN")
            doc = {"errors": [{"code": code, "message": f"injected {status} {reason}", "detail": None}]}
        return json.dumps(doc).encode()


class _Handler(BaseHTTPRequestHandler):
    owner: FaultProxy
    protocol_version = "HTTP/1.1"
    timeout = UPSTREAM_TIMEOUT  # idle keep-alive connections do not pin a thread for ever
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                if len(data) + size > MAX_BODY:
                    raise ValueError("request body too large")
                data += self.rfile.read(size)
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length else b""

    def _abort(self, rst: bool) -> None:
        self.close_connection = True
        try:
            if rst:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _serve(self) -> None:
        p = self.owner
        method, path, agent = self.command, self.path, self.headers.get("User-Agent", "")
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self._abort(rst=True)
            return
        rule = p._match(method, path, agent)
        if rule is not None and rule.before is not None:
            rule.before()
        if rule is not None and rule.action == "hold":
            assert rule.event is not None
            rule.event.wait(rule.seconds)
        if rule is not None and rule.action == "reset":
            p._record(Seen(method, path, agent, "reset", None))
            self._abort(rst=True)
            return
        if rule is not None and rule.action == "delay":
            p._stop.wait(rule.seconds)
            if rule.then != "forward":
                p._record(Seen(method, path, agent, "dropped", None))
                self._abort(rst=False)
                return
        if rule is not None and rule.action == "status":
            status = int(rule.status or 500)
            if rule.body is None:
                payload = p.error_body(status)
            elif isinstance(rule.body, bytes):
                payload = rule.body
            else:
                payload = json.dumps(rule.body).encode()
            p._record(Seen(method, path, agent, "injected", status))
            self.send_response(status, _REASONS.get(status))
            self.send_header("Content-Type", "application/json")
            for k, v in rule.headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(payload)
            return
        self._forward(method, path, agent, body)
        if rule is not None and rule.after is not None:
            rule.after()

    def _forward(self, method: str, path: str, agent: str, body: bytes) -> None:
        p = self.owner
        conn = http.client.HTTPConnection(p.upstream_host, p.upstream_port, timeout=UPSTREAM_TIMEOUT)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if body or method in ("POST", "PUT", "PATCH"):
                headers["Content-Length"] = str(len(body))
            conn.request(method, path, body=body if body else None, headers=headers)
            resp = conn.getresponse()
            data = resp.read() if method != "HEAD" else b""
            if len(data) > MAX_BODY:
                raise ValueError("response too large")
        except (OSError, http.client.HTTPException, ValueError):
            p._record(Seen(method, path, agent, "upstream-failed", None))
            self._abort(rst=True)
            return
        finally:
            conn.close()
        p._record(Seen(method, path, agent, "forwarded", resp.status))
        origin = f"{p.upstream_host}:{p.upstream_port}"
        if p.rewrite and data:
            data = data.replace(origin.encode(), p.address.encode())
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v.replace(origin, p.address) if p.rewrite else v)
        if method == "HEAD":
            length = resp.getheader("Content-Length")
            if length is not None:
                self.send_header("Content-Length", length)
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve
