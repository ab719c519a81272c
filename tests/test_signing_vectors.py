"""Format compatibility with cosign itself, on test vectors cosign made (tests/data/cosign/README.md).

Both ways: what cosign wrote is read here (its encrypted keys open with their passwords, its signature
verifies, its payload is byte for byte what this code writes for the same image), and what this code writes
is read by an independent implementation (the stdlib's scrypt and PyNaCl's secretbox for keys,
``cryptography`` for signatures), following go-securesystemslib's format rather than this code's reader.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from image_release.adapters import keys
from image_release.core import signing
from image_release.errors import AuthError

DATA = Path(__file__).parent / "data" / "cosign"
VECTOR = json.loads((DATA / "cosign-signature-vector.json").read_text())

COSIGN_KEYS = [
    ("sigstore-labelled-hello.key", "hello", keys.SIGSTORE_PEM_TYPE, 32768),
    ("cosign-labelled-hello.key", "hello", keys.COSIGN_PEM_TYPE, 32768),
    ("cosign-labelled-sec1-hello.key", "hello", keys.COSIGN_PEM_TYPE, 65536),
    ("cosign-generated-p256-empty-password.key", "", keys.SIGSTORE_PEM_TYPE, 65536),
]


def _pem_json(pem: bytes) -> dict:
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    return json.loads(base64.b64decode(body))


def _independent_decrypt(pem: bytes, password: str) -> bytes:
    """go-securesystemslib's Decrypt, written from its source: scrypt (stdlib) + NaCl secretbox (PyNaCl)."""
    from nacl.secret import SecretBox

    doc = _pem_json(pem)
    params = doc["kdf"]["params"]
    key = hashlib.scrypt(password.encode(), salt=base64.b64decode(doc["kdf"]["salt"]), n=params["N"],
                         r=params["r"], p=params["p"], maxmem=512 * 1024 * 1024, dklen=32)
    return SecretBox(key).decrypt(base64.b64decode(doc["ciphertext"]), base64.b64decode(doc["cipher"]["nonce"]))


@pytest.mark.parametrize("name,password,pem_type,n", COSIGN_KEYS)
def test_cosign_keys_open_with_their_password(name, password, pem_type, n):
    raw = (DATA / name).read_bytes()
    assert raw.startswith(f"-----BEGIN {pem_type}-----".encode())
    assert _pem_json(raw)["kdf"]["params"] == {"N": n, "r": 8, "p": 1}
    der = keys.decrypt_cosign_key(raw, password)
    assert der == _independent_decrypt(raw, password)
    key = serialization.load_der_private_key(der, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    signer = keys.load_signer(raw, password)
    sig = signer.sign(b"payload")
    key.public_key().verify(sig, b"payload", ec.ECDSA(hashes.SHA256()))  # raises if not this key's signature


def test_the_sec1_vector_holds_a_sec1_key_and_the_others_pkcs8():
    # PKCS#8 starts with version 0 and an AlgorithmIdentifier; SEC1 with version 1 and the key octets.
    sec1 = keys.decrypt_cosign_key((DATA / "cosign-labelled-sec1-hello.key").read_bytes(), "hello")
    pkcs8 = keys.decrypt_cosign_key((DATA / "sigstore-labelled-hello.key").read_bytes(), "hello")
    assert sec1[2:5] == b"\x02\x01\x01" and sec1[5] == 0x04
    assert pkcs8[3:6] == b"\x02\x01\x00"


@pytest.mark.parametrize("name,password,_t,_n", COSIGN_KEYS)
def test_cosign_keys_refuse_a_wrong_password_without_showing_it(name, password, _t, _n):
    raw = (DATA / name).read_bytes()
    with pytest.raises(AuthError) as info:
        keys.load_signer(raw, password + "-wrong-Pa55", what="the key in $COSIGN_KEY")
    text = str(info.value)
    assert "$COSIGN_KEY" in text and "release.sign.password_env" in text
    assert "wrong-Pa55" not in text and "hello" not in text
    body = raw.decode().splitlines()[1]
    assert body[:20] not in text


def test_our_encrypted_keys_follow_go_securesystemslib():
    pair = keys.generate_key_pair("s3cret-for-tests")
    assert pair.private_pem.startswith(b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    body_lines = pair.private_pem.decode().splitlines()[1:-1]
    assert all(len(line) <= 64 for line in body_lines)  # Go's pem.Encode
    doc = _pem_json(pair.private_pem)
    assert list(doc) == ["kdf", "cipher", "ciphertext"]
    assert doc["kdf"]["name"] == "scrypt" and doc["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32
    assert doc["cipher"]["name"] == "nacl/secretbox" and len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    key = serialization.load_der_private_key(_independent_decrypt(pair.private_pem, "s3cret-for-tests"), None)
    pub = serialization.load_pem_public_key(pair.public_pem)
    assert key.public_key().public_numbers() == pub.public_numbers()


def test_cosigns_signature_verifies_and_its_payload_is_ours_byte_for_byte():
    payload = signing.simple_signing_payload(VECTOR["docker_reference"], VECTOR["digest"])
    assert payload == VECTOR["payload"].encode()
    verifier = keys.load_verifier(VECTOR["public_key"])
    assert verifier.verify(base64.b64decode(VECTOR["signature"]), payload)
    assert not verifier.verify(base64.b64decode(VECTOR["signature"]), payload.replace(b"busybox", b"busyb0x"))
    parsed = signing.parse_simple_signing(payload)
    assert parsed.digest == VECTOR["digest"] and parsed.type == "cosign container image signature"


def test_a_signature_object_for_cosigns_signature_has_cosigns_layout():
    layer = signing.signature_layer(VECTOR["payload"].encode(), VECTOR["signature"])
    obj = signing.build_object([layer])
    manifest = json.loads(obj.manifest)
    config = json.loads(obj.config)
    # cosign's one-signature objects have a 233-byte config (sigstore/cosign docs, `crane manifest` output)
    assert len(obj.config) == 233
    assert config == {"architecture": "", "created": "0001-01-01T00:00:00Z",
                      "history": [{"created": "0001-01-01T00:00:00Z"}], "os": "",
                      "rootfs": {"type": "layers", "diff_ids": [layer.digest]}, "config": {}}
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert manifest["config"] == {"mediaType": "application/vnd.oci.image.config.v1+json", "size": 233,
                                  "digest": "sha256:" + hashlib.sha256(obj.config).hexdigest()}
    assert manifest["layers"] == [{
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "size": len(VECTOR["payload"]),
        "digest": "sha256:" + hashlib.sha256(VECTOR["payload"].encode()).hexdigest(),
        "annotations": {"dev.cosignproject.cosign/signature": VECTOR["signature"]},
    }]
    assert list(manifest) == ["schemaVersion", "mediaType", "config", "layers"]
