"""Signing, attestation, provenance and verification as pure functions (no registry), and key loading.

Signatures and envelopes are checked with implementations other than this code's: ``cryptography`` directly,
``securesystemslib``'s DSSE ``Envelope``, ``in_toto_attestation``'s Statement v1 validation.
"""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from image_release.adapters import keys
from image_release.core import attestation as att
from image_release.core import provenance as prov
from image_release.core import signing
from image_release.core.context import Context
from image_release.core.verify import VerificationFailed, verify_image
from image_release.errors import AuthError, ConfigError

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
REPO = "127.0.0.1:5000/team/app"


@pytest.fixture(scope="module")
def pair():
    key = ec.generate_private_key(ec.SECP256R1())
    return keys.EcdsaSigner(key), key


@pytest.fixture(scope="module")
def other():
    return keys.EcdsaSigner(ec.generate_private_key(ec.SECP256R1()))


# -- payload and object ---------------------------------------------------------------------------------------


def test_payload_is_go_json_with_sorted_optional_claims():
    payload = signing.simple_signing_payload(REPO, D1, {"b": "2", "a": "<&>"})
    assert payload == (b'{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/team/app"},'
                       b'"image":{"docker-manifest-digest":"' + D1.encode() + b'"},'
                       b'"type":"cosign container image signature"},"optional":{"a":"\\u003c\\u0026\\u003e","b":"2"}}')
    assert signing.parse_simple_signing(payload).optional == {"a": "<&>", "b": "2"}


@pytest.mark.parametrize("ref,digest", [(REPO, "sha512:" + "a" * 128), (REPO, "sha256:abc"), (f"{REPO}@{D1}", D1), ("", D1)])
def test_payload_refuses_what_cosign_could_not_name(ref, digest):
    with pytest.raises(signing.SigningError) as info:
        signing.simple_signing_payload(ref, digest)
    assert info.value.hint


def test_signatures_append_like_cosign_and_the_same_one_is_not_added_twice(pair, other):
    signer, key = pair
    payload = signing.simple_signing_payload(REPO, D1)
    first = signing.append_layer(None, signing.sign_payload(payload, signer))
    again = signing.append_layer(first, signing.sign_payload(payload, signer),
                                 keep=signing.same_signature(payload, signer.verifier()))
    assert again is None  # ECDSA signatures differ each time; the payload and key decide
    second = signing.append_layer(first, signing.sign_payload(payload, other),
                                  keep=signing.same_signature(payload, other.verifier()))
    assert [layer.digest for layer in second.layers] == [first.layers[0].digest] * 2
    config = json.loads(second.config)
    assert config["history"] == [{"created": "0001-01-01T00:00:00Z"}] * 2
    assert config["rootfs"]["diff_ids"] == [first.layers[0].digest] * 2
    for layer, verifier in zip(second.layers, (key.public_key(), other.verifier()._key)):
        verifier.verify(base64.b64decode(layer.signature), payload, ec.ECDSA(hashes.SHA256()))
    parsed = signing.parse_object(second.manifest, second.config, dict(second.blobs()))
    assert parsed.layers == second.layers and parsed.digest == second.digest


def test_parse_object_refuses_a_missing_or_altered_layer(pair):
    obj = signing.build_object([signing.sign_payload(signing.simple_signing_payload(REPO, D1), pair[0])])
    blobs = dict(obj.blobs())
    blobs[obj.layers[0].digest] = b"altered"
    with pytest.raises(signing.SigningError, match="missing or altered"):
        signing.parse_object(obj.manifest, obj.config, blobs)


def test_attached_tags_belong_to_their_digest():
    assert signing.signature_tag(D1) == "sha256-" + "1" * 64 + ".sig"
    assert signing.attestation_tag(D1) == "sha256-" + "1" * 64 + ".att"
    assert signing.attached_tags(D1) == tuple("sha256-" + "1" * 64 + s for s in (".sig", ".att", ".sbom"))
    tags = ["1.2.3", "latest", signing.signature_tag(D1), signing.attestation_tag(D2)]
    assert signing.attached_tags(D1, tags) == (signing.signature_tag(D1),)
    assert [signing.attached_subject(t) for t in tags] == [None, None, D1, D2]
    assert signing.attached_subject("sha256-" + "1" * 63 + ".sig") is None
    assert signing.attached_subject("sha256-" + "1" * 64 + ".sig.bak") is None


# -- attestations ---------------------------------------------------------------------------------------------


def test_pae_is_the_dsse_spec_example():
    assert att.pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_attestation_envelope_verifies_with_securesystemslib_and_is_a_statement_v1(pair):
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    signer, key = pair
    layer = att.attest(REPO, D1, att.CYCLONEDX, {"bomFormat": "CycloneDX"}, signer)
    assert layer.media_type == "application/vnd.dsse.envelope.v1+json"
    assert dict(layer.annotations) == {"dev.cosignproject.cosign/signature": "", "predicateType": att.CYCLONEDX}
    envelope = Envelope.from_dict(json.loads(layer.data))
    assert envelope.payload_type == "application/vnd.in-toto+json"
    computed = SSlibKey.from_crypto(key.public_key(), scheme="ecdsa-sha2-nistp256")
    sslib_key = SSlibKey("", computed.keytype, computed.scheme, computed.keyval)  # cosign's keyid is ""
    assert "" in envelope.verify([sslib_key], 1)
    stmt = Statement.copy_from_pb(json_format.Parse(envelope.payload, statement_pb2.Statement()))
    stmt.validate()
    assert stmt.pb.type == "https://in-toto.io/Statement/v1"
    assert stmt.pb.subject[0].name == REPO and stmt.pb.subject[0].digest["sha256"] == "1" * 64
    assert stmt.pb.predicate_type == att.CYCLONEDX


def test_attestations_replace_their_type_and_keep_an_identical_one(pair, other):
    signer, _key = pair
    sbom = att.attest(REPO, D1, att.CYCLONEDX, {"serialNumber": "urn:uuid:1"}, signer)
    provenance = att.attest(REPO, D1, att.SLSA_PROVENANCE_V1, {"buildDefinition": {}}, signer)
    obj = signing.append_layer(None, sbom)
    obj = signing.append_layer(obj, provenance, keep=att.same_attestation(provenance, signer.verifier()),
                               replace=att.same_predicate_type(provenance))
    assert att.predicate_types(obj.layers) == [att.CYCLONEDX, att.SLSA_PROVENANCE_V1]
    remade = att.attest(REPO, D1, att.CYCLONEDX, {"serialNumber": "urn:uuid:2"}, signer)
    assert signing.append_layer(obj, remade, keep=att.same_attestation(remade, signer.verifier(), same_content=False)) is None
    replaced = signing.append_layer(obj, remade, keep=att.same_attestation(remade, signer.verifier()),
                                    replace=att.same_predicate_type(remade))
    assert att.predicate_types(replaced.layers) == [att.SLSA_PROVENANCE_V1, att.CYCLONEDX]
    assert replaced.layers[-1] == remade
    assert att.find_attestation(replaced.layers, D1, att.CYCLONEDX, signer.verifier()) == remade
    assert att.find_attestation(replaced.layers, D1, att.CYCLONEDX, other.verifier()) is None
    assert att.find_attestation(replaced.layers, D2, att.CYCLONEDX, signer.verifier()) is None


@pytest.mark.parametrize("name,expected", [("cyclonedx", att.CYCLONEDX), ("SPDX-json", att.SPDX), ("spdx", att.SPDX)])
def test_sbom_formats_use_cosigns_predicate_types(name, expected):
    assert att.sbom_format(name).predicate_type == expected


def test_unknown_sbom_format_is_refused():
    with pytest.raises(signing.SigningError, match="cyclonedx or spdx"):
        att.sbom_format("syft-json")


# -- provenance -----------------------------------------------------------------------------------------------


def test_provenance_names_build_args_never_their_values():
    facts = prov.BuildFacts("https://github.com/acme/app", "a" * 40, "refs/tags/v1.2.3",
                            builder_id="https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3",
                            run_url="https://github.com/acme/app/actions/runs/7/attempts/1",
                            build_args=prov.arg_names({"PYTHON_VERSION": "3.11", "API_TOKEN": "tok-Secret-4567"}))
    body = att.statement(REPO, D1, att.SLSA_PROVENANCE_V1, prov.provenance_predicate(facts))
    assert b"tok-Secret-4567" not in body and b"3.11" not in body
    doc = json.loads(body)
    assert doc["predicateType"] == "https://slsa.dev/provenance/v1"
    bd = doc["predicate"]["buildDefinition"]
    assert bd["externalParameters"]["buildArgs"] == ["API_TOKEN", "PYTHON_VERSION"]
    assert bd["externalParameters"]["source"]["uri"] == "git+https://github.com/acme/app@refs/tags/v1.2.3"
    assert bd["resolvedDependencies"] == [{"uri": "git+https://github.com/acme/app", "digest": {"gitCommit": "a" * 40}}]
    assert doc["predicate"]["runDetails"]["metadata"] == {"invocationId": facts.run_url}
    assert att.statement(REPO, D1, att.SLSA_PROVENANCE_V1, prov.provenance_predicate(facts)) == body  # no clock: a re-run gives the same statement


def test_provenance_refuses_name_value_pairs_without_showing_the_value():
    with pytest.raises(signing.SigningError) as info:
        prov.arg_names(["API_TOKEN=tok-Secret-4567"])
    assert "tok-Secret-4567" not in str(info.value) and "API_TOKEN=..." in str(info.value)


def test_provenance_from_a_github_context():
    ctx = Context(event="tag", ref="refs/tags/v1.2.3", sha="b" * 40, tag="v1.2.3", repository="acme/app",
                  source="github", ci="github", server_url="https://github.com")
    env = {"GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "99", "GITHUB_RUN_ATTEMPT": "2",
           "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"}
    facts = prov.facts_from_context(ctx, env, build_args=("PY",))
    assert facts.repository_url == "https://github.com/acme/app" and facts.commit == "b" * 40
    assert facts.builder_id == "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"
    assert facts.run_url == "https://github.com/acme/app/actions/runs/99/attempts/2"
    with pytest.raises(signing.SigningError, match="full commit"):
        prov.provenance_predicate(prov.facts_from_context(ctx, env, commit="abc"))


# -- verification ---------------------------------------------------------------------------------------------


def _release(signer, digest=D1, sbom=True):
    """The .sig and .att objects a release with an SBOM and provenance writes, and their blobs."""
    layers = [att.attest(REPO, digest, att.SLSA_PROVENANCE_V1, {"buildDefinition": {}}, signer)]
    if sbom:
        layers.insert(0, att.attest(REPO, digest, att.CYCLONEDX, {"bomFormat": "CycloneDX"}, signer))
    attn = signing.build_object(layers)
    claim = {signing.ATTESTATIONS_CLAIM: ",".join(att.predicate_types(layers))}
    sig = signing.build_object([signing.sign_payload(signing.simple_signing_payload(REPO, digest, claim), signer)])
    return sig, attn, {**dict(sig.blobs()), **dict(attn.blobs())}


def _verify(verifier, digest, sig, attn, blobs, **kw):
    return verify_image(reference=f"{REPO}:1.2.3", digest=digest, verifier=verifier,
                        signatures=sig.manifest if sig else None, attestations=attn.manifest if attn else None,
                        blobs=blobs, **kw)


def test_a_signed_release_verifies(pair):
    sig, attn, blobs = _release(pair[0])
    result = _verify(pair[0].verifier(), D1, sig, attn, blobs)
    assert result.ok, result.lines()
    assert [c.name for c in result.checks] == ["signature", f"attestation {att.CYCLONEDX}",
                                               f"attestation {att.SLSA_PROVENANCE_V1}"]
    result.raise_for_failure()


def test_another_key_fails_and_says_so(pair, other):
    sig, attn, blobs = _release(pair[0])
    result = _verify(other.verifier(), D1, sig, attn, blobs)
    assert not result.ok and all(not c.ok for c in result.checks)
    assert "signed by another key than the one given" in result.failures[0].detail
    with pytest.raises(VerificationFailed) as info:
        result.raise_for_failure()
    assert "public key" in info.value.hint


def test_a_moved_tag_fails_whether_or_not_the_signature_was_copied(pair):
    sig, attn, blobs = _release(pair[0])
    unsigned = _verify(pair[0].verifier(), D2, None, None, {})
    assert not unsigned.ok and "never signed" in unsigned.failures[0].detail
    copied = _verify(pair[0].verifier(), D2, sig, attn, blobs)
    assert not copied.ok
    assert f"names {D1}, not {D2}" in copied.checks[0].detail and "moved" in copied.checks[0].detail
    assert all("moved" in c.detail for c in copied.failures)


def test_a_removed_attestation_fails(pair):
    sig, attn, blobs = _release(pair[0])
    gone = _verify(pair[0].verifier(), D1, sig, None, blobs)
    assert [c.name for c in gone.failures] == [f"attestation {att.CYCLONEDX}", f"attestation {att.SLSA_PROVENANCE_V1}"]
    assert all("removed" in c.detail and "the signature lists it" in c.detail for c in gone.failures)
    one_left = signing.build_object([layer for layer in attn.layers if layer.predicate_type == att.SLSA_PROVENANCE_V1])
    partial = _verify(pair[0].verifier(), D1, sig, one_left, {**blobs, **dict(one_left.blobs())})
    assert [c.name for c in partial.failures] == [f"attestation {att.CYCLONEDX}"]
    required = _verify(pair[0].verifier(), D1, *_release(pair[0], sbom=False), expect_attestations=[att.SPDX])
    assert [c.name for c in required.failures] == [f"attestation {att.SPDX}"]
    assert "it is required" in required.failures[0].detail


def test_an_altered_payload_fails(pair):
    signer = pair[0]
    sig, attn, blobs = _release(signer)
    layer = sig.layers[0]
    altered_payload = layer.data.replace(b"team/app", b"team/evil")
    altered = signing.build_object([signing.Layer(altered_payload, layer.media_type, layer.annotations)])
    result = _verify(signer.verifier(), D1, altered, attn, {**blobs, **dict(altered.blobs())})
    assert [c.name for c in result.failures] == ["signature"]
    assert "altered after signing" in result.failures[0].detail
    bad_env = json.loads(attn.layers[0].data)
    bad_env["payload"] = base64.b64encode(base64.b64decode(bad_env["payload"]).replace(b"CycloneDX", b"Cyclone")).decode()
    tampered = signing.build_object([signing.Layer(json.dumps(bad_env).encode(), attn.layers[0].media_type,
                                                   attn.layers[0].annotations), attn.layers[1]])
    result = _verify(signer.verifier(), D1, sig, tampered, {**blobs, **dict(tampered.blobs())})
    assert [c.name for c in result.failures] == [f"attestation {att.CYCLONEDX}"]
    assert "statement was altered after signing" in result.failures[0].detail
    missing_blob = {k: v for k, v in blobs.items() if k != sig.layers[0].digest}
    assert not _verify(signer.verifier(), D1, sig, attn, missing_blob).ok


# -- keys -----------------------------------------------------------------------------------------------------


def test_pkcs8_pems_encrypted_or_not_and_base64_encoded_load(pair):
    _signer, key = pair
    plain = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    locked = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.BestAvailableEncryption(b"pkcs8-Pa55"))
    for pem, password in ((plain, None), (plain, "ignored-when-not-encrypted"), (locked, "pkcs8-Pa55"),
                          (base64.b64encode(locked), "pkcs8-Pa55")):
        signer = keys.load_signer(pem, password)
        key.public_key().verify(signer.sign(b"x"), b"x", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(AuthError, match="password does not decrypt"):
        keys.load_signer(locked, "wrong-Pa55")
    with pytest.raises(AuthError, match="no password"):
        keys.load_signer(locked, None)


def test_unusable_keys_are_refused_with_a_hint_and_no_key_material():
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pair = keys.generate_key_pair("")
    cases = [(rsa_pem, "RSA"), (p384, "secp384r1"), (pair.public_pem, "no PEM private key"),
             (b"not a key at all", "not a PEM key"),
             (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a readable")]
    for pem, words in cases:
        with pytest.raises(ConfigError) as info:
            keys.load_signer(pem, None, what="the key in $SIGNING_KEY")
        text = str(info.value)
        assert words in text and "$SIGNING_KEY" in text and info.value.hint
        for line in pem.decode().splitlines()[1:-1]:
            assert line[:16] not in text
    with pytest.raises(ConfigError, match="not the private key"):
        keys.load_verifier(pair.private_pem)


def test_signer_from_env_names_the_variable_and_hides_the_key():
    pair = keys.generate_key_pair("env-Pa55")
    env = {"COSIGN_KEY": pair.private_pem.decode(), "COSIGN_PASSWORD": "env-Pa55"}
    signer = keys.signer_from_env(env, "COSIGN_KEY", "COSIGN_PASSWORD")
    assert keys.load_verifier(pair.public_pem).verify(signer.sign(b"m"), b"m")
    assert "PRIVATE" not in repr(signer) and "env-Pa55" not in repr(signer) and repr(signer).startswith("EcdsaSigner(P-256, sha256:")
    with pytest.raises(ConfigError, match=r"\$MISSING_KEY"):
        keys.signer_from_env(env, "MISSING_KEY")
    with pytest.raises(AuthError, match=r"\$COSIGN_KEY"):
        keys.signer_from_env({**env, "COSIGN_PASSWORD": "nope"}, "COSIGN_KEY", "COSIGN_PASSWORD")


def test_split_attached_keeps_signature_objects_out_of_the_versions():
    sig_digest, att_digest = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    tags_by_digest = {D1: ["1.2.3", "1.2"], sig_digest: [signing.signature_tag(D1)],
                      att_digest: [signing.attestation_tag(D1), signing.attestation_tag(D2)]}
    images, attached = signing.split_attached(tags_by_digest)
    assert images == {D1: ["1.2", "1.2.3"]}
    assert attached == {D1: [signing.attestation_tag(D1), signing.signature_tag(D1)], D2: [signing.attestation_tag(D2)]}


def test_platform_digests_leave_buildkit_attestations_out():
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {"digest": D1, "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": D2, "platform": {"os": "linux", "architecture": "arm64"}},
        {"digest": "sha256:" + "3" * 64, "platform": {"os": "unknown", "architecture": "unknown"},
         "annotations": {"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": D1}},
    ]}).encode()
    assert signing.platform_digests(index) == [D1, D2]
    with pytest.raises(signing.SigningError):
        signing.platform_digests(b"not json")
