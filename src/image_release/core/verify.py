"""Verify a signed image from what the registry holds (pure: the reads are done by the caller).

Given the digest a tag resolves to now, the ``sha256-<hex>.sig`` and ``sha256-<hex>.att`` manifests (or
None where a tag is absent), the blobs they reference and a public key, ``verify_image`` checks:

1. **signature**: a layer of the ``.sig`` object whose signature verifies over its payload with the key,
   whose payload is a cosign simple-signing document naming exactly that digest;
2. **attestations**: each DSSE envelope of the ``.att`` object verifies (over its PAE) with the key, is an
   in-toto statement, and has the digest among its subjects;
3. **completeness**: every predicate type the verified signature lists (``dev.image-release/attestations``
   in its optional section) or the caller requires has a verified attestation.

The result lists each check with what it found; a failure says why in plain words: signed by another
key, the tag moved to another image, an attestation removed, a payload altered after signing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable, Mapping

from image_release.core import attestation as att
from image_release.core.signing import (
    ATTESTATIONS_CLAIM,
    COSIGN_SIGNATURE_TYPE,
    SIMPLE_SIGNING_MEDIA_TYPE,
    Layer,
    SigningError,
    Verifier,
    attestation_tag,
    layer_signature,
    parse_simple_signing,
    sha256_digest,
    signature_tag,
)
from image_release.errors import VerificationFailed


@dataclass(frozen=True)
class Check:
    name: str  # "signature", "attestation https://slsa.dev/provenance/v1", ...
    ok: bool
    detail: str


@dataclass(frozen=True)
class VerifyResult:
    reference: str
    digest: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def lines(self) -> list[str]:
        """One line per check, as ``invoke verify`` prints them."""
        out = [f"verify {self.reference} ({self.digest})"]
        out += [f"  {'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in self.checks]
        return out

    def raise_for_failure(self) -> None:
        """VerificationFailed naming the first failure (and how many more), when anything failed."""
        if self.ok:
            return
        first = self.failures[0]
        more = f" (and {len(self.failures) - 1} more failed check(s))" if len(self.failures) > 1 else ""
        raise VerificationFailed(f"{self.reference} does not verify: {first.name}: {first.detail}{more}",
                                 hint=_hint(first))


def _hint(check: Check) -> str:
    if "another key" in check.detail:
        return "verify with the public key of the key that signs releases (release.sign), or sign again"
    if "moved" in check.detail or "never signed" in check.detail:
        return "the tag points at an image this key did not sign: find out who pushed it, and re-release"
    if "removed" in check.detail or "missing" in check.detail:
        return "re-run the release for this version to attest the image again"
    return "the signature objects were changed after signing: re-run the release to sign again"


def _layer_blobs(layers: list[dict], blobs: Mapping[str, bytes]) -> list[tuple[dict, Layer | None]]:
    """Each layer descriptor with its Layer, or None where the blob is missing or does not match."""
    out = []
    for desc in layers:
        digest = desc.get("digest") if isinstance(desc, dict) else None
        data = blobs.get(digest) if isinstance(digest, str) else None
        if data is None or sha256_digest(data) != digest:
            out.append((desc if isinstance(desc, dict) else {}, None))
            continue
        annotations = {str(k): str(v) for k, v in (desc.get("annotations") or {}).items()}
        out.append((desc, Layer(data, str(desc.get("mediaType") or ""), annotations)))
    return out


def _descriptors(manifest: bytes) -> list[dict] | None:
    try:
        layers = json.loads(manifest).get("layers")
    except (ValueError, AttributeError):
        return None
    return layers if isinstance(layers, list) else None


@dataclass
class _Signatures:
    check: Check
    verified_by_key: bool  # some layer verifies with the key (whatever digest it names)
    claimed: tuple[str, ...] = ()  # attestation types the verified signature lists


def _check_signatures(manifest: bytes | None, blobs: Mapping[str, bytes], digest: str,
                      verifier: Verifier, tag: str) -> _Signatures:
    if manifest is None:
        return _Signatures(Check("signature", False, f"{tag} does not exist: the image {digest} was never signed "
                                 "(or the tag was moved to an image that was not)"), False)
    descriptors = _descriptors(manifest)
    if not descriptors:
        return _Signatures(Check("signature", False, f"{tag} is not a signature object (no layers)"), False)
    verified, named_other, broken = [], [], 0
    for _desc, layer in _layer_blobs(descriptors, blobs):
        if layer is None or layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE:
            broken += 1
            continue
        sig = layer_signature(layer)
        if sig is None or not verifier.verify(sig, layer.data):
            continue
        try:
            payload = parse_simple_signing(layer.data)
        except SigningError:
            broken += 1
            continue
        if payload.type != COSIGN_SIGNATURE_TYPE:
            broken += 1
        elif payload.digest == digest:
            verified.append(payload)
        else:
            named_other.append(payload.digest)
    count = f"{len(descriptors)} signature(s) in {tag}"
    if verified:
        claim = str((verified[0].optional or {}).get(ATTESTATIONS_CLAIM) or "")
        claimed = tuple(t for t in claim.split(",") if t)
        detail = f"{count}; {len(verified)} verify with the key and name {digest} ({verified[0].docker_reference})"
        return _Signatures(Check("signature", True, detail), True, claimed)
    if named_other:
        return _Signatures(Check("signature", False, f"the signature verifies but names {named_other[0]}, not {digest}: "
                                 "the tag was moved to another image (its signature object was copied)"), True)
    missing = f"; {broken} layer(s) missing, altered or not cosign signatures" if broken else ""
    return _Signatures(Check("signature", False, f"none of the {count} verifies with the key: signed by another key, "
                             f"or the payload was altered after signing{missing}"), False)


def _check_attestations(manifest: bytes | None, blobs: Mapping[str, bytes], digest: str,
                        verifier: Verifier, tag: str) -> tuple[list[Check], set[str], bool]:
    """(one check per attestation layer, the predicate types verified, whether any verified with the key)."""
    if manifest is None:
        return [], set(), False
    checks, verified_types, any_key = [], set(), False
    for desc, layer in _layer_blobs(_descriptors(manifest) or [], blobs):
        ptype = str((desc.get("annotations") or {}).get("predicateType") or "unknown predicate type")
        name = f"attestation {ptype}"
        if layer is None:
            checks.append(Check(name, False, f"its envelope {desc.get('digest')} is missing from the registry or altered"))
            continue
        try:
            env = att.parse_envelope(layer.data)
        except SigningError:
            checks.append(Check(name, False, "the layer is not a DSSE envelope: altered after signing"))
            continue
        if not env.verified_by(verifier):
            checks.append(Check(name, False, "the envelope does not verify with the key: signed by another key, "
                                "or the statement was altered after signing"))
            continue
        any_key = True
        checks.append(_statement_check(name, env, ptype, digest))
        if checks[-1].ok:
            verified_types.add(ptype)
    return checks, verified_types, any_key


def _statement_check(name: str, env: att.Envelope, ptype: str, digest: str) -> Check:
    if env.payload_type != att.IN_TOTO_PAYLOAD_TYPE:
        return Check(name, False, f"the envelope's payload type is {env.payload_type!r}, not in-toto")
    try:
        stmt = att.parse_statement(env.payload)
    except SigningError:
        return Check(name, False, "the signed payload is not an in-toto statement")
    if stmt.predicate_type != ptype:
        return Check(name, False, f"the statement's predicate type {stmt.predicate_type} differs from the annotation")
    subjects = [d for _n, d in stmt.subjects]
    if digest not in subjects:
        return Check(name, False, f"the statement is about {', '.join(subjects) or 'nothing'}, not {digest}: "
                     "the tag was moved to another image")
    return Check(name, True, f"DSSE envelope verifies with the key; {stmt.type.rsplit('/', 1)[-1]} statement about {digest}")


_EITHER_SIG = "signed by another key, or the payload was altered after signing"
_EITHER_ATT = "signed by another key, or the statement was altered after signing"


def _explain(checks: list[Check], sig_key: bool, att_key: bool, fingerprint: str) -> list[Check]:
    """Tell a wrong key from an altered object: when nothing verifies with the key it is another key; when
    some objects verify and one does not, that one was altered."""
    if not sig_key and not att_key:
        key = f" ({fingerprint})" if fingerprint else ""
        swap = {_EITHER_SIG: f"signed by another key than the one given{key}",
                _EITHER_ATT: f"signed by another key than the one given{key}"}
    else:
        swap = {_EITHER_SIG: "the payload was altered after signing (other objects verify with this key)",
                _EITHER_ATT: "the statement was altered after signing (other objects verify with this key)"}
    out = []
    for c in checks:
        detail = c.detail
        for old, new in swap.items():
            detail = detail.replace(old, new)
        out.append(Check(c.name, c.ok, detail))
    return out


def verify_image(*, reference: str, digest: str, verifier: Verifier, signatures: bytes | None,
                 attestations: bytes | None, blobs: Mapping[str, bytes],
                 expect_attestations: Iterable[str] = ()) -> VerifyResult:
    """Check the signature and attestations of ``digest`` (what ``reference`` resolves to now).

    ``signatures`` / ``attestations``: the ``.sig`` / ``.att`` manifest bytes, None when the tag is absent;
    ``blobs``: every blob those manifests reference, by digest (a missing one fails its check);
    ``expect_attestations``: predicate types that must be present besides those the signature lists."""
    sigs = _check_signatures(signatures, blobs, digest, verifier, signature_tag(digest))
    att_checks, verified_types, att_key = _check_attestations(attestations, blobs, digest, verifier,
                                                              attestation_tag(digest))
    checks = [sigs.check] + att_checks
    expected = list(dict.fromkeys([*sigs.claimed, *expect_attestations]))
    for ptype in expected:
        if ptype not in verified_types and not any(c.name == f"attestation {ptype}" for c in att_checks):
            where = "the signature lists it" if ptype in sigs.claimed else "it is required"
            checks.append(Check(f"attestation {ptype}", False,
                                f"{where}, but {attestation_tag(digest)} has no such attestation: it was removed"
                                if attestations is not None else
                                f"{where}, but {attestation_tag(digest)} does not exist: the attestations were removed"))
    checks = _explain(checks, sigs.verified_by_key, att_key, getattr(verifier, "fingerprint", ""))
    if attestations is None and not expected:
        checks.append(Check("attestations", True, f"none attached ({attestation_tag(digest)} absent), none expected"))
    return VerifyResult(reference, digest, tuple(checks))
