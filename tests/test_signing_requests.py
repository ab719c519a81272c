"""What signing costs the registry, counted by the run's own client (``RequestStats``), on images the docker CLI
pushed to the real registry: the sign step's handlers in-process, with a real key, syft and the registry.

Signing adds at most one manifest PUT per signature or attestation object plus its blobs, and a re-run writes
nothing. A multi-platform index is signed with each of its platform manifests, and deleting the index takes
their signatures with it."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from image_release.adapters import keys
from image_release.adapters import signatures as sigs
from image_release.adapters.deleters import OciDeleter
from image_release.adapters.registry import OCI_INDEX, Manifest
from image_release.core.provenance import BuildFacts
from image_release.core.retention import plan_retention
from image_release.core.signing import split_attached
from image_release.core.signing_plan import SigningInputs, signing_actions
from image_release.pipeline.run import Run, RunRequest
from image_release.pipeline.runner import apply
from image_release.pipeline.steps.cleaning import retain
from tests.fixtures.registry_extra import build_and_push, remove_local
from tests.fixtures.services import skopeo_tags

pytestmark = pytest.mark.services

PASSWORD = "requests-Key-pw"
FACTS = BuildFacts("https://github.com/acme/app", "c" * 40, "refs/tags/v1.0.0", build_args=("GREETING",))


@pytest.fixture(scope="module")
def pair():
    return keys.generate_key_pair(PASSWORD)


def signing_run(pair, image: str) -> Run:
    settings = {"images": [image], "sign": {"key_env": "COSIGN_KEY", "password_env": "COSIGN_PASSWORD"},
                "sbom": True, "provenance": True}
    env = {"COSIGN_KEY": pair.private_pem.decode(), "COSIGN_PASSWORD": PASSWORD}
    return Run(settings, RunRequest(steps=("sign",)), env=env, out=io.StringIO(), err=io.StringIO())


def sign(run: Run, image: str, tag: str, digest: str, sbom: str | None = "cyclonedx", facts=FACTS):
    """What the sign step applies for ``image:tag`` published as ``digest``; the client's counts of it."""
    _name, client = run.registry_for(image)
    client.stats.reset()
    apply(run, signing_actions([image], tag, SigningInputs(sbom=sbom, provenance=facts), {image: digest}))
    return dict(client.stats.by_kind)


def test_signing_adds_one_manifest_put_per_object_plus_its_blobs_and_a_rerun_writes_nothing(pair, pushed_image):
    image = f"{pushed_image.host}/{pushed_image.repo}"
    run = signing_run(pair, image)
    first = sign(run, image, pushed_image.tag, pushed_image.digest)
    # the .att object (SBOM + provenance: config and two envelopes) and the .sig object (config and payload)
    assert first.get("PUT manifests") == 2
    assert first.get("PUT blobs") == first.get("POST blobs") == 3 + 2
    assert first.get("GET manifests") == 3  # the image (an index?), the absent .att and .sig
    assert sum(first.values()) == 15, first
    # a re-run (a CI re-run even: another run URL in the provenance) keeps what the digest has
    rerun = replace(FACTS, run_url="https://ci.example.com/acme/app/runs/2")
    again = sign(signing_run(pair, image), image, pushed_image.tag, pushed_image.digest, facts=rerun)
    assert "PUT manifests" not in again and "PUT blobs" not in again and "POST blobs" not in again, again
    assert again == {"GET manifests": 3, "GET blobs": 5}, again
    print(f"\nsigning requests, first run: {sum(first.values())} {first}; re-run: {sum(again.values())} {again}")
    tags = skopeo_tags(image)
    assert sorted(t for t in tags if t.startswith("sha256-")) == sorted(
        pushed_image.digest.replace(":", "-") + s for s in (".att", ".sig"))
    result = sigs.verify_reference(run.registry_for(image)[1], pushed_image.repo, pushed_image.tag,
                                   keys.load_verifier(pair.public_pem))
    assert result.ok, result.lines()


def test_a_signature_alone_is_one_manifest_put_and_two_blobs(pair, pushed_image):
    image = f"{pushed_image.host}/{pushed_image.repo}"
    counts = sign(signing_run(pair, image), image, pushed_image.tag, pushed_image.digest, sbom=None, facts=None)
    assert counts == {"GET manifests": 2, "POST blobs": 2, "PUT blobs": 2, "PUT manifests": 1}, counts


@pytest.fixture
def index(services, registry_repo):
    """A two-platform OCI index under ``2.0.0`` (its platform images pushed by the docker CLI), and ``3.0.0``."""
    host, repo = registry_repo.split("/", 1)
    children = [build_and_push(registry_repo, f"p{i}") for i in range(2)]
    newer = build_and_push(registry_repo, "3.0.0")
    yield registry_repo, host, repo, children, newer
    for ref in ("p0", "p1", "3.0.0"):
        remove_local(f"{registry_repo}:{ref}")


def test_an_index_is_signed_with_its_platform_manifests_and_they_go_with_it(pair, index):
    image, host, repo, children, newer = index
    run = signing_run(pair, image)
    _name, client = run.registry_for(image)
    entries = []
    for digest, arch in zip(children, ("amd64", "arm64")):
        m = client.get_manifest(repo, digest)
        entries.append({"mediaType": m.media_type, "digest": digest, "size": m.size,
                        "platform": {"architecture": arch, "os": "linux"}})
    idx = Manifest.from_bytes(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode(),
                              OCI_INDEX)
    client.put_manifest(repo, "2.0.0", idx)
    for tag in ("p0", "p1"):  # the platform images keep no tag of their own, as a buildx push leaves them
        client.delete_tag(repo, tag)
    sign(run, image, "2.0.0", idx.digest, sbom=None, facts=None)
    sign(run, image, "3.0.0", newer, sbom=None, facts=None)
    signed = {t for t in skopeo_tags(image) if t.endswith(".sig")}
    assert signed == {d.replace(":", "-") + ".sig" for d in (idx.digest, *children, newer)}
    verifier = keys.load_verifier(pair.public_pem)
    for digest in children:
        assert sigs.verify_reference(client, repo, digest, verifier).ok
    deleter = OciDeleter(client, repo)
    tags = deleter.tags_by_digest()
    report = retain(run, deleter, plan_retention(split_attached(tags)[0], keep=1, keep_prereleases=0), tags)
    assert report.ok, report.lines()
    left = skopeo_tags(image)
    assert sorted(left) == sorted(["3.0.0", newer.replace(":", "-") + ".sig"])
