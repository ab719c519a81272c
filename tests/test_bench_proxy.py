"""The benchmark's counting proxy (bench/proxy.py) forwards and counts faithfully, and paginates the tag
list as registries that paginate do. Nothing here is timed: the benchmark is not a test."""

from __future__ import annotations

import http.client
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from proxy import CountingProxy, summarize  # noqa: E402

TAGS = [f"1.{i // 10}.{i % 10}" for i in range(250)]


class _FakeRegistry(BaseHTTPRequestHandler):
    """Enough of a registry: /v2/, one repository's whole tag list (unsorted, no pagination, as
    distribution 2.8 answers), and a manifest HEAD/GET."""

    protocol_version = "HTTP/1.1"
    lists_served = 0

    def log_message(self, *args) -> None:
        pass

    def _answer(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/v2/":
            self._answer(200, b"{}")
        elif path == "/v2/team/app/tags/list":
            type(self).lists_served += 1
            self._answer(200, json.dumps({"name": "team/app", "tags": TAGS[::-1]}).encode())
        elif path.startswith("/v2/team/app/manifests/"):
            self._answer(200, b'{"schemaVersion": 2}', "application/vnd.oci.image.manifest.v1+json")
        else:
            self._answer(404, b'{"errors": [{"code": "NAME_UNKNOWN"}]}')

    do_HEAD = do_GET


@pytest.fixture
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeRegistry)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeRegistry.lists_served = 0
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _get(host: str, path: str, method: str = "GET"):
    h, _, port = host.rpartition(":")
    conn = http.client.HTTPConnection(h, int(port), timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def _walk(host: str, first: str) -> tuple[list[str], int]:
    """Follow Link rel=next from ``first``: (every tag, pages)."""
    url, tags, pages = first, [], 0
    while url:
        resp, body = _get(host, url)
        assert resp.status == 200
        tags += json.loads(body)["tags"]
        pages += 1
        link = resp.getheader("Link")
        url = re.match(r'<([^>]+)>; rel="next"', link).group(1) if link else None
    return tags, pages


def test_paginated_tag_list_gives_every_tag_once_in_pages(upstream):
    with CountingProxy(upstream, page_size=100, max_page=120) as proxy:
        tags, pages = _walk(proxy.host, "/v2/team/app/tags/list")
        assert tags == sorted(TAGS) and pages == 3
        tags, pages = _walk(proxy.host, "/v2/team/app/tags/list?n=1000")  # capped at max_page
        assert tags == sorted(TAGS) and pages == 3
        tags, pages = _walk(proxy.host, "/v2/team/app/tags/list?n=50")
        assert tags == sorted(TAGS) and pages == 5
        records = proxy.take()
    assert [r.kind for r in records] == ["tags"] * 11
    assert _FakeRegistry.lists_served == 3  # one read of the whole list per listing, not one per page


def test_unpaginated_proxy_passes_the_registry_answer_through(upstream):
    with CountingProxy(upstream) as proxy:
        resp, body = _get(proxy.host, "/v2/team/app/tags/list")
        assert resp.getheader("Link") is None
        assert json.loads(body)["tags"] == TAGS[::-1]


def test_requests_are_forwarded_and_counted_by_kind(upstream):
    with CountingProxy(upstream) as proxy:
        resp, body = _get(proxy.host, "/v2/")
        assert resp.status == 200 and body == b"{}"
        resp, body = _get(proxy.host, "/v2/team/app/manifests/1.0.0", "HEAD")
        assert resp.status == 200 and body == b"" and resp.getheader("Content-Length") == "20"
        resp, _ = _get(proxy.host, "/v2/team/other/manifests/1.0.0")
        assert resp.status == 404
        summary = summarize(proxy.take())
        counters = proxy.counters()
    assert summary["requests"] == 3
    assert summary["by_method_kind"] == {"GET manifest": 1, "GET ping": 1, "HEAD manifest": 1}
    assert counters == {"connections": 3, "tls_hellos": 0}


def test_the_proxy_answers_with_nagle_off():
    """With Nagle on, headers and body in two writes stall a reused connection by a delayed ACK."""
    from proxy import _Handler

    assert _Handler.disable_nagle_algorithm is True
