"""Our own push (adapters/layout_push.py, pipeline/apply_image.py): the built image as an OCI layout, pushed
with the tool's RegistryClient, on the real engine and registry.

- the layout: the same image gives the same blobs and digest every time (gzip with mtime 0), and errors in
  a layout are typed;
- the push: HEAD before upload, nothing uploaded twice, cross-repository mounts, bounded concurrency, an
  index's platform manifests by digest;
- through the CLI: the request counts of a release (issue 17: a 4-tag release within what `docker push
  --all-tags` costs, one request per extra tag), the tool's own credentials (a token registry, an empty
  Docker config), and two image repositories of one registry where the second mounts every blob.
"""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
from pathlib import Path

import pytest

from image_release.adapters.engine import Engine
from image_release.adapters.layout_push import push_content, put_by_digest, read_layout
from image_release.adapters.registry import BLOB_EXISTS, BLOB_MOUNTED, BLOB_UPLOADED, RegistryClient
from image_release.core.build_spec import BuildSpec
from image_release.errors import EngineError
from tests.fakes.fault_proxy import FaultProxy
from tests.fixtures.project import clean_env, write_project
from tests.fixtures.registry_extra import PASSWORD, USER
from tests.fixtures.services import skopeo_digest, skopeo_tags

pytestmark = pytest.mark.services

THREE_LAYERS = "FROM scratch\nCOPY a /a\nCOPY b /b\nCOPY c /c\n"


@pytest.fixture
def built(services, tmp_path):
    """(engine, image id): a fresh three-layer FROM scratch image in the engine's store."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(THREE_LAYERS)
    for name in "abc":
        (ctx / name).write_text(f"{name} {uuid.uuid4().hex}\n")
    ref = f"local/own-push-{uuid.uuid4().hex[:10]}:1"
    eng = Engine(docker_host=services.docker_host, out=io.StringIO(), progress="plain")
    result = eng.build(BuildSpec(context=str(ctx), tags=(ref,), buildkit="off"))
    yield eng, result.image_id
    eng.remove_image(ref, force=True)


def test_the_same_image_exports_to_the_same_layout_and_pushes_to_the_same_digest(built, tmp_path, services):
    eng, image_id = built
    first, _ = eng.export_oci(image_id, str(tmp_path / "one"))
    second, _ = eng.export_oci(image_id, str(tmp_path / "two"))
    assert first == second
    layout = read_layout(tmp_path / "one")
    assert layout.top.digest == first and layout.platform == "linux/amd64"
    client = RegistryClient(services.registry)
    repo = f"t/{uuid.uuid4().hex[:12]}"
    report = push_content(client, repo, layout)
    assert report.count(BLOB_UPLOADED) == 4 and len(report.blobs) == 4  # the config and three layers
    put_by_digest(client, repo, layout.top)
    assert skopeo_digest(f"{services.registry}/{repo}@{first}") == first
    client.stats.reset()
    again = push_content(client, repo, read_layout(tmp_path / "two"))
    assert again.count(BLOB_EXISTS) == 4, "nothing is uploaded twice"
    assert client.stats.by_kind == {"HEAD blobs": 4}, "HEAD before upload, one request per blob"


def test_a_second_repository_of_the_registry_mounts_every_blob(built, tmp_path, services):
    eng, image_id = built
    eng.export_oci(image_id, str(tmp_path / "layout"))
    layout = read_layout(tmp_path / "layout")
    client = RegistryClient(services.registry)
    first, second = f"t/{uuid.uuid4().hex[:12]}", f"t/{uuid.uuid4().hex[:12]}"
    push_content(client, first, layout)
    client.stats.reset()
    report = push_content(client, second, layout, mount_from=(first,))
    assert report.count(BLOB_MOUNTED) == 4
    assert client.stats.by_kind == {"POST blobs": 4}, "one mount request per blob, nothing uploaded"
    put_by_digest(client, second, layout.top)
    assert skopeo_digest(f"{services.registry}/{second}@{layout.top.digest}") == layout.top.digest


def test_blob_pushes_are_concurrent_within_the_bound(built, tmp_path, services):
    eng, image_id = built
    eng.export_oci(image_id, str(tmp_path / "layout"))
    lock, live, peak = threading.Lock(), [0], [0]

    class Counting(RegistryClient):
        def push_blob(self, *args, **kwargs):
            with lock:
                live[0] += 1
                peak[0] = max(peak[0], live[0])
            try:
                threading.Event().wait(0.2)  # long enough for the others to start
                return super().push_blob(*args, **kwargs)
            finally:
                with lock:
                    live[0] -= 1

    push_content(Counting(services.registry), f"t/{uuid.uuid4().hex[:12]}", read_layout(tmp_path / "layout"),
                 workers=2)
    assert peak[0] == 2


def _one_platform_layout(path: Path, arch: str) -> tuple[dict, bytes]:
    """A tiny hand-made one-platform image inside the layout at ``path`` (blobs only): its descriptor."""
    import hashlib

    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(raw: bytes) -> str:
        digest = hashlib.sha256(raw).hexdigest()
        (blobs / digest).write_bytes(raw)
        return "sha256:" + digest

    config = json.dumps({"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                         "config": {}}).encode()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config),
                                      "size": len(config)}, "layers": []}).encode()
    return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(manifest),
            "size": len(manifest), "platform": {"architecture": arch, "os": "linux"}}, manifest


def test_an_index_layout_pushes_its_platform_manifests_by_digest(tmp_path, services):
    import hashlib

    layout = tmp_path / "index"
    children = [_one_platform_layout(layout, arch)[0] for arch in ("amd64", "arm64")]
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": children}).encode()
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    (layout / "blobs" / "sha256" / digest[7:]).write_bytes(index)
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest, "size": len(index)}]}))
    client, repo = RegistryClient(services.registry), f"t/{uuid.uuid4().hex[:12]}"
    report = push_content(client, repo, read_layout(layout))
    assert report.top.is_index and report.manifests == tuple(c["digest"] for c in children)
    for child in children:
        assert skopeo_digest(f"{services.registry}/{repo}@{child['digest']}") == child["digest"]
    client.put_manifest(repo, "1.0.0", report.top)
    assert skopeo_digest(f"{services.registry}/{repo}:1.0.0") == digest


@pytest.mark.parametrize("damage, words", [
    ("no-index", "not a readable OCI image layout"),
    ("two-images", "exactly one is pushed"),
    ("altered", "holds other bytes"),
    ("missing-blob", "lacks the blob"),
], ids=lambda v: v if isinstance(v, str) and " " not in v else None)
def test_a_damaged_layout_is_a_typed_error(tmp_path, services, damage, words):
    layout = tmp_path / "layout"
    desc, manifest = _one_platform_layout(layout, "amd64")
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc]}))
    if damage == "no-index":
        (layout / "index.json").unlink()
    elif damage == "two-images":
        (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [desc, desc]}))
    elif damage == "altered":
        (layout / "blobs" / "sha256" / desc["digest"][7:]).write_bytes(manifest + b" ")
    else:
        config = json.loads(manifest)["config"]["digest"]
        (layout / "blobs" / "sha256" / config[7:]).unlink()
    with pytest.raises(EngineError) as err:
        push_content(RegistryClient(services.registry), f"t/{uuid.uuid4().hex[:12]}", read_layout(layout))
    assert words in err.value.message and err.value.hint


# -- through the CLI ---------------------------------------------------------------------------------------


def _requests(proxy: FaultProxy) -> list[str]:
    return [f"{s.method} {re.sub(r'/v2/t/[^/]+', '', s.path.split('?')[0])}" for s in proxy.log]


@pytest.mark.slow
def test_a_release_costs_one_request_per_extra_tag_and_four_tags_fit_docker_push_all_tags(tmp_path, services):
    """docker push --all-tags of a 3-layer image with 4 tags is about 25 requests (counted at a proxy,
    docs/benchmarks.md); ours must not cost more, and each extra tag one manifest PUT."""
    counts = {}
    one_tag = "  tags: ['type=semver,pattern={{version}}']\n  flavor: ['latest=false']\n"
    for n, rules in ((1, one_tag), (4, "")):
        with FaultProxy(services.registry) as proxy:
            image = f"{proxy.address}/t/{uuid.uuid4().hex[:12]}"
            proj = write_project(tmp_path / f"app-{n}", image, rules)
            (proj.path / "Dockerfile").write_text("FROM scratch\nCOPY payload.txt /p\nCOPY Dockerfile /D\n"
                                                  "COPY invoke.yaml /i\n")
            proj.git("commit", "-qam", "three layers")
            proj.invoke("release", "--tag", "v1.2.3")
            counts[n] = _requests(proxy)
    assert len(counts[4]) <= 25, counts[4]
    assert [r for r in counts[1] if r.startswith("PUT /manifests")] == ["PUT /manifests/1.2.3"]
    # 3 tag PUTs, and the settling of the other tags (one HEAD of the version tag, one tag list)
    assert len(counts[4]) - len(counts[1]) == 3 + 2, (counts[1], counts[4])
    assert sum(1 for r in counts[4] if r == "PUT /manifests/1.2") == 1
    assert not any(r.startswith("GET /manifests") for r in counts[4]), "the pushed manifest is not read back"
    assert sum(1 for r in counts[4] if r.startswith("PUT /blobs")) == 4, "each blob uploaded once"


@pytest.mark.slow
def test_a_release_pushes_with_the_tools_own_credentials_and_mounts_into_a_second_repository(
        tmp_path, token_registry):
    """Only the credentials named in the settings (no Docker config at all): the token registry sees them,
    and the second repository of the same registry gets every blob by a mount."""
    first, second = f"{token_registry.host}/t/{uuid.uuid4().hex[:10]}", f"{token_registry.host}/t/{uuid.uuid4().hex[:10]}"
    proj = write_project(tmp_path / "app", first, "  registry:\n    username_env: REG_USER\n"
                                                    "    password_env: REG_PASSWORD\n")
    yaml = proj.path / "invoke.yaml"
    yaml.write_text(yaml.read_text().replace(f"images: [{first}]", f"images: [{first}, {second}]"))
    proj.git("commit", "-qam", "two images")
    empty = tmp_path / "docker-config"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    out = proj.invoke("release", "--tag", "v1.0.0",
                      env=clean_env(REG_USER=USER, REG_PASSWORD=PASSWORD, DOCKER_CONFIG=str(empty)))
    assert re.search(rf"pushed {re.escape(second)}:1\.0\.0 \(\d blob\(s\): \d mounted\)", out.stdout), out.stdout
    for image in (first, second):
        repo = image.split("/", 1)[1]
        assert token_registry.skopeo_tags(repo) == ["1", "1.0", "1.0.0", "latest"]
    digest = token_registry.skopeo_digest(f"{first.split('/', 1)[1]}:1.0.0")
    assert token_registry.skopeo_digest(f"{second.split('/', 1)[1]}:latest") == digest
    assert PASSWORD not in out.stdout + out.stderr
    users = {r["user"] for r in token_registry.token_server.requests if r.get("authorized")}
    assert users == {USER}


def test_a_registry_that_refuses_the_push_leaves_no_tag_and_says_nothing_was_published(tmp_path, services):
    with FaultProxy(services.registry) as proxy:
        image = f"{proxy.address}/t/{uuid.uuid4().hex[:12]}"
        proj = write_project(tmp_path / "app", image, "  retry:\n    attempts: 2\n    base_delay: 0.01\n")
        proxy.status("PUT", r"/blobs/uploads/", 400, times=None)
        out = proj.invoke("release", "--tag", "v1.0.0", check=False)
    assert out.returncode == 1 and "was not published and no floating tag was touched" in out.stderr
    assert "hint:" in out.stderr and "re-run the same command" in out.stderr
    assert skopeo_tags(f"{services.registry}/{image.split('/', 1)[1]}") == []
