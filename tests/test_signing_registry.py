"""Signing, SBOM and provenance on the real registry, checked by other implementations.

A tiny FROM scratch image is pushed with the docker CLI; this code signs and attests it. The objects are then
read back with skopeo and plain HTTP (not this code's client), the signature checked with ``cryptography``
directly, the envelopes with ``securesystemslib``; ``verify_reference`` must succeed, and fail with the right
reason for another key, a moved tag, a removed attestation and an altered payload.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from image_release.adapters import keys
from image_release.adapters import signatures as sigs
from image_release.adapters import syft
from image_release.adapters.registry import Manifest, RegistryClient
from image_release.core import attestation as att
from image_release.core import provenance as prov
from image_release.core import signing
from tests.fixtures.registry_extra import build_and_push, remove_local
from tests.fixtures.services import skopeo_tags

pytestmark = pytest.mark.services

PASSWORD = "release-Key-Pa55"


@pytest.fixture(scope="module")
def key_pair():
    pair = keys.generate_key_pair(PASSWORD)
    return pair, keys.load_signer(pair.private_pem, PASSWORD)


@pytest.fixture
def client(pushed_image):
    with RegistryClient(pushed_image.host) as reg:
        yield reg


def _skopeo_raw(ref: str) -> bytes:
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                         capture_output=True, check=True)
    return out.stdout


def _blob(host: str, repo: str, digest: str) -> bytes:
    with urllib.request.urlopen(f"http://{host}/v2/{repo}/blobs/{digest}", timeout=30) as resp:
        return resp.read()


def _release(client, image, signer, sbom_format="cyclonedx"):
    """What the release step will do: SBOM and provenance attested, then the signature listing them."""
    kind = att.sbom_format(sbom_format)
    sbom = syft.generate_sbom(image.host, image.repo, image.digest, kind)
    facts = prov.BuildFacts("https://github.com/acme/app", "c" * 40, "refs/tags/v1.0.0",
                            build_args=prov.arg_names({"PYTHON_VERSION": "3.11"}))
    a1 = sigs.attest_image(client, image.repo, image.digest, signer, kind.predicate_type, json.loads(sbom),
                           same_content=False)
    a2 = sigs.attest_image(client, image.repo, image.digest, signer, att.SLSA_PROVENANCE_V1,
                           prov.provenance_predicate(facts))
    s = sigs.sign_image(client, image.repo, image.digest, signer,
                        attestations=[kind.predicate_type, att.SLSA_PROVENANCE_V1])
    return a1, a2, s


def test_signature_is_cosigns_format_and_verifies_with_cryptography(client, pushed_image, key_pair):
    pair, signer = key_pair
    result = sigs.sign_image(client, pushed_image.repo, pushed_image.digest, signer)
    assert result.written and result.tag == pushed_image.digest.replace(":", "-") + ".sig"
    assert pushed_image.digest.replace(":", "-") + ".sig" in skopeo_tags(f"{pushed_image.host}/{pushed_image.repo}")
    raw = _skopeo_raw(f"{pushed_image.host}/{pushed_image.repo}:{result.tag}")
    manifest = json.loads(raw)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    payload = _blob(pushed_image.host, pushed_image.repo, layer["digest"])
    doc = json.loads(payload)
    assert doc["critical"] == {"identity": {"docker-reference": f"{pushed_image.host}/{pushed_image.repo}"},
                               "image": {"docker-manifest-digest": pushed_image.digest},
                               "type": "cosign container image signature"}
    public = serialization.load_pem_public_key(pair.public_pem)
    public.verify(base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]), payload,
                  ec.ECDSA(hashes.SHA256()))
    config = json.loads(_blob(pushed_image.host, pushed_image.repo, manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [layer["digest"]]


def test_a_signed_release_with_sbom_and_provenance_verifies(client, pushed_image, key_pair):
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    pair, signer = key_pair
    _release(client, pushed_image, signer)
    att_tag = pushed_image.digest.replace(":", "-") + ".att"
    manifest = json.loads(_skopeo_raw(f"{pushed_image.host}/{pushed_image.repo}:{att_tag}"))
    assert [(l["mediaType"], l["annotations"]) for l in manifest["layers"]] == [
        ("application/vnd.dsse.envelope.v1+json", {"dev.cosignproject.cosign/signature": "", "predicateType": t})
        for t in (att.CYCLONEDX, att.SLSA_PROVENANCE_V1)]
    computed = SSlibKey.from_crypto(serialization.load_pem_public_key(pair.public_pem), scheme="ecdsa-sha2-nistp256")
    sslib_key = SSlibKey("", computed.keytype, computed.scheme, computed.keyval)
    for layer in manifest["layers"]:
        envelope = Envelope.from_dict(json.loads(_blob(pushed_image.host, pushed_image.repo, layer["digest"])))
        envelope.verify([sslib_key], 1)
        statement = json.loads(envelope.payload)
        assert statement["_type"] == "https://in-toto.io/Statement/v1"
        assert statement["subject"] == [{"name": f"{pushed_image.host}/{pushed_image.repo}",
                                         "digest": {"sha256": pushed_image.digest.split(":")[1]}}]
    sbom = json.loads(base64.b64decode(json.loads(_blob(pushed_image.host, pushed_image.repo,
                                                        manifest["layers"][0]["digest"]))["payload"]))["predicate"]
    assert sbom["bomFormat"] == "CycloneDX"
    result = sigs.verify_reference(client, pushed_image.repo, pushed_image.tag, keys.load_verifier(pair.public_pem))
    assert result.ok, result.lines()
    assert len(result.checks) == 3 and result.digest == pushed_image.digest


def test_a_re_run_writes_nothing_and_counts_one_manifest_put_per_object(client, pushed_image, key_pair):
    _pair, signer = key_pair
    client.stats.reset()
    first = _release(client, pushed_image, signer)
    assert all(r.written for r in first)
    assert client.stats.by_kind["PUT manifests"] == 3  # SBOM attestation, provenance attestation, signature
    assert client.stats.by_kind["PUT blobs"] == sum(r.blobs for r in first) == 6
    client.stats.reset()
    again = _release(client, pushed_image, signer)
    assert [r.written for r in again] == [False, False, False]
    assert [r.digest for r in again] == [first[1].digest, first[1].digest, first[2].digest]
    assert client.stats.by_kind["PUT manifests"] == 0 and client.stats.by_kind["PUT blobs"] == 0
    existing = sigs.load_object(client, pushed_image.repo, signing.attestation_tag(pushed_image.digest))
    assert att.find_attestation(existing.layers, pushed_image.digest, att.CYCLONEDX, signer.verifier())


def test_a_second_key_appends_and_both_verify(client, pushed_image, key_pair):
    pair, signer = key_pair
    second = keys.load_signer(keys.generate_key_pair("").private_pem, "")
    sigs.sign_image(client, pushed_image.repo, pushed_image.digest, signer)
    result = sigs.sign_image(client, pushed_image.repo, pushed_image.digest, second)
    manifest = json.loads(_skopeo_raw(f"{pushed_image.host}/{pushed_image.repo}:{result.tag}"))
    assert len(manifest["layers"]) == 2
    for verifier in (keys.load_verifier(pair.public_pem), second.verifier()):
        assert sigs.verify_reference(client, pushed_image.repo, pushed_image.tag, verifier).ok


def test_verify_fails_for_another_key(client, pushed_image, key_pair):
    _pair, signer = key_pair
    _release(client, pushed_image, signer)
    stranger = keys.load_verifier(keys.generate_key_pair("").public_pem)
    result = sigs.verify_reference(client, pushed_image.repo, pushed_image.tag, stranger)
    assert not result.ok and len(result.failures) == 3
    assert "signed by another key than the one given" in result.failures[0].detail


def test_verify_fails_when_the_tag_moved_to_another_image(client, pushed_image, key_pair):
    _pair, signer = key_pair
    _release(client, pushed_image, signer)
    image = f"{pushed_image.host}/{pushed_image.repo}"
    other = build_and_push(image, "other")
    try:
        moved = client.get_manifest(pushed_image.repo, other)
        client.put_manifest(pushed_image.repo, pushed_image.tag, moved)
        verifier = signer.verifier()
        result = sigs.verify_reference(client, pushed_image.repo, pushed_image.tag, verifier)
        assert not result.ok and result.digest == other
        assert "never signed" in result.failures[0].detail
        for suffix in (".sig", ".att"):  # an attacker copies the old objects to the new digest's tags
            old = client.get_manifest(pushed_image.repo, pushed_image.digest.replace(":", "-") + suffix)
            client.put_manifest(pushed_image.repo, other.replace(":", "-") + suffix, old)
        copied = sigs.verify_reference(client, pushed_image.repo, pushed_image.tag, verifier)
        assert not copied.ok and len(copied.failures) == 3
        assert all("moved" in c.detail for c in copied.failures)
    finally:
        remove_local(f"{image}:other")


def test_verify_fails_when_an_attestation_was_removed(client, pushed_image, key_pair):
    _pair, signer = key_pair
    _release(client, pushed_image, signer)
    tag = pushed_image.digest.replace(":", "-") + ".att"
    obj = sigs.load_object(client, pushed_image.repo, tag)
    kept = signing.build_object([l for l in obj.layers if l.predicate_type == att.SLSA_PROVENANCE_V1])
    sigs.write_object(client, pushed_image.repo, tag, kept)
    result = sigs.verify_reference(client, pushed_image.repo, pushed_image.tag, signer.verifier())
    assert [c.name for c in result.failures] == [f"attestation {att.CYCLONEDX}"]
    assert "removed" in result.failures[0].detail
    client.delete_manifest(pushed_image.repo, kept.digest)
    result = sigs.verify_reference(client, pushed_image.repo, pushed_image.tag, signer.verifier())
    assert len(result.failures) == 2 and all("removed" in c.detail for c in result.failures)


def test_verify_fails_when_the_payload_was_altered(client, pushed_image, key_pair):
    _pair, signer = key_pair
    _release(client, pushed_image, signer)
    tag = pushed_image.digest.replace(":", "-") + ".sig"
    obj = sigs.load_object(client, pushed_image.repo, tag)
    layer = obj.layers[0]
    forged = signing.Layer(layer.data.replace(b'"optional":{', b'"optional":{"approved":"yes",'),
                           layer.media_type, layer.annotations)
    sigs.write_object(client, pushed_image.repo, tag, signing.build_object([forged]))
    result = sigs.verify_reference(client, pushed_image.repo, pushed_image.tag, signer.verifier())
    assert [c.name for c in result.failures] == ["signature"]
    assert "altered after signing" in result.failures[0].detail


def test_deleting_an_image_takes_its_signature_objects(client, pushed_image, key_pair):
    _pair, signer = key_pair
    _release(client, pushed_image, signer)
    image = f"{pushed_image.host}/{pushed_image.repo}"
    tags = skopeo_tags(image)
    assert signing.attached_tags(pushed_image.digest, tags) == tuple(
        pushed_image.digest.replace(":", "-") + s for s in (".sig", ".att"))
    for tag in signing.attached_tags(pushed_image.digest, tags):  # by their own digests, as retention does
        assert client.delete_manifest(pushed_image.repo, client.head_manifest(pushed_image.repo, tag).digest)
    assert skopeo_tags(image) == [pushed_image.tag]
    assert signing.attached_tags(pushed_image.digest, skopeo_tags(image)) == ()


@pytest.mark.parametrize("fmt,key", [("cyclonedx", "bomFormat"), ("spdx", "spdxVersion")])
def test_syft_reads_the_published_image_by_digest(pushed_image, fmt, key):
    sbom = json.loads(syft.generate_sbom(pushed_image.host, pushed_image.repo, pushed_image.digest, fmt))
    assert key in sbom
    assert pushed_image.digest in json.dumps(sbom) or pushed_image.repo in json.dumps(sbom)


def test_syft_failure_is_an_sbom_error(services):
    with pytest.raises(syft.SbomError) as info:
        syft.generate_sbom(services.registry, "t/does-not-exist", "sha256:" + "0" * 64, timeout=120)
    assert info.value.hint


def test_manifest_put_keeps_cosign_bytes(client, pushed_image, key_pair):
    """The registry stores the object byte for byte: its digest is the one computed here."""
    _pair, signer = key_pair
    result = sigs.sign_image(client, pushed_image.repo, pushed_image.digest, signer)
    raw = _skopeo_raw(f"{pushed_image.host}/{pushed_image.repo}:{result.tag}")
    assert Manifest.from_bytes(raw, signing.OCI_MANIFEST).digest == result.digest
