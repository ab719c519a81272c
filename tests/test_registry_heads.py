"""The digests of many tags at once (adapters/registry_heads.py, issue 17): one HEAD per tag, concurrent and
bounded, through a lean keep-alive path, and through the client's own path (challenges, retries, errors,
proxies) wherever the answer is not a plain one. Against the real registry and scripted loopback ones."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from image_release.adapters import registry_heads
from image_release.adapters.http_retry import RetryPolicy
from image_release.adapters.registry import OCI_MANIFEST, Manifest, RegistryClient, make_throwaway
from image_release.adapters.registry_auth import Credentials
from image_release.errors import AuthError, RegistryError
from tests.fakes.scripted_registry import ScriptedRegistry
from tests.fixtures.registry_extra import PASSWORD, USER

FAST = RetryPolicy(attempts=3, base_delay=0.0, jitter=False)
RAW = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "n": 1}'
MANIFEST = Manifest.from_bytes(RAW, OCI_MANIFEST)
OTHER = "sha256:" + "b" * 64


def head(digest=MANIFEST.digest, media=OCI_MANIFEST):
    headers = {"Content-Type": media, "Content-Length": str(len(RAW))}
    if digest:
        headers["Docker-Content-Digest"] = digest
    return 200, headers, b""


@pytest.fixture
def fake():
    with ScriptedRegistry() as server:
        yield server


def listing(fake, tags):
    fake.on("GET", r"/v2/a/b/tags/list", (200, {}, {"tags": list(tags)}))


@pytest.mark.services
def test_every_tag_once_with_the_digest_it_points_at(services, pushed_image):
    reg = RegistryClient(pushed_image.host, retry=FAST)
    manifest = reg.get_manifest(pushed_image.repo, pushed_image.tag)
    tags = [f"t{i}" for i in range(40)]
    for tag in tags:
        reg.put_manifest(pushed_image.repo, tag, manifest)
    other = make_throwaway(manifest)  # the same blobs, another digest
    reg.put_manifest(pushed_image.repo, "odd", other)
    reg.stats.reset()
    got = reg.tags_by_digest(pushed_image.repo)
    assert got == {manifest.digest: sorted(tags + [pushed_image.tag]), other.digest: ["odd"]}
    assert reg.stats.by_kind == {"GET tags": 1, "HEAD manifests": 42}, "one HEAD per tag, nothing else"
    reg.stats.reset()
    assert reg.tags_by_digest(pushed_image.repo, ["t3", "odd", "gone"]) == {manifest.digest: ["t3"],
                                                                           other.digest: ["odd"]}
    assert reg.stats.by_kind == {"HEAD manifests": 3}, "only the tags asked for, no tag list"


@pytest.mark.services
def test_bearer_auth_one_token_and_no_challenge_per_head(token_registry, pushed_image):
    repo = f"t/{uuid.uuid4().hex[:12]}"
    token_registry.copy_in(pushed_image.ref, f"{repo}:1.0.0", USER, PASSWORD)
    reg = RegistryClient(token_registry.host, Credentials(USER, PASSWORD), retry=FAST)
    manifest = reg.get_manifest(repo, "1.0.0")
    for i in range(20):
        reg.put_manifest(repo, f"t{i}", manifest)
    reg.stats.reset()
    got = reg.tags_by_digest(repo)
    assert got == {manifest.digest: sorted(["1.0.0"] + [f"t{i}" for i in range(20)])}
    assert reg.stats.by_kind["HEAD manifests"] == 21, "the token of the tag list's scope serves every HEAD"
    assert reg.stats.by_kind.get("GET token", 0) <= 1


def test_unusual_answers_go_through_the_clients_own_path(fake):
    listing(fake, ["ok", "flaky", "gone", "nodigest", "othertype"])
    tries = {"flaky": 0}

    def flaky(req):
        tries["flaky"] += 1
        return (503, {}, b"") if tries["flaky"] < 3 else head(OTHER)

    fake.on("HEAD", r"/manifests/ok$", head())
    fake.on("HEAD", r"/manifests/flaky$", flaky)
    fake.on("HEAD", r"/manifests/gone$", (404, {}, b""))
    fake.on("HEAD", r"/manifests/nodigest$", head(digest=None))
    fake.on("HEAD", r"/manifests/othertype$", head(media="application/json"))
    fake.on("GET", r"/manifests/(nodigest|othertype)$", (200, {"Content-Type": OCI_MANIFEST}, RAW))
    reg = RegistryClient(fake.address, retry=FAST)
    assert reg.tags_by_digest("a/b") == {MANIFEST.digest: ["nodigest", "ok", "othertype"], OTHER: ["flaky"]}
    assert tries["flaky"] == 3, "the lean HEAD, then the client's path with its retry"
    assert fake.count("GET", r"/manifests/") == 2, "the manifests without a usable HEAD answer are read"


def test_an_error_is_the_clients_typed_error(fake):
    listing(fake, [f"t{i}" for i in range(30)])
    fake.on("HEAD", r"/manifests/t17$", (403, {}, b""))
    fake.on("HEAD", r"/manifests/", head())
    reg = RegistryClient(fake.address, retry=FAST)
    with pytest.raises(AuthError):
        reg.tags_by_digest("a/b")
    broken = ScriptedRegistry()
    with broken:
        listing(broken, ["x"])
        broken.on("HEAD", r"/manifests/x$", (500, {}, b""))
        with pytest.raises(RegistryError) as exc:
            RegistryClient(broken.address, retry=FAST).tags_by_digest("a/b")
        assert exc.value.status == 500
        assert broken.count("HEAD") == 1 + FAST.attempts, "the lean HEAD, then the policy's attempts"


def test_heads_are_concurrent_and_bounded(fake):
    tags = [f"t{i}" for i in range(40)]
    listing(fake, tags)
    lock, now, peak = threading.Lock(), [0], [0]

    def slow(req):
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        time.sleep(0.02)
        with lock:
            now[0] -= 1
        return head()

    fake.on("HEAD", r"/manifests/", slow)
    reg = RegistryClient(fake.address, retry=FAST)
    assert reg.tags_by_digest("a/b") == {MANIFEST.digest: sorted(tags)}
    assert 1 < peak[0] <= registry_heads.WORKERS
    assert reg.stats.by_kind == {"GET tags": 1, "HEAD manifests": 40} and fake.count("HEAD") == 40
    agents = {h.get("User-Agent", "") for m, _p, h in fake.seen}
    assert len(agents) == 1 and agents.pop().startswith("python-requests"), "one client, one name"


def test_a_closed_keep_alive_connection_is_opened_again(fake):
    tags = [f"t{i}" for i in range(6)]
    listing(fake, tags)
    fake.on("HEAD", r"/manifests/", lambda req: (200, {**head()[1], "Connection": "close"}, b""))
    reg = RegistryClient(fake.address, retry=FAST)
    assert registry_heads.digests_of(reg, "a/b", tags, workers=1) == dict.fromkeys(tags, MANIFEST.digest)
    assert fake.count("HEAD") == 6


def test_a_proxy_from_the_environment_is_honoured(fake, monkeypatch):
    with ScriptedRegistry() as proxy:
        proxy.on("HEAD", r"/manifests/", head(OTHER))
        monkeypatch.setenv("HTTP_PROXY", f"http://{proxy.address}")
        monkeypatch.setenv("http_proxy", f"http://{proxy.address}")
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        fake.on("HEAD", r"/manifests/", head())
        reg = RegistryClient(fake.address, retry=FAST)
        assert registry_heads.digests_of(reg, "a/b", ["x", "y"]) == {"x": OTHER, "y": OTHER}
        assert proxy.count("HEAD") == 2 and fake.count("HEAD") == 0
