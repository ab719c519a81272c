"""A counting HTTP proxy on loopback, put in front of the registry for the traffic benchmark.

Every request that reaches the registry through it is recorded: method, path, status, the bytes the
client sent (request line, headers and body as they came over the wire, chunk framing included) and
the bytes it got back. Clients talk to ``127.0.0.1:<proxy port>`` as if it were the registry (Docker
treats 127.0.0.0/8 as plain HTTP); the ``Host`` header is passed through, so the registry writes
upload ``Location`` URLs that point back at the proxy.

Only loopback: the proxy listens on 127.0.0.1 and forwards to a 127.0.0.1 upstream.

    with CountingProxy("127.0.0.1:5000") as proxy:
        ...  # push to proxy.host
        records = proxy.take()
"""

from __future__ import annotations

import bisect
import http.client
import json
import re
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass(frozen=True)
class Record:
    method: str
    path: str
    status: int
    sent: int  # bytes from the client: request line + headers + body (wire form)
    received: int  # bytes back to the client: status line + headers + body
    agent: str

    @property
    def kind(self) -> str:
        """ping | token | tags | manifest | blob-check | blob-upload-start | blob-upload-chunk |
        blob-upload-end | blob-get | other"""
        p = urlsplit(self.path).path
        if p.rstrip("/") == "/v2":
            return "ping"
        if "/manifests/" in p:
            return "manifest"
        if p.endswith("/tags/list"):
            return "tags"
        if "/blobs/uploads" in p:
            return {"POST": "blob-upload-start", "PATCH": "blob-upload-chunk", "PUT": "blob-upload-end"}.get(
                self.method, "blob-upload-other")
        if "/blobs/" in p:
            return "blob-check" if self.method == "HEAD" else "blob-get"
        if "token" in p:
            return "token"
        return "other"

    @property
    def blob_digest(self) -> str | None:
        """The blob digest this request checks or completes (HEAD blobs/<d>, PUT uploads?digest=<d>)."""
        parts = urlsplit(self.path)
        if self.kind == "blob-check":
            return parts.path.rsplit("/", 1)[-1]
        if self.kind == "blob-upload-end":
            m = re.search(r"(?:^|&)digest=([^&]+)", parts.query)
            return unquote(m.group(1)) if m else None
        if self.kind == "blob-upload-start":  # a monolithic upload or a cross-repository mount
            m = re.search(r"(?:^|&)(?:digest|mount)=([^&]+)", parts.query)
            return unquote(m.group(1)) if m else None
        return None

    @property
    def repo(self) -> str | None:
        """The repository the request is about (``/v2/<repo>/manifests|blobs|tags/...``), else None."""
        m = re.match(r"^/v2/(.+?)/(?:manifests|blobs|tags)/", urlsplit(self.path).path)
        return m.group(1) if m else None

    @property
    def mounted(self) -> bool:
        """A cross-repository blob mount the registry accepted (POST ...?mount=...&from=... -> 201)."""
        return self.kind == "blob-upload-start" and "mount=" in urlsplit(self.path).query and self.status == 201

    @property
    def manifest_ref(self) -> str | None:
        if self.kind != "manifest":
            return None
        return urlsplit(self.path).path.rsplit("/manifests/", 1)[-1]


def summarize(records: list[Record]) -> dict:
    """Totals and the per-digest counts the traffic target is about."""
    kinds = Counter(r.kind for r in records)
    by_method_kind = Counter(f"{r.method} {r.kind}" for r in records)
    uploads = Counter(r.blob_digest for r in records if r.kind == "blob-upload-end" and r.blob_digest)
    checks = Counter(r.blob_digest for r in records if r.kind == "blob-check" and r.blob_digest)
    manifest_puts = [r.manifest_ref for r in records if r.kind == "manifest" and r.method == "PUT"]
    puts_by_repo: dict[str, list[str]] = {}
    blobs_by_repo: dict[str, set[str]] = {}  # blobs each repository ends up with: uploaded, mounted, or there
    for r in records:
        if r.kind == "manifest" and r.method == "PUT" and r.status == 201:
            puts_by_repo.setdefault(r.repo or "", []).append(r.manifest_ref or "")
        there = ((r.kind == "blob-upload-end" and r.status == 201) or r.mounted
                 or (r.kind == "blob-check" and r.status == 200))
        if there and r.blob_digest:
            blobs_by_repo.setdefault(r.repo or "", set()).add(r.blob_digest)
    return {
        "requests": len(records),
        "bytes_sent": sum(r.sent for r in records),
        "bytes_received": sum(r.received for r in records),
        "kinds": dict(kinds),
        "by_method_kind": dict(sorted(by_method_kind.items())),
        "blob_uploads": sum(uploads.values()),
        "blobs_uploaded_twice": sorted(d for d, n in uploads.items() if n > 1),
        "blob_checks": sum(checks.values()),
        "blobs_checked_twice": sorted(d for d, n in checks.items() if n > 1),
        "manifest_puts": manifest_puts,
        "manifest_puts_by_repo": {k: sorted(v) for k, v in sorted(puts_by_repo.items())},
        "blobs_by_repo": {k: len(v) for k, v in sorted(blobs_by_repo.items())},
        "blob_mounts": sum(1 for r in records if r.mounted),
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY on the client side: with Nagle on, a response written as headers and then a body
    # waits for the client's delayed ACK (about 40 ms on Linux) on a reused connection.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def _body(self) -> tuple[bytes, int]:
        """(decoded body, wire bytes) of the request."""
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            body, wire = bytearray(), 0
            while True:
                line = self.rfile.readline()
                wire += len(line)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers up to the empty line
                        t = self.rfile.readline()
                        wire += len(t)
                        if t in (b"\r\n", b"\n", b""):
                            break
                    return bytes(body), wire
                chunk = self.rfile.read(size)
                body += chunk
                wire += len(chunk) + len(self.rfile.readline())
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        return data, len(data)

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def _upstream(self, method: str, path: str, body: bytes, headers: dict) -> tuple[int, str, list, bytes]:
        """One request to the registry on a fresh connection: (status, reason, headers, body)."""
        conn = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=120)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.reason, [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP], data
        except OSError as exc:  # the registry is down: answer as a gateway would, and count it
            text = f"upstream {self.server.upstream_host}:{self.server.upstream_port}: {exc}\n".encode()
            return 502, "Bad Gateway", [("Content-Type", "text/plain")], text
        finally:
            conn.close()

    def _forward(self) -> None:
        if self.server.delay:
            time.sleep(self.server.delay)  # a registry farther away than loopback: one round trip per request
        head = len(self.requestline) + 2 + len(self.headers.as_bytes())
        body, wire = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP and k.lower() != "content-length"}
        if body or self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(body))
        parts = urlsplit(self.path)
        if self.server.page_size and self.command == "GET" and parts.path.endswith("/tags/list"):
            status, reason, out_headers, data = self._listing(parts, headers)
        else:
            status, reason, out_headers, data = self._upstream(self.command, self.path, body, headers)
        self.send_response_only(status, reason)
        sent_len = False
        for k, v in out_headers:
            if k.lower() == "content-length":
                if self.command == "HEAD":
                    self.send_header(k, v)
                    sent_len = True
                continue
            self.send_header(k, v)
        if not sent_len:
            self.send_header("Content-Length", str(len(data)))
        # The header block and the body in one write (BaseHTTPRequestHandler's end_headers would flush
        # the headers alone first), so no response waits on the other side's delayed ACK.
        self._headers_buffer.append(b"\r\n")
        out_head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        body = data if self.command != "HEAD" else b""
        # Counted before the answer leaves: a client that has its answer may read the counts at once.
        self.server.record(Record(self.command, self.path, status, head + wire, len(out_head) + len(body),
                                  self.headers.get("User-Agent", "")))
        self.wfile.write(out_head + body)

    def _listing(self, parts, headers: dict) -> tuple[int, str, list, bytes]:
        """A page of the tag list. The whole list is read from the registry when a listing starts (no
        ``last=``) and kept for the pages that follow, as a registry with an index serves them: one
        page costs the proxy a slice, not a fresh read and sort of every tag."""
        cached = self.server.listings.get(parts.path) if "last=" in parts.query else None
        if cached is None:
            status, reason, out_headers, data = self._upstream("GET", parts.path, b"", headers)
            if status != 200:
                return status, reason, out_headers, data
            doc = json.loads(data or b"{}")
            cached = (out_headers, doc, sorted(doc.get("tags") or []))
            self.server.listings[parts.path] = cached
        out_headers, doc, tags = cached
        out_headers, data = self._page(parts, out_headers, dict(doc), tags)
        return 200, "OK", out_headers, data

    def _page(self, parts, out_headers: list, doc: dict, tags: list[str]) -> tuple[list, bytes]:
        """One page of the whole tag list, as a paginating registry (distribution 3, GHCR, Harbor) sends
        it: tags sorted, at most ``n`` (the client's, capped at ``max_page``; else ``page_size``) after
        ``last``, and a ``Link: <...>; rel="next"`` while more follow."""
        q = parse_qs(parts.query)
        try:
            n = min(int(q["n"][0]), self.server.max_page) if "n" in q else self.server.page_size
        except ValueError:
            n = self.server.page_size
        last = q.get("last", [""])[0]
        start = bisect.bisect_right(tags, last) if last else 0
        page = tags[start:start + max(n, 0)]
        doc["tags"] = page
        out = [(k, v) for k, v in out_headers if k.lower() not in ("link", "content-length")]
        if start + len(page) < len(tags) and page:
            nxt = f"{parts.path}?{urlencode({'n': n, 'last': page[-1]})}"
            out.append(("Link", f'<{nxt}>; rel="next"'))
        return out, json.dumps(doc).encode()

    def send_error(self, code, message=None, explain=None) -> None:
        if not hasattr(self, "_headers_buffer"):
            self._headers_buffer = []
        if self.raw_requestline.startswith(b"\x16\x03"):
            # A TLS ClientHello: dockerd tries HTTPS first on an insecure registry, then plain HTTP.
            # Not an HTTP request; counted apart and the connection closed, as the registry would.
            with self.server.lock:
                self.server.tls_hellos += 1
            self.close_connection = True
            return
        super().send_error(code, message, explain)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream: str, delay: float = 0.0, page_size: int | None = None, max_page: int = 1000):
        self.delay = delay
        self.page_size, self.max_page = page_size, max_page
        self.connections = 0
        self.listings: dict[str, tuple] = {}  # tag-list path -> the listing being paged through
        host, _, port = upstream.rpartition(":")
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"upstream must be on loopback, not {upstream}")
        self.upstream_host, self.upstream_port = host, int(port)
        self.records: list[Record] = []
        self.tls_hellos = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def record(self, r: Record) -> None:
        with self.lock:
            self.records.append(r)


class CountingProxy:
    """A counting proxy on 127.0.0.1, started with ``with`` or ``start()``.

    ``delay``: seconds added before each request is forwarded (a registry one round trip away).
    ``page_size``: paginate ``GET .../tags/list`` as registries that do (``n=``, ``last=``, ``Link``),
    ``page_size`` tags a page unless the client asks for ``n`` (at most ``max_page``); None passes the
    registry's own answer through (distribution 2.8 sends the whole list).
    """

    def __init__(self, upstream: str = "127.0.0.1:5000", delay: float = 0.0, page_size: int | None = None,
                 max_page: int = 1000):
        self._server = _Server(upstream, delay, page_size, max_page)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> CountingProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, name="counting-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def take(self) -> list[Record]:
        """The records so far, and start counting afresh."""
        with self._server.lock:
            out, self._server.records = self._server.records, []
        return out

    def counters(self) -> dict:
        """Client connections accepted and TLS hellos refused since the last call, then start afresh."""
        with self._server.lock:
            out = {"connections": self._server.connections, "tls_hellos": self._server.tls_hellos}
            self._server.connections = self._server.tls_hellos = 0
        return out

    def __enter__(self) -> CountingProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _round_trip_ms(host: str, method: str, reuse: bool, n: int) -> float:
    """Median wall time of ``n`` requests for ``/v2/`` (GET: a small body; HEAD: none)."""
    h, _, port = host.rpartition(":")
    conn = http.client.HTTPConnection(h, int(port), timeout=30)
    times = []
    try:
        for _ in range(n):
            if not reuse:
                conn.close()
                conn = http.client.HTTPConnection(h, int(port), timeout=30)
            t = time.perf_counter()
            conn.request(method, "/v2/")
            conn.getresponse().read()
            times.append(time.perf_counter() - t)
    finally:
        conn.close()
    return statistics.median(times) * 1000


def overhead(upstream: str, delay: float = 0.0, n: int = 60, rounds: int = 5) -> dict[str, dict[str, float]]:
    """What the proxy adds to one request, per kind: a GET with a body and a HEAD, each on a reused
    (kept-alive, as the docker SDK, requests and dockerd keep them) and on a fresh connection, measured
    against the registry directly, interleaved. With ``delay``, the added time should be the delay plus
    the same small constant for every kind: a proxy that treats one kind of request (or one client's way
    of using connections) differently would make the comparison unfair to that side."""
    out: dict[str, dict[str, float]] = {}
    with CountingProxy(upstream, delay=delay) as proxy:
        for method in ("GET", "HEAD"):
            for reuse in (True, False):
                direct, through = [], []
                for _ in range(rounds):  # interleaved, so both see the same moment of a shared machine
                    direct.append(_round_trip_ms(upstream, method, reuse, n // rounds or 1))
                    through.append(_round_trip_ms(proxy.host, method, reuse, n // rounds or 1))
                d, p = statistics.median(direct), statistics.median(through)
                out[f"{method} {'reused' if reuse else 'fresh'} connection"] = {
                    "direct_ms": d, "proxy_ms": p, "added_ms": p - d - delay * 1000}
    return out
