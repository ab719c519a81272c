"""Cosign's signature format, as a pure builder: payload bytes in, manifest and blobs out (no I/O).

What cosign writes (sigstore/cosign ``specs/SIGNATURE_SPEC.md``, ``pkg/oci/static``, ``pkg/oci/mutate`` and
go-containerregistry's ``mutate.Append`` on ``empty.Image``), and so what this module writes:

- The **payload** is the simple-signing JSON ``{"critical": {"identity": {"docker-reference": REPO},
  "image": {"docker-manifest-digest": DIGEST}, "type": "cosign container image signature"},
  "optional": ...}``, compact, in Go's field order (``optional`` is ``null`` without annotations). It is
  signed as it is (ECDSA P-256 over its SHA-256) and stored as a blob.
- The **signature object** is an OCI image manifest in the same repository under the tag
  ``sha256-<hex>.sig``. Each signature is one layer: the payload blob, media type
  ``application/vnd.dev.cosign.simplesigning.v1+json``, the base64 signature in the layer annotation
  ``dev.cosignproject.cosign/signature``. Several signatures are several layers of that one manifest.
- The **config blob** is the one go-containerregistry writes for an empty image with layers appended:
  ``{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":...}, ...],"os":"",
  "rootfs":{"type":"layers","diff_ids":[<layer digests>]},"config":{}}`` (233 bytes for one layer, as in
  cosign's own manifests).
- **Attestations** (``core/attestation.py``) use the same object under ``sha256-<hex>.att``: the layer is a
  DSSE envelope (``application/vnd.dsse.envelope.v1+json``), its signature annotation is empty and a
  ``predicateType`` annotation names the predicate.

The lifecycle helpers at the end name the tags that belong to a digest, so that retention and replacement
delete them with it and never count them as versions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from image_release.errors import SigningError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PREDICATE_TYPE_ANNOTATION = "predicateType"
COSIGN_SIGNATURE_TYPE = "cosign container image signature"
GO_ZERO_TIME = "0001-01-01T00:00:00Z"

SIGNATURE_SUFFIX = ".sig"
ATTESTATION_SUFFIX = ".att"
SBOM_SUFFIX = ".sbom"  # cosign's (deprecated) `attach sbom`; not written here, but it belongs to the digest too
ATTACHED_SUFFIXES = (SIGNATURE_SUFFIX, ATTESTATION_SUFFIX, SBOM_SUFFIX)

# The signed payload's optional claim listing the attestations made for the image, so that a verifier
# notices one that was removed without being told which to expect.
ATTESTATIONS_CLAIM = "dev.image-release/attestations"

MAX_LAYERS = 1000  # cosign refuses more signatures than this on one object

_SHA256 = re.compile(r"^sha256:([a-f0-9]{64})$")
_ATTACHED_TAG = re.compile(r"^sha256-([a-f0-9]{64})(\.sig|\.att|\.sbom)$")


class Signer(Protocol):
    """What the builders need from a private key (``adapters/keys.py`` provides one)."""

    keyid: str

    def sign(self, data: bytes) -> bytes:  # DER ECDSA-SHA256 signature over ``data``
        ...


class Verifier(Protocol):
    """What verification needs from a public key."""

    def verify(self, signature: bytes, data: bytes) -> bool:
        ...


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def go_json(value: Any) -> bytes:
    """JSON as Go's ``encoding/json`` writes it: compact, UTF-8, ``<``, ``>``, ``&``, U+2028 and U+2029
    escaped. Dict order is kept (give structs in Go's field order; sort maps before)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text.encode()


def _go_map(value: Any) -> Any:
    """A Go ``map[string]any`` marshals with sorted keys, at every level."""
    if isinstance(value, Mapping):
        return {str(k): _go_map(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [_go_map(v) for v in value]
    return value


def check_digest(digest: str) -> str:
    """``sha256:<64 hex>`` or SigningError: cosign's tags and payloads only know sha256 digests."""
    if not isinstance(digest, str) or not _SHA256.match(digest):
        raise SigningError(f"not a sha256 manifest digest: {digest!r}",
                           hint="sign the digest the registry returned for the pushed manifest (sha256:<64 hex>)")
    return digest


# -- payload -----------------------------------------------------------------------------------------------


def simple_signing_payload(docker_reference: str, digest: str,
                           optional: Mapping[str, Any] | None = None) -> bytes:
    """The bytes cosign signs for ``docker_reference`` (the repository, ``registry/path``, no tag) at
    ``digest``. ``optional`` becomes the ``optional`` section (cosign's ``-a key=value`` annotations)."""
    check_digest(digest)
    if not docker_reference or "@" in docker_reference:
        raise SigningError(f"not a repository reference for a signature: {docker_reference!r}",
                           hint="give the image name without digest, for example 127.0.0.1:5000/team/app")
    doc = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": COSIGN_SIGNATURE_TYPE,
        },
        "optional": _go_map(optional) if optional else None,
    }
    return go_json(doc)


@dataclass(frozen=True)
class SimpleSigning:
    """A parsed simple-signing payload."""

    docker_reference: str
    digest: str
    type: str
    optional: Mapping[str, Any] = field(default_factory=dict)


def parse_simple_signing(payload: bytes) -> SimpleSigning:
    """Read a payload; SigningError when it is not a simple-signing document."""
    try:
        doc = json.loads(payload)
        critical = doc["critical"]
        parsed = SimpleSigning(
            docker_reference=str(critical["identity"]["docker-reference"]),
            digest=str(critical["image"]["docker-manifest-digest"]),
            type=str(critical["type"]),
            optional=doc.get("optional") or {},
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SigningError("the signature payload is not a simple-signing document",
                           hint="the .sig object was not written by cosign or image-release, or was altered") from None
    return parsed


# -- the signature object -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """One signature or attestation: the blob (payload or envelope), its media type, its annotations."""

    data: bytes = field(repr=False)
    media_type: str
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return sha256_digest(self.data)

    @property
    def signature(self) -> str:
        """The base64 signature annotation ("" for attestations, whose signature is in the envelope)."""
        return self.annotations.get(SIGNATURE_ANNOTATION, "")

    @property
    def predicate_type(self) -> str | None:
        return self.annotations.get(PREDICATE_TYPE_ANNOTATION)

    def descriptor(self) -> dict:
        desc: dict[str, Any] = {"mediaType": self.media_type, "size": len(self.data), "digest": self.digest}
        if self.annotations:
            desc["annotations"] = dict(sorted(self.annotations.items()))
        return desc


def signature_layer(payload: bytes, signature_b64: str) -> Layer:
    """The layer of one cosign signature."""
    return Layer(payload, SIMPLE_SIGNING_MEDIA_TYPE, {SIGNATURE_ANNOTATION: signature_b64})


@dataclass(frozen=True)
class AttachedObject:
    """A ``.sig`` or ``.att`` object: the manifest bytes to PUT, the config blob, and its layers.

    ``blobs()`` lists every blob the manifest references (config first), which must be in the repository
    before the manifest is put."""

    manifest: bytes = field(repr=False)
    config: bytes = field(repr=False)
    layers: tuple[Layer, ...]

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def media_type(self) -> str:
        return OCI_MANIFEST

    def blobs(self) -> list[tuple[str, bytes]]:
        seen: dict[str, bytes] = {sha256_digest(self.config): self.config}
        for layer in self.layers:
            seen.setdefault(layer.digest, layer.data)
        return list(seen.items())


def config_blob(layers: Sequence[Layer], base_config: bytes | None = None) -> bytes:
    """The config go-containerregistry writes: the base config (an empty image's, or the existing object's)
    with one history entry and one diff_id per appended layer, re-marshalled in Go's field order."""
    base = _config_fields(base_config) if base_config else {}
    history = list(base.get("history") or []) + [{"created": GO_ZERO_TIME} for _ in layers]
    diff_ids = list((base.get("rootfs") or {}).get("diff_ids") or []) + [layer.digest for layer in layers]
    doc: dict[str, Any] = {"architecture": base.get("architecture", "")}
    for key in ("author", "container"):
        if base.get(key):
            doc[key] = base[key]
    doc["created"] = base.get("created", GO_ZERO_TIME)
    if base.get("docker_version"):
        doc["docker_version"] = base["docker_version"]
    if history:
        doc["history"] = history
    doc["os"] = base.get("os", "")
    doc["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    doc["config"] = base.get("config") or {}
    for key in ("os.version", "variant", "os.features"):
        if base.get(key):
            doc[key] = base[key]
    return go_json(doc)


def _config_fields(raw: bytes) -> dict:
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise SigningError("the existing signature object has an unreadable config blob",
                           hint="delete the .sig/.att tag (it will be written anew) or repair it")
    return doc


def build_object(layers: Sequence[Layer], base_config: bytes | None = None,
                 annotations: Mapping[str, str] | None = None) -> AttachedObject:
    """The OCI manifest (and config) holding ``layers``, in cosign's layout."""
    if not layers:
        raise SigningError("a signature object needs at least one signature or attestation")
    if len(layers) > MAX_LAYERS:
        raise SigningError(f"{len(layers)} signatures on one object, more than cosign accepts ({MAX_LAYERS})",
                           hint="delete the .sig/.att tag of this digest and sign again")
    config = config_blob(layers) if base_config is None else base_config
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config), "digest": sha256_digest(config)},
        "layers": [layer.descriptor() for layer in layers],
    }
    if annotations:
        manifest["annotations"] = dict(sorted(annotations.items()))
    return AttachedObject(go_json(manifest), config, tuple(layers))


def parse_object(manifest: bytes, config: bytes, blobs: Mapping[str, bytes]) -> AttachedObject:
    """An existing ``.sig``/``.att`` object from its manifest bytes, config blob and layer blobs (by digest).

    A layer whose blob is missing from ``blobs`` or does not match its digest is a SigningError."""
    try:
        doc = json.loads(manifest)
        descriptors = doc.get("layers") or []
        if not isinstance(descriptors, list):
            raise TypeError
    except (ValueError, TypeError, AttributeError):
        raise SigningError("the signature object's manifest is not an OCI image manifest",
                           hint="delete the .sig/.att tag (it will be written anew) or repair it") from None
    layers = []
    for desc in descriptors:
        digest = desc.get("digest") if isinstance(desc, dict) else None
        data = blobs.get(digest) if isinstance(digest, str) else None
        if data is None or sha256_digest(data) != digest:
            raise SigningError(f"layer {digest!r} of the signature object is missing or altered",
                               hint="the registry lost a blob or the object was tampered with; delete the tag "
                               "and sign again")
        annotations = desc.get("annotations") or {}
        layers.append(Layer(data, str(desc.get("mediaType") or ""),
                            {str(k): str(v) for k, v in annotations.items()}))
    return AttachedObject(manifest, config, tuple(layers))


def layer_digests(manifest: bytes) -> list[str]:
    """The blob digests a ``.sig``/``.att`` manifest names (config first), to fetch them before parsing."""
    try:
        doc = json.loads(manifest)
        digests = [doc["config"]["digest"]] + [d["digest"] for d in doc.get("layers") or []]
    except (ValueError, KeyError, TypeError):
        raise SigningError("the signature object's manifest is not an OCI image manifest",
                           hint="delete the .sig/.att tag (it will be written anew) or repair it") from None
    return [str(d) for d in digests]


def append_layer(existing: AttachedObject | None, layer: Layer,
                 keep: Callable[[Layer], bool] | None = None,
                 replace: Callable[[Layer], bool] | None = None) -> AttachedObject | None:
    """``existing`` with ``layer`` appended, as cosign appends a signature; None when nothing is to be written.

    ``keep(old)`` true for an existing layer means it already says what ``layer`` would (same payload,
    signed by the same key): the object stays as it is. ``replace(old)`` true drops that layer first
    (cosign's ``attest --replace``: an attestation of the same predicate type). Appending keeps the
    existing config and adds one history entry and diff_id, as go-containerregistry does."""
    if existing is None:
        return build_object([layer])
    if keep is not None and any(keep(old) for old in existing.layers):
        return None
    remaining = [old for old in existing.layers if not (replace and replace(old))]
    if len(remaining) == len(existing.layers):
        return build_object(list(existing.layers) + [layer],
                            base_config=config_blob([layer], existing.config))
    return build_object(remaining + [layer])


def sign_payload(payload: bytes, signer: Signer) -> Layer:
    """Sign a simple-signing payload: the layer to append (base64 DER signature in its annotation)."""
    return signature_layer(payload, base64.b64encode(signer.sign(payload)).decode())


def layer_signature(layer: Layer) -> bytes | None:
    """The decoded signature annotation of a signature layer, or None when absent or not base64."""
    try:
        return base64.b64decode(layer.signature, validate=True) if layer.signature else None
    except (binascii.Error, ValueError):
        return None


def same_signature(payload: bytes, verifier: Verifier):
    """For ``append_layer(keep=...)``: an existing layer with this very payload and a signature by
    ``verifier``'s key (cosign's duplicate detection): signing again would add nothing."""

    def keep(old: Layer) -> bool:
        if old.media_type != SIMPLE_SIGNING_MEDIA_TYPE or old.data != payload:
            return False
        sig = layer_signature(old)
        return sig is not None and verifier.verify(sig, payload)

    return keep


# -- lifecycle: the tags that belong to a digest ------------------------------------------------------------


def attached_tag(digest: str, suffix: str) -> str:
    """``sha256:<hex>`` + ``.sig`` -> ``sha256-<hex>.sig`` (cosign's tag-based discovery)."""
    check_digest(digest)
    if suffix not in ATTACHED_SUFFIXES:
        raise SigningError(f"unknown attached-object suffix {suffix!r}", hint=f"use one of {ATTACHED_SUFFIXES}")
    return digest.replace(":", "-", 1) + suffix


def signature_tag(digest: str) -> str:
    return attached_tag(digest, SIGNATURE_SUFFIX)


def attestation_tag(digest: str) -> str:
    return attached_tag(digest, ATTESTATION_SUFFIX)


def attached_subject(tag: str) -> str | None:
    """The digest a ``sha256-<hex>.sig``/``.att``/``.sbom`` tag belongs to, or None for any other tag."""
    m = _ATTACHED_TAG.match(tag or "")
    return f"sha256:{m.group(1)}" if m else None


def attached_tags(digest: str, existing: Iterable[str] | None = None) -> tuple[str, ...]:
    """The signature, attestation and SBOM tags that belong to ``digest``: the ones that must be deleted
    with it, and that are never versions.

    Without ``existing``, every name cosign could use (``.sig``, ``.att``, ``.sbom``); with ``existing``
    (a repository's tag list), only those present there."""
    names = tuple(attached_tag(digest, suffix) for suffix in ATTACHED_SUFFIXES)
    if existing is None:
        return names
    present = set(existing)
    return tuple(name for name in names if name in present)


def split_attached(tags_by_digest: Mapping[str, Sequence[str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Split a repository's ``{digest: tags}`` map into the images' own tags and the attached objects.

    Returns ``(images, attached)``: ``images`` is the map without any ``.sig``/``.att``/``.sbom`` tag (what
    retention and replacement plan on: these tags are never versions), ``attached`` maps each subject
    digest to its attached tags (what to delete with that digest, or with the index it belongs to)."""
    images: dict[str, list[str]] = {}
    attached: dict[str, list[str]] = {}
    for digest, tags in tags_by_digest.items():
        own = []
        for tag in tags:
            subject = attached_subject(tag)
            if subject is None:
                own.append(tag)
            else:
                attached.setdefault(subject, []).append(tag)
        if own:
            images[digest] = sorted(own)
    return images, {subject: sorted(tags) for subject, tags in attached.items()}


def platform_digests(index: bytes) -> list[str]:
    """The platform manifests of an image index, to sign each besides the index (as ``cosign sign
    --recursive``); BuildKit's attestation manifests (``vnd.docker.reference.type``) are left out."""
    try:
        doc = json.loads(index)
        manifests = doc.get("manifests") or []
    except (ValueError, AttributeError):
        raise SigningError("not an image index", hint="give the index manifest bytes as the registry holds them") from None
    out = []
    for desc in manifests:
        annotations = desc.get("annotations") or {}
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        if isinstance(desc.get("digest"), str) and _SHA256.match(desc["digest"]):
            out.append(desc["digest"])
    return list(dict.fromkeys(out))
