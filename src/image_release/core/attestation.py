"""In-toto statements in DSSE envelopes, stored as cosign stores attestations (pure: no I/O).

- **Statement v1** (in-toto attestation framework): ``{"_type": "https://in-toto.io/Statement/v1",
  "subject": [{"name": REPO, "digest": {"sha256": HEX}}], "predicateType": URI, "predicate": {...}}``.
  The subject is the image repository and its manifest digest, as ``cosign attest`` writes it.
- **DSSE** (secure-systems-lab/dsse v1): the signature is over the pre-authentication encoding
  ``"DSSEv1" SP len(type) SP type SP len(body) SP body`` of the statement bytes, with payload type
  ``application/vnd.in-toto+json``. The envelope is ``{"payloadType", "payload" (base64), "signatures":
  [{"keyid", "sig" (base64)}]}``.
- **Storage**: the envelope is a layer of the object under ``sha256-<hex>.att``, media type
  ``application/vnd.dsse.envelope.v1+json``, annotations ``dev.cosignproject.cosign/signature: ""`` and
  ``predicateType: URI`` (cosign ``attest``). One layer per predicate type: a new attestation of a type
  replaces the old one (``attest --replace``), an identical one signed by the same key is kept as it is.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from image_release.core.signing import (
    DSSE_MEDIA_TYPE,
    PREDICATE_TYPE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    Layer,
    Signer,
    SigningError,
    Verifier,
    check_digest,
)

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"  # older cosign; read, never written
IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"

CYCLONEDX = "https://cyclonedx.org/bom"
SPDX = "https://spdx.dev/Document"
SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1"


@dataclass(frozen=True)
class SbomFormat:
    """An SBOM format: the syft output name, cosign's predicate type, the file name suffix."""

    name: str
    syft_output: str
    predicate_type: str
    suffix: str


SBOM_FORMATS = {
    "cyclonedx": SbomFormat("cyclonedx", "cyclonedx-json", CYCLONEDX, ".cdx.json"),
    "spdx": SbomFormat("spdx", "spdx-json", SPDX, ".spdx.json"),
}
_SBOM_ALIASES = {"cyclonedx-json": "cyclonedx", "spdx-json": "spdx"}


def sbom_format(name: str) -> SbomFormat:
    """``cyclonedx`` (or ``cyclonedx-json``) or ``spdx`` (or ``spdx-json``); SigningError otherwise."""
    key = _SBOM_ALIASES.get(str(name).lower(), str(name).lower())
    if key not in SBOM_FORMATS:
        raise SigningError(f"unknown SBOM format {name!r}", hint="use cyclonedx or spdx (both JSON)")
    return SBOM_FORMATS[key]


def statement(subject_name: str, digest: str, predicate_type: str, predicate: Mapping[str, Any]) -> bytes:
    """A Statement v1 about the image ``subject_name`` (repository, no tag) at ``digest``, as JSON bytes."""
    check_digest(digest)
    if not subject_name or not predicate_type:
        raise SigningError("an attestation needs a subject name and a predicate type")
    doc = {
        "_type": STATEMENT_V1,
        "subject": [{"name": subject_name, "digest": {"sha256": digest.split(":", 1)[1]}}],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Statement:
    """A parsed statement: its type, the subject digests (``sha256:<hex>``) and the predicate."""

    type: str
    subjects: tuple[tuple[str, str], ...]  # (name, "sha256:<hex>")
    predicate_type: str
    predicate: Any = field(repr=False)


def parse_statement(payload: bytes) -> Statement:
    try:
        doc = json.loads(payload)
        subjects = tuple(
            (str(s.get("name", "")), f"sha256:{s['digest']['sha256']}")
            for s in doc["subject"] if isinstance(s.get("digest"), dict) and "sha256" in s["digest"]
        )
        return Statement(str(doc["_type"]), subjects, str(doc["predicateType"]), doc.get("predicate"))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SigningError("the attestation payload is not an in-toto statement",
                           hint="the .att object was not written by cosign or image-release, or was altered") from None


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes = field(repr=False)
    signatures: tuple[tuple[str, bytes], ...]  # (keyid, signature)

    def to_json(self) -> bytes:
        doc = {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode(),
            "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode()} for keyid, sig in self.signatures],
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    def verified_by(self, verifier: Verifier) -> bool:
        """True when one of the signatures verifies over the PAE with ``verifier``."""
        message = pae(self.payload_type, self.payload)
        return any(verifier.verify(sig, message) for _keyid, sig in self.signatures)


def sign_envelope(payload: bytes, signer: Signer, payload_type: str = IN_TOTO_PAYLOAD_TYPE) -> Envelope:
    return Envelope(payload_type, payload, ((signer.keyid, signer.sign(pae(payload_type, payload))),))


def parse_envelope(raw: bytes) -> Envelope:
    """A DSSE envelope from JSON bytes (standard or URL-safe base64, as the DSSE spec allows)."""
    try:
        doc = json.loads(raw)
        payload = _b64(doc["payload"])
        sigs = tuple((str(s.get("keyid") or ""), _b64(s["sig"])) for s in doc.get("signatures") or [])
        return Envelope(str(doc["payloadType"]), payload, sigs)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise SigningError("the attestation is not a DSSE envelope",
                           hint="the .att object was not written by cosign or image-release, or was altered") from None


def _b64(text: str) -> bytes:
    text = str(text)
    if "-" in text or "_" in text:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def attestation_layer(envelope: Envelope, predicate_type: str) -> Layer:
    """The layer of one attestation, as cosign writes it."""
    return Layer(envelope.to_json(), DSSE_MEDIA_TYPE,
                 {SIGNATURE_ANNOTATION: "", PREDICATE_TYPE_ANNOTATION: predicate_type})


def attest(subject_name: str, digest: str, predicate_type: str, predicate: Mapping[str, Any],
           signer: Signer) -> Layer:
    """Statement -> signed envelope -> the layer to append to ``sha256-<hex>.att``."""
    body = statement(subject_name, digest, predicate_type, predicate)
    return attestation_layer(sign_envelope(body, signer), predicate_type)


def same_attestation(new: Layer, verifier: Verifier, *, same_content: bool = True):
    """For ``append_layer(keep=...)``: an existing layer of the same predicate type, signed by ``verifier``'s
    key, already says what ``new`` says: the same statement bytes, or with ``same_content=False`` a
    statement about the same subject (an SBOM of the same digest made again differs only in its
    timestamps and serial number, so a re-run keeps the first one)."""
    new_payload = parse_envelope(new.data).payload
    new_subjects = parse_statement(new_payload).subjects

    def keep(old: Layer) -> bool:
        if old.media_type != DSSE_MEDIA_TYPE or old.predicate_type != new.predicate_type:
            return False
        try:
            env = parse_envelope(old.data)
            same = env.payload == new_payload if same_content else parse_statement(env.payload).subjects == new_subjects
        except SigningError:
            return False
        return same and env.verified_by(verifier)

    return keep


def find_attestation(layers: Sequence[Layer], digest: str, predicate_type: str,
                     verifier: Verifier) -> Layer | None:
    """The attestation of ``predicate_type`` about ``digest`` signed by ``verifier``'s key, if ``layers``
    (an ``.att`` object's) hold one: a re-run can skip making it again."""
    for layer in layers:
        if layer.media_type != DSSE_MEDIA_TYPE or layer.predicate_type != predicate_type:
            continue
        try:
            env = parse_envelope(layer.data)
            subjects = parse_statement(env.payload).subjects
        except SigningError:
            continue
        if any(d == digest for _name, d in subjects) and env.verified_by(verifier):
            return layer
    return None


def same_predicate_type(new: Layer):
    """For ``append_layer(replace=...)``: an existing attestation of the same predicate type goes."""
    return lambda old: old.media_type == DSSE_MEDIA_TYPE and old.predicate_type == new.predicate_type


def predicate_types(layers: Sequence[Layer]) -> list[str]:
    return [layer.predicate_type for layer in layers if layer.predicate_type]
