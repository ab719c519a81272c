"""RegistryClient against the real registry (distribution 2.8, scripts/services.sh), with skopeo as the
independent client, plus a few protocol details against a loopback fake (pagination, Accept list)."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from image_release.adapters.http_retry import RetryPolicy
from image_release.adapters.registry import (
    DOCKER_MANIFEST_V2,
    MANIFEST_MEDIA_TYPES,
    OCI_MANIFEST,
    THROWAWAY_ANNOTATION,
    Manifest,
    RegistryClient,
    make_throwaway,
    parse_www_authenticate,
)
from image_release.errors import ConfigError, DeleteRefused, RegistryError, RegistryUnreachable
from tests.fixtures.registry_extra import build_and_push, free_port, remove_local
from tests.fixtures.services import skopeo_digest, skopeo_tags


FAST = RetryPolicy(attempts=3, base_delay=0.0, jitter=False)


def client(host: str, **kw) -> RegistryClient:
    kw.setdefault("retry", FAST)
    return RegistryClient(host, **kw)


# -- real registry ------------------------------------------------------------------------------------------


@pytest.mark.services
def test_head_and_get_match_what_was_pushed(pushed_image):
    reg = client(pushed_image.host)
    assert reg.ping() == "none"
    info = reg.head_manifest(pushed_image.repo, pushed_image.tag)
    assert info is not None
    assert info.digest == pushed_image.digest == skopeo_digest(pushed_image.ref)
    assert info.media_type == DOCKER_MANIFEST_V2
    manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
    assert manifest.digest == pushed_image.digest
    assert manifest.size == info.size
    assert manifest.json()["config"]["digest"].startswith("sha256:")
    by_digest = reg.get_manifest(pushed_image.repo, pushed_image.digest)
    assert by_digest.raw == manifest.raw
    assert reg.head_manifest(pushed_image.repo, pushed_image.digest).digest == pushed_image.digest


@pytest.mark.services
def test_head_missing_is_none_and_get_missing_is_404(pushed_image):
    reg = client(pushed_image.host)
    assert reg.head_manifest(pushed_image.repo, "9.9.9") is None
    assert reg.head_manifest("t/never-pushed-here", "1") is None
    with pytest.raises(RegistryError) as info:
        reg.get_manifest(pushed_image.repo, "9.9.9")
    assert info.value.status == 404 and "not found" in info.value.message and info.value.hint


@pytest.mark.services
def test_put_under_new_tags_moves_no_blob(pushed_image):
    reg = client(pushed_image.host)
    manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
    reg.stats.reset()
    for tag in ("1.0", "1", "latest"):
        assert reg.put_manifest(pushed_image.repo, tag, manifest).digest == pushed_image.digest
    assert reg.stats.by_kind == {"PUT manifests": 3}
    assert reg.stats.of("blobs") == 0
    assert reg.stats.bytes_sent == 3 * manifest.size
    image = f"{pushed_image.host}/{pushed_image.repo}"
    for tag in ("1.0", "1", "latest"):
        assert skopeo_digest(f"{image}:{tag}") == pushed_image.digest
    assert skopeo_tags(image) == ["1", "1.0", "1.0.0", "latest"]
    assert reg.get_manifest(pushed_image.repo, "latest").raw == manifest.raw  # byte for byte


@pytest.mark.services
def test_put_refuses_a_manifest_whose_blobs_are_elsewhere(pushed_image):
    reg = client(pushed_image.host)
    manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
    other_repo = f"t/{uuid.uuid4().hex[:12]}"
    with pytest.raises(RegistryError) as info:
        reg.put_manifest(other_repo, "1.0.0", manifest)
    assert info.value.status == 400
    assert "BLOB_UNKNOWN" in info.value.message and "push the image there first" in info.value.hint


@pytest.mark.services
def test_list_tags_unknown_filled_and_emptied(pushed_image):
    reg = client(pushed_image.host)
    assert reg.list_tags("t/no-such-repo-at-all") == []
    manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
    reg.put_manifest(pushed_image.repo, "extra", manifest)
    assert sorted(reg.list_tags(pushed_image.repo)) == ["1.0.0", "extra"]
    assert reg.delete_manifest(pushed_image.repo, pushed_image.digest) is True
    # distribution answers {"tags": null} for an emptied repository
    assert reg.list_tags(pushed_image.repo) == []
    assert skopeo_tags(f"{pushed_image.host}/{pushed_image.repo}") == []


@pytest.mark.services
def test_delete_manifest_removes_every_tag_on_it(pushed_image):
    reg = client(pushed_image.host)
    manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
    reg.put_manifest(pushed_image.repo, "latest", manifest)
    image = f"{pushed_image.host}/{pushed_image.repo}"
    keep_digest = build_and_push(image, "2.0.0")
    try:
        assert reg.delete_manifest(pushed_image.repo, pushed_image.digest) is True
        assert skopeo_tags(image) == ["2.0.0"]
        assert skopeo_digest(f"{image}:2.0.0") == keep_digest
        assert reg.delete_manifest(pushed_image.repo, pushed_image.digest) is False  # already gone
    finally:
        remove_local(f"{image}:2.0.0")


@pytest.mark.services
def test_delete_tag_leaves_siblings(pushed_image):
    reg = client(pushed_image.host)
    manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
    for tag in ("1.0", "1", "latest"):
        reg.put_manifest(pushed_image.repo, tag, manifest)
    image = f"{pushed_image.host}/{pushed_image.repo}"

    assert reg.delete_tag(pushed_image.repo, "1.0") == "throwaway"  # distribution 2.8 refuses the tag DELETE

    assert skopeo_tags(image) == ["1", "1.0.0", "latest"]
    for tag in ("1", "1.0.0", "latest"):
        assert skopeo_digest(f"{image}:{tag}") == pushed_image.digest
    # nothing of the throwaway is left behind under a tag
    assert reg.tags_by_digest(pushed_image.repo) == {pushed_image.digest: ["1", "1.0.0", "latest"]}
    assert reg.delete_tag(pushed_image.repo, "1.0") == "absent"


@pytest.mark.services
def test_delete_tag_siblings_ok_deletes_the_manifest(pushed_image):
    reg = client(pushed_image.host)
    manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
    reg.put_manifest(pushed_image.repo, "latest", manifest)
    assert reg.delete_tag(pushed_image.repo, "latest", siblings_ok=True) == "manifest"
    assert skopeo_tags(f"{pushed_image.host}/{pushed_image.repo}") == []


@pytest.mark.services
def test_tags_by_digest_groups_tags(pushed_image):
    reg = client(pushed_image.host)
    image = f"{pushed_image.host}/{pushed_image.repo}"
    other = build_and_push(image, "2.0.0")
    try:
        manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
        reg.put_manifest(pushed_image.repo, "1", manifest)
        reg.put_manifest(pushed_image.repo, "latest", reg.get_manifest(pushed_image.repo, "2.0.0"))
        assert reg.tags_by_digest(pushed_image.repo) == {
            pushed_image.digest: ["1", "1.0.0"],
            other: ["2.0.0", "latest"],
        }
        assert reg.tags_by_digest("t/nothing-here") == {}
    finally:
        remove_local(f"{image}:2.0.0")


@pytest.mark.services
def test_registry_with_delete_disabled_refuses(pushed_image, nodelete_registry):
    nodelete_registry.copy_in(pushed_image.ref, "t/nd:1.0.0")
    reg = client(nodelete_registry.host)
    manifest = reg.get_manifest("t/nd", "1.0.0")
    reg.put_manifest("t/nd", "latest", manifest)

    with pytest.raises(DeleteRefused) as info:
        reg.delete_manifest("t/nd", manifest.digest)
    assert info.value.status == 405 and "UNSUPPORTED" in info.value.message
    assert "storage.delete.enabled" in info.value.hint

    with pytest.raises(DeleteRefused) as info:
        reg.delete_tag("t/nd", "latest")
    assert "left as it was" in info.value.message
    image = f"{nodelete_registry.host}/t/nd"
    assert skopeo_tags(image) == ["1.0.0", "latest"]
    assert skopeo_digest(f"{image}:latest") == manifest.digest  # the tag was put back


@pytest.mark.services
def test_unreachable_registry_after_bounded_retries():
    port = free_port()  # closed: nothing listens there
    sleeps: list[float] = []
    lines: list[str] = []
    reg = RegistryClient(f"127.0.0.1:{port}", retry=RetryPolicy(attempts=3, base_delay=0.25, jitter=False),
                         log=lines.append, sleep=sleeps.append)
    with pytest.raises(RegistryUnreachable) as info:
        reg.head_manifest("t/app", "1.0.0")
    err = info.value
    assert f"127.0.0.1:{port}" in err.message and "connection refused" in err.message
    assert "is the registry running" in err.hint
    assert reg.stats.requests == 3
    assert sleeps == [0.25, 0.5]
    assert len(lines) == 2 and "attempt 2/3" in lines[0]


# -- protocol details against a loopback fake ---------------------------------------------------------------


class Fake:
    def __init__(self):
        self.seen: list[tuple[str, str, dict]] = []
        self.routes: dict[tuple[str, str], tuple[int, dict, bytes]] = {}


@pytest.fixture
def fake():
    state = Fake()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self):
            state.seen.append((self.command, self.path, dict(self.headers)))
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            status, headers, body = state.routes.get((self.command, self.path), (404, {}, b""))
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = do_PUT = do_DELETE = _answer

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    state.host = f"127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_list_tags_follows_link_pagination(fake):
    fake.routes[("GET", "/v2/a/b/tags/list?n=1000")] = (
        200, {"Link": '</v2/a/b/tags/list?last=2&n=2>; rel="next"'}, json.dumps({"tags": ["1", "2"]}).encode())
    fake.routes[("GET", "/v2/a/b/tags/list?last=2&n=2")] = (
        200, {"Link": f'<http://{fake.host}/v2/a/b/tags/list?last=4&n=2>; rel="next"'},
        json.dumps({"tags": ["3", "4"]}).encode())
    fake.routes[("GET", "/v2/a/b/tags/list?last=4&n=2")] = (200, {}, json.dumps({"tags": ["5"]}).encode())
    reg = client(fake.host)
    assert reg.list_tags("a/b") == ["1", "2", "3", "4", "5"]
    assert reg.stats.by_kind == {"GET tags": 3}


def test_list_tags_refuses_pagination_to_another_host(fake):
    fake.routes[("GET", "/v2/a/b/tags/list?n=1000")] = (
        200, {"Link": '<http://127.0.0.2:1/v2/a/b/tags/list?last=2>; rel="next"'}, b'{"tags": ["1"]}')
    with pytest.raises(RegistryError, match="another host"):
        client(fake.host).list_tags("a/b")


def test_null_tags_is_empty(fake):
    fake.routes[("GET", "/v2/a/b/tags/list?n=1000")] = (200, {}, b'{"name": "a/b", "tags": null}')
    assert client(fake.host).list_tags("a/b") == []


def test_head_sends_the_full_accept_list(fake):
    raw = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
    digest = Manifest.from_bytes(raw, OCI_MANIFEST).digest
    fake.routes[("HEAD", "/v2/a/b/manifests/1")] = (
        200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest}, raw)
    info = client(fake.host).head_manifest("a/b", "1")
    assert info.digest == digest and info.media_type == OCI_MANIFEST and info.size == len(raw)
    accept = fake.seen[0][2]["Accept"]
    assert [a.strip() for a in accept.split(",")] == list(MANIFEST_MEDIA_TYPES)


def test_get_detects_a_digest_mismatch(fake):
    raw = b'{"schemaVersion": 2}'
    fake.routes[("GET", "/v2/a/b/manifests/1")] = (
        200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": "sha256:" + "0" * 64}, raw)
    with pytest.raises(RegistryError, match="does not match its digest"):
        client(fake.host).get_manifest("a/b", "1")


def test_server_errors_are_retried_then_reported(fake):
    fake.routes[("GET", "/v2/a/b/tags/list?n=1000")] = (
        503, {}, b'{"errors": [{"code": "UNAVAILABLE", "message": "try later"}]}')
    reg = client(fake.host, log=lambda line: None)
    with pytest.raises(RegistryError) as info:
        reg.list_tags("a/b")
    assert info.value.status == 503 and "UNAVAILABLE" in info.value.message
    assert reg.stats.requests == FAST.attempts


def test_delete_tag_uses_the_oci_tag_delete_where_the_registry_has_it(fake):
    raw = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
    digest = Manifest.from_bytes(raw, OCI_MANIFEST).digest
    fake.routes[("HEAD", "/v2/a/b/manifests/1.0")] = (
        200, {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": digest}, raw)
    fake.routes[("DELETE", "/v2/a/b/manifests/1.0")] = (202, {}, b"")
    reg = client(fake.host)
    assert reg.delete_tag("a/b", "1.0") == "tag-delete"
    assert [(m, p) for m, p, _ in fake.seen] == [("HEAD", "/v2/a/b/manifests/1.0"), ("DELETE", "/v2/a/b/manifests/1.0")]


def test_a_registry_that_never_answers_times_out_as_unreachable():
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        host = f"127.0.0.1:{listener.getsockname()[1]}"
        reg = RegistryClient(host, retry=RetryPolicy(attempts=2, base_delay=0.0, jitter=False), timeout=0.2,
                             log=lambda line: None)
        with pytest.raises(RegistryUnreachable) as info:
            reg.list_tags("a/b")
    assert "timed out" in info.value.message and reg.stats.requests == 2


def test_ping_on_something_that_is_not_a_registry(fake):
    with pytest.raises(RegistryError, match="not an OCI distribution registry"):
        client(fake.host).ping()


def test_tls_for_remote_hosts_plain_http_for_loopback():
    assert RegistryClient("ghcr.io").base == "https://ghcr.io"
    assert RegistryClient("docker.io").base == "https://registry-1.docker.io"
    assert RegistryClient("registry.example.com:5000").base == "https://registry.example.com:5000"
    assert RegistryClient("127.0.0.1:5000").base == "http://127.0.0.1:5000"
    assert RegistryClient("localhost:5000").base == "http://localhost:5000"
    assert RegistryClient("[::1]:5000").base == "http://[::1]:5000"
    assert RegistryClient("ghcr.io").session.verify is True


@pytest.mark.parametrize("host", ["", "http://ghcr.io", "ghcr.io/x", "::1"])
def test_bad_host_is_config_error(host):
    with pytest.raises(ConfigError):
        RegistryClient(host)


@pytest.mark.parametrize("repo, ref", [("A/b", "1"), ("a/b", "bad tag"), ("a/b", "sha256:xyz"), ("", "1")])
def test_bad_repo_or_ref_is_config_error_before_any_request(repo, ref):
    reg = RegistryClient(f"127.0.0.1:{free_port()}")
    with pytest.raises(ConfigError):
        reg.head_manifest(repo, ref)
    assert reg.stats.requests == 0


def test_parse_www_authenticate():
    scheme, params = parse_www_authenticate(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push",error="insufficient_scope"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.example.com/token", "service": "registry.example.com",
                      "scope": "repository:a/b:pull,push", "error": "insufficient_scope"}
    assert parse_www_authenticate('Basic realm="x"') == ("basic", {"realm": "x"})
    assert parse_www_authenticate(None) == ("", {})


def test_throwaway_keeps_blobs_and_media_type():
    raw = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST_V2,
                      "config": {"digest": "sha256:" + "1" * 64}, "layers": [{"digest": "sha256:" + "2" * 64}]})
    original = Manifest.from_bytes(raw.encode(), DOCKER_MANIFEST_V2)
    a, b = make_throwaway(original), make_throwaway(original)
    assert a.digest != b.digest != original.digest
    assert a.media_type == DOCKER_MANIFEST_V2
    doc = a.json()
    assert doc["config"] == original.json()["config"] and doc["layers"] == original.json()["layers"]
    assert THROWAWAY_ANNOTATION in doc["annotations"]


def test_closed_port_helper_is_really_closed():
    port = free_port()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
