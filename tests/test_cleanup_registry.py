"""Cleanup against the real registry (distribution, started by scripts/services.sh) with images built by
the real dockerd: same-version replacement without a gap, retention, dry run, and a registry that refuses
deletion (a second ``docker-registry serve`` with deletion disabled)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from image_release.adapters.deleters import OciDeleter, deleter_for
from image_release.adapters.http_retry import RetryPolicy
from image_release.adapters.registry import RegistryClient
from image_release.core.image_ref import parse_image
from image_release.core.retention import plan_replacement, plan_retention
from image_release.errors import DeleteRefused
from tests.fixtures.cleanup_runs import apply_retention, replace_old_digest
from tests.fixtures.pull_loop import PullLoop
from tests.fixtures.services import skopeo_digest, skopeo_tags

DOCKER = "/usr/bin/docker"
pytestmark = pytest.mark.services


def _docker(*args: str) -> str:
    env = dict(os.environ, DOCKER_BUILDKIT="1")
    proc = subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@pytest.fixture(scope="module")
def images(services, tmp_path_factory) -> list[str]:
    """Four tiny, distinct FROM scratch images in the local engine (one file each, different content)."""
    out = []
    run = uuid.uuid4().hex[:8]
    for i in range(4):
        ctx: Path = tmp_path_factory.mktemp(f"img{i}")
        (ctx / "Dockerfile").write_text("FROM scratch\nCOPY content /content\n")
        (ctx / "content").write_text(f"image {i} of cleanup test run {run}\n")
        name = f"image-release-cleanup-test:{run}-{i}"
        _docker("build", "--network", "host", "-q", "-t", name, str(ctx))
        out.append(name)
    yield out
    for name in out:
        subprocess.run([DOCKER, "rmi", "-f", name], capture_output=True)


def push(local: str, ref: str) -> None:
    """``docker push`` of a local image to ``ref`` (the local tag is removed again)."""
    _docker("tag", local, ref)
    try:
        _docker("push", "-q", ref) if _supports_quiet_push() else _docker("push", ref)
    finally:
        subprocess.run([DOCKER, "rmi", ref], capture_output=True)


_QUIET: list[bool] = []


def _supports_quiet_push() -> bool:
    if not _QUIET:
        help_text = subprocess.run([DOCKER, "push", "--help"], capture_output=True, text=True).stdout
        _QUIET.append("--quiet" in help_text)
    return _QUIET[0]


def client_for(image: str) -> tuple[RegistryClient, str]:
    name = parse_image(image)
    return RegistryClient(name.registry, retry=RetryPolicy(attempts=2, base_delay=0, jitter=False)), name.repository


def publish(image: str, local: str, tags: list[str]) -> str:
    """Push ``local`` as ``image:tags[0]`` and add the other tags by manifest PUT (what a release does).
    Returns the digest."""
    client, repo = client_for(image)
    push(local, f"{image}:{tags[0]}")
    manifest = client.get_manifest(repo, tags[0])
    for tag in tags[1:]:
        client.put_manifest(repo, tag, manifest)
    return manifest.digest


# ------------------------------------------------------------------------------ same-version replacement


def test_rerelease_moves_the_version_to_the_new_digest_and_deletes_the_old_one_without_a_gap(
    registry_repo, images
):
    client, repo = client_for(registry_repo)
    old = publish(registry_repo, images[0], ["1.2.3", "1.2", "1", "latest"])
    other = publish(registry_repo, images[1], ["1.1.0", "1.1"])
    watched = ["1.2.3", "1.2", "1", "latest", "1.1.0", "1.1"]

    loop = PullLoop(registry_repo, watched)
    loop.start()
    assert loop.started_one.wait(60)

    # the re-release of 1.2.3 with changed content: publish first (version tag, then this release's floats) ...
    before = client.head_manifest(repo, "1.2.3").digest
    new = publish(registry_repo, images[2], ["1.2.3", "1.2", "1", "latest"])
    # ... then read the registry and delete the old image only if nothing points at it any more
    deleter = OciDeleter(client, repo)
    plan = plan_replacement("1.2.3", before, new, deleter.tags_by_digest())
    report = replace_old_digest(deleter, plan, dry_run=False)
    loop.finish()

    assert before == old and new != old
    assert plan.delete_digest == old
    assert loop.misses == []
    assert loop.rounds >= 3  # it ran before, during and after the re-release
    assert report.ok and report.deleted[0].detail == "manifest deleted"
    assert skopeo_digest(f"{registry_repo}:1.2.3") == new
    for tag in ("1.2", "1", "latest"):
        assert skopeo_digest(f"{registry_repo}:{tag}") == new
    for tag in ("1.1.0", "1.1"):  # another version's floating tags are intact
        assert skopeo_digest(f"{registry_repo}:{tag}") == other
    assert client.head_manifest(repo, old) is None  # the old manifest is gone
    assert skopeo_tags(registry_repo) == ["1", "1.1", "1.1.0", "1.2", "1.2.3", "latest"]


def test_the_pull_loop_does_see_the_gap_of_the_naive_order(registry_repo, images):
    """Control: deleting the old manifest before pushing (the process document's order) is caught."""
    client, repo = client_for(registry_repo)
    old = publish(registry_repo, images[0], ["5.0.0", "5.0", "5"])
    loop = PullLoop(registry_repo, ["5.0.0", "5.0", "5"])
    loop.start()
    assert loop.started_one.wait(60)
    client.delete_manifest(repo, old)
    publish(registry_repo, images[1], ["5.0.0", "5.0", "5"])
    loop.finish()
    assert {tag for _, tag, _ in loop.misses} == {"5.0.0", "5.0", "5"}


def test_rerelease_keeps_the_old_image_while_another_tag_still_points_at_it(registry_repo, images):
    client, repo = client_for(registry_repo)
    old = publish(registry_repo, images[0], ["2.0.0", "stable"])  # "stable" was set by hand
    new = publish(registry_repo, images[1], ["2.0.0"])
    deleter = OciDeleter(client, repo)
    plan = plan_replacement("2.0.0", old, new, deleter.tags_by_digest())
    report = replace_old_digest(deleter, plan, dry_run=False)

    assert plan.delete_digest is None and plan.still_tagged == ("stable",)
    assert report.deleted == [] and "still tagged stable" in report.notes[0]
    assert skopeo_digest(f"{registry_repo}:stable") == old
    assert skopeo_digest(f"{registry_repo}:2.0.0") == new


def test_replacement_dry_run_deletes_nothing(registry_repo, images):
    client, repo = client_for(registry_repo)
    old = publish(registry_repo, images[0], ["3.0.0"])
    new = publish(registry_repo, images[1], ["3.0.0"])
    deleter = OciDeleter(client, repo)
    plan = plan_replacement("3.0.0", old, new, deleter.tags_by_digest())
    report = replace_old_digest(deleter, plan, dry_run=True)
    assert report.dry_run and "would delete manifest" in "\n".join(report.lines())
    assert client.head_manifest(repo, old) is not None


# ------------------------------------------------------------------------------------------- retention


def retention_repo(image: str, images: list[str]) -> dict[str, str]:
    return {
        "a": publish(image, images[0], ["1.0.0"]),
        "b": publish(image, images[1], ["1.1.0", "1.1"]),
        "c": publish(image, images[2], ["1.2.0", "1.2", "1", "latest"]),
        "d": publish(image, images[3], ["2.0.0-rc.1", "main"]),
    }


def test_retention_deletes_exactly_the_expected_tags(registry_repo, images):
    digests = retention_repo(registry_repo, images)
    deleter = deleter_for(registry_repo, {})
    assert isinstance(deleter, OciDeleter)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    report = apply_retention(deleter, plan, dry_run=False)

    assert set(plan.deleted_tags) == {"1.0.0", "1.1.0", "2.0.0-rc.1"}
    assert skopeo_tags(registry_repo) == ["1", "1.1", "1.2", "1.2.0", "latest", "main"]
    client, repo = client_for(registry_repo)
    assert client.head_manifest(repo, digests["a"]) is None  # nothing else pointed at it
    assert skopeo_digest(f"{registry_repo}:1.1") == digests["b"]  # 1.1.0 went alone, 1.1 untouched
    assert skopeo_digest(f"{registry_repo}:main") == digests["d"]  # a branch tag keeps its image
    assert skopeo_digest(f"{registry_repo}:latest") == digests["c"]
    assert report.ok and len(report.deleted) == 3
    assert "throwaway" in next(i.detail for i in report.deleted if i.what.startswith("tag 1.1.0"))


def test_retention_dry_run_deletes_nothing(registry_repo, images):
    retention_repo(registry_repo, images)
    before = skopeo_tags(registry_repo)
    deleter = deleter_for(registry_repo, {})
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    report = apply_retention(deleter, plan, dry_run=True)
    assert skopeo_tags(registry_repo) == before
    text = "\n".join(report.lines())
    assert "dry run, nothing deleted" in text
    assert "would delete tag 1.1.0" in text and "would delete manifest" in text
    assert "keep latest" in text
    assert len(report.deleted) == 3


# ------------------------------------------------------------------ a registry that refuses deletion


@pytest.fixture(scope="module")
def no_delete_registry(services, tmp_path_factory):
    """A second distribution registry on another loopback port, with deletion disabled."""
    root = tmp_path_factory.mktemp("nodelete")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n  delete:\n    enabled: false\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = open(root / "registry.log", "wb")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    try:
        client = RegistryClient(host, retry=RetryPolicy(attempts=1))
        for _ in range(200):
            try:
                client.ping()
                break
            except Exception:  # noqa: BLE001 - not up yet
                if proc.poll() is not None:
                    raise RuntimeError((root / "registry.log").read_text())
                time.sleep(0.05)
        else:
            raise RuntimeError("the second registry did not come up: " + (root / "registry.log").read_text())
        yield host
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_registry_refusing_deletion_gives_a_warning_naming_what_was_left(no_delete_registry, images):
    image = f"{no_delete_registry}/t/{uuid.uuid4().hex[:12]}"
    retention_repo(image, images)
    before = skopeo_tags(image)
    deleter = deleter_for(image, {})
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    report = apply_retention(deleter, plan, dry_run=False)

    assert skopeo_tags(image) == before
    assert report.deleted == [] and not report.ok
    left = [i.what for i in report.left_behind]
    assert len(left) == 3 and any(w.startswith("tag 1.1.0") for w in left)
    text = "\n".join(report.lines())
    assert "WARNING: left behind manifest" in text and "refuses" in text
    assert "storage.delete.enabled" in text  # says why and how to allow it


def test_registry_refusing_deletion_fails_with_fail_on_refused(no_delete_registry, images):
    image = f"{no_delete_registry}/t/{uuid.uuid4().hex[:12]}"
    retention_repo(image, images)
    before = skopeo_tags(image)
    deleter = deleter_for(image, {})
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    with pytest.raises(DeleteRefused) as exc:
        apply_retention(deleter, plan, dry_run=False, fail_on_refused=True)
    assert "left images behind" in exc.value.message and "1.0.0" in exc.value.message
    assert exc.value.hint and "fail_on_refused" in exc.value.hint
    assert skopeo_tags(image) == before


def test_replacement_on_a_registry_refusing_deletion_warns(no_delete_registry, images):
    image = f"{no_delete_registry}/t/{uuid.uuid4().hex[:12]}"
    old = publish(image, images[0], ["4.0.0"])
    new = publish(image, images[1], ["4.0.0"])
    deleter = deleter_for(image, {})
    plan = plan_replacement("4.0.0", old, new, deleter.tags_by_digest())
    report = replace_old_digest(deleter, plan, dry_run=False)
    assert plan.delete_digest == old
    assert report.left_behind and "previous 4.0.0" in report.left_behind[0].what
    assert skopeo_digest(f"{image}:4.0.0") == new
    with pytest.raises(DeleteRefused):
        replace_old_digest(deleter, plan, dry_run=False, fail_on_refused=True)


def test_replacement_and_retention_as_the_steps_run_them(registry_repo, images):
    """What the publish step (same-version replacement) and `invoke clean` do, each read from the registry."""
    client, repo = client_for(registry_repo)
    old = publish(registry_repo, images[0], ["1.0.0", "1.0", "1", "latest"])
    publish(registry_repo, images[1], ["0.9.0", "0.9", "0"])
    publish(registry_repo, images[2], ["0.8.0"])
    deleter = deleter_for(registry_repo, {})

    nothing = replace_old_digest(deleter, plan_replacement("1.0.0", old, old, {}), dry_run=False)
    assert nothing.deleted == [] and "did not change" in nothing.notes[0]

    new = publish(registry_repo, images[3], ["1.0.0", "1.0", "1", "latest"])
    report = replace_old_digest(deleter, plan_replacement("1.0.0", old, new, deleter.tags_by_digest()), dry_run=False)
    assert report.ok and client.head_manifest(repo, old) is None

    dry = apply_retention(deleter, plan_retention(deleter.tags_by_digest(), 1), dry_run=True)
    listed = "\n".join(dry.lines())
    assert len(dry.deleted) == 2 and "would delete tag 0.9.0" in listed and "(tags 0.8.0)" in listed
    assert "0.8.0" in skopeo_tags(registry_repo)
    apply_retention(deleter, plan_retention(deleter.tags_by_digest(), 1), dry_run=False)
    assert skopeo_tags(registry_repo) == ["0", "0.9", "1", "1.0", "1.0.0", "latest"]
