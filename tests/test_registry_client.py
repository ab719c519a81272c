"""RegistryClient, second round (issues 14 and 17): the PUT answer as the read-back, trusting only the registry
written to, concurrent use, blob mounts and uploads, bounded tag lists and reads, non-finite timeouts, and no
credential in any message. Against the real registry (127.0.0.1:5000, with skopeo as the independent reader)
and scripted loopback registries (tests/fakes/scripted_registry.py)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import tarfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from image_release.adapters.http_retry import RetryPolicy
from image_release.adapters.registry import (
    BLOB_EXISTS,
    BLOB_MOUNTED,
    BLOB_UPLOADED,
    OCI_MANIFEST,
    VIA_ANSWER,
    VIA_NONE,
    VIA_READ_BACK,
    Manifest,
    RegistryClient,
    sha256_digest,
)
from image_release.adapters.registry_auth import Credentials
from image_release.errors import ConfigError, RegistryError, ReleaseError
from tests.fakes.scripted_registry import ScriptedRegistry, Stream
from tests.fixtures.registry_extra import PASSWORD, USER
from tests.fixtures.services import skopeo_digest, skopeo_tags

FAST = RetryPolicy(attempts=2, base_delay=0.0, jitter=False)
RAW = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
MANIFEST = Manifest.from_bytes(RAW, OCI_MANIFEST)


def client(host: str, **kw) -> RegistryClient:
    kw.setdefault("retry", FAST)
    return RegistryClient(host, **kw)


@pytest.fixture
def fake():
    with ScriptedRegistry() as server:
        yield server


def put_answer(status=201, digest=MANIFEST.digest, location="same"):
    def answer(req):
        headers = {}
        if digest:
            headers["Docker-Content-Digest"] = digest
        if location == "same":
            headers["Location"] = f"http://{req.server.address}/v2/a/b/manifests/{digest}"
        elif location:
            headers["Location"] = location
        return status, headers, b""
    return answer


def head_answer(digest=MANIFEST.digest):
    return 200, {"Docker-Content-Digest": digest, "Content-Type": OCI_MANIFEST, "Content-Length": str(len(RAW))}, b""


# -- the PUT's own answer is the read-back ---------------------------------------------------------------------


@pytest.mark.services
def test_a_floating_tag_costs_exactly_one_put_when_the_answer_verifies(pushed_image):
    reg = client(pushed_image.host)
    manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
    reg.stats.reset()
    results = [reg.put_manifest(pushed_image.repo, tag, manifest, read_back=True) for tag in ("1.0", "1", "latest")]
    assert all(r.verified and r.via == VIA_ANSWER and r.seen == pushed_image.digest for r in results)
    assert reg.stats.by_kind == {"PUT manifests": 3}
    image = f"{pushed_image.host}/{pushed_image.repo}"
    assert {skopeo_digest(f"{image}:{t}") for t in ("1.0", "1", "latest")} == {pushed_image.digest}


def test_an_answer_that_proves_the_write_needs_no_head(fake):
    fake.on("PUT", r"/manifests/", put_answer())
    result = client(fake.address).put_manifest("a/b", "1", MANIFEST, read_back=True)
    assert (result.verified, result.via, result.seen, result.reason) == (True, VIA_ANSWER, MANIFEST.digest, "")
    assert fake.count("HEAD") == 0 and fake.count("PUT") == 1


@pytest.mark.parametrize("answer, reason", [
    (put_answer(digest=None), "no Docker-Content-Digest"),
    (put_answer(location=None), "no Location"),
    (put_answer(status=200), "not 201"),
    (put_answer(location="http://127.0.0.9:1/v2/a/b/manifests/x"), "another host (127.0.0.9:1)"),
])
def test_an_answer_that_does_not_prove_it_costs_one_head(fake, answer, reason):
    fake.on("PUT", r"/manifests/", answer)
    fake.on("HEAD", r"/manifests/1$", lambda req: head_answer())
    reg = client(fake.address)
    unverified = reg.put_manifest("a/b", "1", MANIFEST)
    assert not unverified.verified and unverified.via == VIA_NONE and reason in unverified.reason
    assert fake.count("HEAD") == 0
    checked = reg.put_manifest("a/b", "1", MANIFEST, read_back=True)
    assert checked.verified and checked.via == VIA_READ_BACK and checked.seen == MANIFEST.digest
    assert fake.count("HEAD") == 1


def test_read_back_that_finds_another_digest_is_not_verified(fake):
    other = "sha256:" + "e" * 64
    fake.on("PUT", r"/manifests/", put_answer(digest=None))
    fake.on("HEAD", r"/manifests/latest$", lambda req: head_answer(other))
    result = client(fake.address).put_manifest("a/b", "latest", MANIFEST, read_back=True)
    assert not result.verified and result.seen == other  # e.g. a concurrent release moved it: the caller's call


def test_an_answer_naming_another_digest_is_an_error(fake):
    fake.on("PUT", r"/manifests/", put_answer(digest="sha256:" + "f" * 64))
    with pytest.raises(RegistryError, match="not as the manifest's digest"):
        client(fake.address).put_manifest("a/b", "1", MANIFEST)


# -- only the registry written to is trusted (issue 14) --------------------------------------------------------


@pytest.fixture
def acknowledger():
    """Another host that answers every manifest PUT with a perfect 201 and stores nothing."""
    with ScriptedRegistry() as other:
        other.on("PUT", r"/manifests/", put_answer())
        yield other


@pytest.mark.services
def test_a_put_redirected_to_another_host_that_answers_201_does_not_count(pushed_image, acknowledger):
    with ScriptedRegistry(upstream=pushed_image.host) as front:
        front.on("PUT", r"/manifests/", lambda req: (
            307, {"Location": f"http://{acknowledger.address}{req.path}"}, b""))
        reg = client(front.address)
        manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
        with pytest.raises(RegistryError) as info:
            reg.put_manifest(pushed_image.repo, "latest", manifest)
    assert "redirected the PUT to another host" in info.value.message and "serves nothing" in info.value.message
    assert acknowledger.count("PUT") == 0, "the redirect was not followed"
    assert front.count("HEAD", r"/manifests/latest$") == 1, "verified on the registry written to"
    assert skopeo_tags(f"{pushed_image.host}/{pushed_image.repo}") == ["1.0.0"]


@pytest.mark.services
def test_a_redirected_put_counts_when_the_registry_itself_serves_the_digest(pushed_image, acknowledger):
    with ScriptedRegistry(upstream=pushed_image.host) as front:
        front.on("PUT", r"/manifests/", lambda req: (307, {"Location": f"http://{acknowledger.address}/x"}, b""))
        reg = client(front.address)
        manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
        result = reg.put_manifest(pushed_image.repo, pushed_image.tag, manifest)  # the tag is already there
    assert result.verified and result.via == VIA_READ_BACK and "another host" in result.reason
    assert acknowledger.count("PUT") == 0


@pytest.mark.services
def test_same_host_redirects_are_followed(pushed_image):
    with ScriptedRegistry(upstream=pushed_image.host) as front:
        front.on("PUT", r"^/moved/", lambda req: (307, {"Location": req.path.replace("/moved", "", 1)}, b""))
        front.on("PUT", r"/manifests/latest$", lambda req: (307, {"Location": "/moved" + req.path}, b""))
        reg = client(front.address)
        manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
        with pytest.raises(RegistryError, match="more than 5 times"):
            reg.put_manifest(pushed_image.repo, "latest", manifest)  # a redirect loop on the same host
    with ScriptedRegistry(upstream=pushed_image.host) as front:
        front.on("PUT", r"/manifests/latest$", lambda req: (
            307, {"Location": f"http://{req.server.address}{req.path}?redirected=1"}, b""))
        reg = client(front.address)
        result = reg.put_manifest(pushed_image.repo, "latest", manifest)
    assert result.verified and result.via == VIA_ANSWER
    assert front.count("PUT", r"latest\?redirected=1$") == 1
    assert skopeo_digest(f"{pushed_image.host}/{pushed_image.repo}:latest") == pushed_image.digest


def test_reads_are_not_redirected_to_another_host(fake, acknowledger):
    fake.on("HEAD", r"/manifests/1$", lambda req: (307, {"Location": f"http://{acknowledger.address}{req.path}"}, b""))
    with pytest.raises(RegistryError, match="another host"):
        client(fake.address).head_manifest("a/b", "1")
    assert acknowledger.count("HEAD") == 0


# -- concurrency ---------------------------------------------------------------------------------------------


@pytest.mark.services
def test_concurrent_puts_share_one_token_and_count_exactly(token_registry, pushed_image):
    repo = f"t/{uuid.uuid4().hex[:12]}"
    token_registry.copy_in(pushed_image.ref, f"{repo}:1.0.0", USER, PASSWORD)
    token_registry.token_server.reset()
    reg = RegistryClient(token_registry.host, Credentials(USER, PASSWORD), retry=FAST)
    manifest = reg.get_manifest(repo, "1.0.0")
    reg.stats.reset()
    tags = [f"t{i}" for i in range(24)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda t: reg.put_manifest(repo, t, manifest), tags))
    assert all(r.verified for r in results)
    assert reg.stats.by_kind == {"GET token": 1, "PUT manifests": 24}, "one token for the push scope, no 401s"
    assert reg.stats.requests == 25
    assert sorted(token_registry.skopeo_tags(repo)) == sorted(tags + ["1.0.0"])


def test_stats_count_concurrent_requests_exactly(fake, caplog):
    """Every attempt is counted once, from 16 threads at once. On a loaded machine a connection can break
    off and the attempt is retried (the retry policy logs it): the stats count that attempt too."""
    fake.on("HEAD", r"/manifests/", lambda req: head_answer())
    reg = client(fake.address)
    with caplog.at_level("WARNING", logger="image_release.retry"):
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda i: reg.head_manifest("a/b", f"t{i % 7}"), range(200)))
    retried = sum(1 for r in caplog.records if r.getMessage().startswith("retry HEAD"))
    assert reg.stats.requests == 200 + retried
    assert 200 <= fake.count("HEAD") <= 200 + retried
    assert reg.stats.by_kind == {"HEAD manifests": 200 + retried}


# -- blobs: mounts and uploads (an image pushed by digest without the engine) ---------------------------------


def tiny_image(text: str) -> tuple[bytes, bytes, Manifest]:
    """(config, layer, manifest) of a one-file OCI image."""
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        data = text.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = gzip.compress(tar_bytes.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers",
                                    "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes.getvalue()).hexdigest()]}
                         }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256_digest(layer),
                    "size": len(layer)}],
    }).encode()
    return config, layer, Manifest.from_bytes(manifest, OCI_MANIFEST)


@pytest.mark.services
def test_push_an_image_by_digest_with_uploads_then_mount_it_elsewhere(services, tmp_path):
    reg = client(services.registry)
    config, layer, manifest = tiny_image(uuid.uuid4().hex)
    first, second = f"t/{uuid.uuid4().hex[:12]}", f"t/{uuid.uuid4().hex[:12]}"
    layer_file = tmp_path / "layer.tar.gz"
    layer_file.write_bytes(layer)

    assert reg.blob_exists(first, sha256_digest(layer)) is None
    assert reg.upload_blob(first, config) == sha256_digest(config)
    assert reg.push_blob(first, sha256_digest(layer), layer_file) == BLOB_UPLOADED  # streamed from the file
    assert reg.blob_exists(first, sha256_digest(layer)) == len(layer)
    assert reg.put_manifest(first, manifest.digest, manifest).verified  # by digest
    assert reg.put_manifest(first, "1.0.0", manifest).verified
    assert skopeo_digest(f"{services.registry}/{first}:1.0.0") == manifest.digest

    reg.stats.reset()
    for blob in (config, layer):
        assert reg.push_blob(second, sha256_digest(blob), mount_from=[first]) == BLOB_MOUNTED
    assert reg.stats.by_kind == {"POST blobs": 2}, "a mount is one request, nothing uploaded"
    assert reg.stats.bytes_sent == 0
    assert reg.put_manifest(second, "1.0.0", manifest).verified
    assert skopeo_digest(f"{services.registry}/{second}:1.0.0") == manifest.digest
    assert reg.push_blob(second, sha256_digest(layer)) == BLOB_EXISTS


@pytest.mark.services
def test_a_mount_from_a_repository_without_the_blob_falls_back(services):
    reg = client(services.registry)
    _config, layer, _manifest = tiny_image(uuid.uuid4().hex)
    repo, empty = f"t/{uuid.uuid4().hex[:12]}", f"t/{uuid.uuid4().hex[:12]}"
    digest = sha256_digest(layer)
    assert reg.mount_blob(repo, digest, empty) is False
    with pytest.raises(RegistryError, match="could not be mounted"):
        reg.push_blob(repo, digest, mount_from=[empty])
    reg.stats.reset()
    assert reg.push_blob(repo, digest, layer, mount_from=[empty]) == BLOB_UPLOADED
    # the upload goes into the session the refused mount opened: POST, HEAD, PUT
    assert reg.stats.by_kind == {"POST blobs": 1, "HEAD blobs": 1, "PUT blobs": 1}
    assert reg.blob_exists(repo, digest) == len(layer)


@pytest.mark.services
def test_an_upload_whose_content_does_not_match_its_digest_is_refused(services):
    reg = client(services.registry)
    with pytest.raises(RegistryError) as info:
        reg.upload_blob(f"t/{uuid.uuid4().hex[:12]}", b"some bytes", "sha256:" + "0" * 64)
    assert info.value.status == 400 and "DIGEST_INVALID" in info.value.message


def test_an_upload_sent_to_another_host_is_refused(fake, acknowledger):
    fake.on("POST", r"/blobs/uploads/", lambda req: (202, {"Location": f"http://{acknowledger.address}/up/1"}, b""))
    with pytest.raises(RegistryError, match="another host"):
        client(fake.address).upload_blob("a/b", b"layer")
    assert acknowledger.seen == []


def test_a_forgotten_upload_is_started_again_once(fake):
    uploads = iter(["/up/1", "/up/2"])
    fake.on("POST", r"/blobs/uploads/$", lambda req: (202, {"Location": next(uploads)}, b""))
    fake.on("PUT", r"^/up/1\?", (404, {}, {"errors": [{"code": "BLOB_UPLOAD_UNKNOWN", "message": "gone"}]}))
    fake.on("PUT", r"^/up/2\?digest=sha256%3A", lambda req: (
        201, {"Docker-Content-Digest": sha256_digest(req.body)}, b""))
    assert client(fake.address).upload_blob("a/b", b"layer") == sha256_digest(b"layer")
    assert fake.count("POST") == 2 and fake.count("PUT") == 2


# -- tag lists: paginated and bounded --------------------------------------------------------------------------


def endless_pages(req):
    page = int(req.path.rsplit("page=", 1)[1]) if "page=" in req.path else 0
    return 200, {"Link": f'</v2/a/b/tags/list?page={page + 1}>; rel="next"'}, {"tags": [f"t{page}"]}


def test_a_registry_that_never_stops_paging_is_a_clear_error(fake):
    fake.on("GET", r"/tags/list", endless_pages)
    reg = client(fake.address)
    reg.tag_pages_max = 25
    with pytest.raises(RegistryError) as info:
        reg.list_tags("a/b")
    assert "did not end within 25 pages" in info.value.message and "rel=next" in info.value.hint
    assert fake.count("GET") == 25


def test_tag_list_time_is_bounded(fake):
    def slow(req):
        time.sleep(0.05)
        return endless_pages(req)

    fake.on("GET", r"/tags/list", slow)
    reg = client(fake.address)
    reg.tag_seconds_max = 0.3
    started = time.monotonic()
    with pytest.raises(RegistryError, match=r"did not end within 0.3 s|took too long"):
        reg.list_tags("a/b")
    assert time.monotonic() - started < 8  # 1000 pages would take 50 s


def test_tag_list_bytes_are_bounded(fake):
    big = {"tags": [f"tag-{i:06d}" for i in range(40_000)]}  # about 600 KB a page
    fake.on("GET", r"/tags/list", lambda req: (200, {"Link": f'</v2/a/b/tags/list?p={uuid.uuid4().hex}>; '
                                                          'rel="next"'}, big))
    reg = client(fake.address)
    reg.tag_bytes_max = 2 << 20
    with pytest.raises(RegistryError, match="KiB|MiB"):
        reg.list_tags("a/b")
    assert fake.count("GET") <= 4


def test_the_first_page_asks_for_large_pages_and_follows_links(fake):
    fake.on("GET", r"/tags/list\?n=1000$", (200, {"Link": '</v2/a/b/tags/list?n=1000&last=b>; rel="next"'},
                                            {"tags": ["a", "b"]}))
    fake.on("GET", r"/tags/list\?n=1000&last=b$", (200, {}, {"tags": ["c"]}))
    assert client(fake.address).list_tags("a/b") == ["a", "b", "c"]


def test_a_registry_that_refuses_the_page_size_is_read_with_its_own(fake):
    fake.on("GET", r"/tags/list\?n=", (400, {}, {"errors": [{"code": "PAGINATION_NUMBER_INVALID"}]}))
    fake.on("GET", r"/tags/list$", (200, {}, {"tags": ["1.0.0"]}))
    assert client(fake.address).list_tags("a/b") == ["1.0.0"]


@pytest.mark.parametrize("body", [
    {"tags": ["1.0.0", 7]}, {"tags": [None]}, {"tags": [["1.0.0"]]}, {"tags": "1.0.0"}, {"tags": {"a": 1}},
    ["1.0.0"], "tags", 12,
])
def test_malformed_tag_lists_are_clear_errors(fake, body):
    fake.on("GET", r"/tags/list", (200, {}, body))
    with pytest.raises(RegistryError, match="malformed tag list"):
        client(fake.address).list_tags("a/b")


def test_an_unreadable_tag_list_is_a_clear_error(fake):
    fake.on("GET", r"/tags/list", (200, {}, b"{not json"))
    with pytest.raises(RegistryError, match="unreadable tag list"):
        client(fake.address).list_tags("a/b")


# -- bounded reads -------------------------------------------------------------------------------------------


def test_a_manifest_over_4_mib_is_refused_unread(fake):
    huge = b"{" + b" " * (5 << 20) + b"}"
    fake.on("GET", r"/manifests/declared$", (200, {"Content-Type": OCI_MANIFEST}, huge))
    fake.on("GET", r"/manifests/chunked$", (200, {"Content-Type": OCI_MANIFEST},
                                            Stream(b" " * 65536 for _ in range(200))))
    reg = client(fake.address)
    for tag in ("declared", "chunked"):
        with pytest.raises(RegistryError, match="more than 4096 KiB"):
            reg.get_manifest("a/b", tag)


def test_a_manifest_just_under_the_bound_is_read(fake):
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "annotations": {"x": "y" * ((4 << 20) - 200)}})
    fake.on("GET", r"/manifests/1$", (200, {"Content-Type": OCI_MANIFEST}, raw.encode()))
    assert client(fake.address).get_manifest("a/b", "1").size == len(raw)


def test_a_huge_token_answer_is_refused(fake):
    with ScriptedRegistry() as auth:
        auth.on("GET", r"/token", (200, {}, Stream(b"x" * 65536 for _ in range(40))))
        fake.on("HEAD", r"/manifests/", (401, {"WWW-Authenticate": f'Bearer realm="http://{auth.address}/token"'},
                                         b""))
        with pytest.raises(RegistryError, match="KiB"):
            client(fake.address).head_manifest("a/b", "1")


def test_a_stalling_answer_is_bounded_in_time(fake):
    def drip():
        for _ in range(400):
            time.sleep(0.05)
            yield b" "

    fake.on("GET", r"/manifests/1$", (200, {"Content-Type": OCI_MANIFEST}, Stream(drip())))
    reg = client(fake.address, timeout=1)
    reg.read_seconds = 0.3
    started = time.monotonic()
    with pytest.raises(RegistryError, match="took too long"):
        reg.get_manifest("a/b", "1")
    assert time.monotonic() - started < 8  # the whole answer would take 20 s


# -- settings the client refuses -------------------------------------------------------------------------------


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -float("inf"), 0, -1, True, "30", None])
def test_a_non_finite_or_non_positive_timeout_is_a_config_error(timeout):
    with pytest.raises(ConfigError) as info:
        RegistryClient("127.0.0.1:5000", timeout=timeout)
    assert "registry.timeout" in info.value.hint


# -- no credential in any message, in any form (issue 14) -------------------------------------------------------

SECRET = "s3cr3t/Pass+word=="


def echo_forms(user: str = "alice") -> str:
    basic = base64.b64encode(f"{user}:{SECRET}".encode()).decode()
    return (f"raw {SECRET}; urlencoded {quote(SECRET, safe='')}; authorization Basic {basic}; "
            f"b64 {base64.b64encode(SECRET.encode()).decode()}")


def assert_clean(text: str) -> None:
    basic = base64.b64encode(f"alice:{SECRET}".encode()).decode()
    for form in (SECRET, quote(SECRET, safe=""), basic, base64.b64encode(SECRET.encode()).decode()):
        assert form not in text, (form, text)


def test_an_echoed_password_never_reaches_a_message(fake):
    fake.on("GET", r"/v2/a/b/manifests/1", lambda req: (
        401, {"WWW-Authenticate": 'Basic realm="r"'}, b"") if "Authorization" not in req.headers else (
        403, {}, {"errors": [{"code": "DENIED", "message": echo_forms()}]}))
    fake.on("PUT", r"/manifests/", (400, {}, {"errors": [{"code": "MANIFEST_INVALID", "message": echo_forms()}]}))
    fake.on("DELETE", r"/manifests/", (405, {}, {"errors": [{"code": "UNSUPPORTED", "message": echo_forms()}]}))
    reg = client(fake.address, credentials=Credentials("alice", SECRET))
    texts = []
    for call in (lambda: reg.get_manifest("a/b", "1"), lambda: reg.put_manifest("a/b", "1", MANIFEST),
                 lambda: reg.delete_manifest("a/b", MANIFEST.digest)):
        with pytest.raises(ReleaseError) as info:
            call()
        texts.append(f"{info.value.message} {info.value.hint}")
    assert all("***" in t for t in texts)
    for text in texts:
        assert_clean(text)


def test_an_echoed_password_at_the_token_endpoint_never_reaches_a_message(fake):
    with ScriptedRegistry() as auth:
        auth.on("GET", r"/token", (500, {}, {"errors": [{"code": "UNKNOWN", "message": echo_forms()}]}))
        fake.on("HEAD", r"/manifests/", (401, {"WWW-Authenticate": f'Bearer realm="http://{auth.address}/token"'},
                                         b""))
        with pytest.raises(RegistryError) as info:
            client(fake.address, credentials=Credentials("alice", SECRET)).head_manifest("a/b", "1")
    assert "token endpoint" in info.value.message
    assert_clean(info.value.message)


def test_the_password_never_goes_to_another_host(fake, acknowledger):
    fake.on("PUT", r"/manifests/", lambda req: (
        401, {"WWW-Authenticate": 'Basic realm="r"'}, b"") if "Authorization" not in req.headers else (
        307, {"Location": f"http://{acknowledger.address}{req.path}"}, b""))
    fake.on("HEAD", r"/manifests/", (404, {}, b""))
    reg = client(fake.address, credentials=Credentials("alice", SECRET))
    with pytest.raises(RegistryError):
        reg.put_manifest("a/b", "1", MANIFEST)
    assert acknowledger.seen == []


def test_an_echoed_bearer_token_never_reaches_a_message(fake):
    bearer = "bearer-token-" + uuid.uuid4().hex
    with ScriptedRegistry() as auth:
        auth.on("GET", r"/token", (200, {}, {"token": bearer, "expires_in": 300}))
        challenge = {"WWW-Authenticate": f'Bearer realm="http://{auth.address}/token"'}
        fake.on("HEAD", r"/manifests/", lambda req: (401, challenge, b"") if "Authorization" not in req.headers
                else (200, {"Docker-Content-Digest": MANIFEST.digest, "Content-Type": OCI_MANIFEST}, b""))
        fake.on("PUT", r"/manifests/", lambda req: (401, challenge, b"") if "Authorization" not in req.headers
                else (400, {}, {"errors": [{"code": "MANIFEST_INVALID", "message": f"bad {req.headers['Authorization']}"
                                            f" {base64.b64encode(bearer.encode()).decode()}"}]}))
        reg = client(fake.address, credentials=Credentials("alice", SECRET))
        reg.head_manifest("a/b", "1")
        with pytest.raises(RegistryError) as info:
            reg.put_manifest("a/b", "1", MANIFEST)
    assert "MANIFEST_INVALID" in info.value.message and "***" in info.value.message
    assert bearer not in info.value.message and base64.b64encode(bearer.encode()).decode() not in info.value.message
