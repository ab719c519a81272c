"""Reading and writing cosign's ``.sig`` and ``.att`` objects through the registry client.

The objects themselves are built in ``core/signing.py`` and ``core/attestation.py``; this module only moves
bytes: it uploads the blobs a manifest references (``POST`` + ``PUT`` per blob, the OCI monolithic upload),
puts the manifest under ``sha256-<hex>.sig``/``.att``, reads objects back (manifest and blobs, each checked
against its digest) and deletes them with their image.

What one signature costs the registry: a ``GET`` of the existing ``.sig`` manifest (404 the first time, else
its blobs are read too), two blobs (config and payload: 2 requests each) and **one manifest PUT**. An
attestation is the same under ``.att``. Signing again with the same key and payload writes nothing.

Blob uploads go through the client's authenticated call (``RegistryClient._call``: retries, token scopes,
request stats) because ``RegistryClient`` has no blob API yet; see the report for moving ``put_blob`` and
``get_blob`` into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping
from urllib.parse import urljoin, urlsplit

from image_release.adapters.registry import Manifest, RegistryClient
from image_release.core import attestation as att
from image_release.core import signing
from image_release.core.signing import AttachedObject, SigningError
from image_release.core.verify import VerifyResult, verify_image
from image_release.errors import RegistryError

MAX_BLOB = 64 * 1024 * 1024  # an SBOM of a large image is a few MB; refuse to read more than this


@dataclass(frozen=True)
class AttachResult:
    """What ``sign_image``/``attest_image`` did: the tag, the object's manifest digest, whether it was written
    (False: an identical signature by the same key was already there) and how many blobs were uploaded."""

    tag: str
    digest: str
    written: bool
    blobs: int = 0


@dataclass(frozen=True)
class VerificationInput:
    """Everything ``core.verify.verify_image`` reads, as read from the registry."""

    digest: str
    signatures: bytes | None = field(repr=False)
    attestations: bytes | None = field(repr=False)
    blobs: Mapping[str, bytes] = field(repr=False, default_factory=dict)


def cosign_reference(client: RegistryClient, repo: str) -> str:
    """The repository as cosign names it in payloads and subjects: ``registry/repo`` (Docker Hub:
    ``index.docker.io/...``, as go-containerregistry writes it)."""
    host = "index.docker.io" if client.host == "docker.io" else client.host
    return f"{host}/{repo}"


# -- blobs ---------------------------------------------------------------------------------------------------


def put_blob(client: RegistryClient, repo: str, data: bytes) -> str:
    """Upload ``data`` as a blob of ``repo`` (POST an upload, PUT it with its digest). Returns the digest."""
    digest = signing.sha256_digest(data)
    what = f"upload blob {digest[:19]} to {client.host}/{repo}"
    resp = client._call("POST", f"/v2/{repo}/blobs/uploads/", repo=repo, actions=("pull", "push"), what=what)
    if resp.status_code != 202 or not resp.headers.get("Location"):
        raise client._fail(resp, what)
    location = urljoin(client.base + "/", resp.headers["Location"])
    if urlsplit(location).netloc != urlsplit(client.base).netloc:
        raise RegistryError(f"registry {client.host} sends the upload of {repo} to another host "
                            f"({urlsplit(location).netloc})", hint="refusing to send credentials there")
    location += ("&" if "?" in location else "?") + f"digest={digest}"
    resp = client._call("PUT", location, repo=repo, actions=("pull", "push"), data=data, what=what,
                        headers={"Content-Type": "application/octet-stream"})
    if resp.status_code not in (201, 204):
        raise client._fail(resp, what)
    return digest


def get_blob(client: RegistryClient, repo: str, digest: str) -> bytes | None:
    """The blob ``digest`` of ``repo``, checked against its digest; None when the registry has none."""
    what = f"GET blob {client.host}/{repo}@{digest}"
    resp = client._call("GET", f"/v2/{repo}/blobs/{digest}", repo=repo, actions=("pull",), what=what)
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise client._fail(resp, what)
    data = resp.content or b""
    if len(data) > MAX_BLOB:
        raise RegistryError(f"blob {digest} of {repo} is larger than {MAX_BLOB} bytes",
                            hint="a signature or attestation is never that large: check what the tag holds")
    if signing.sha256_digest(data) != digest:
        return None  # not the blob the manifest names: treated as missing (verification says so)
    return data


# -- objects -------------------------------------------------------------------------------------------------


def read_object(client: RegistryClient, repo: str, tag: str) -> tuple[bytes | None, dict[str, bytes]]:
    """The manifest bytes under ``tag`` (None when absent) and the blobs it references that could be read."""
    try:
        manifest = client.get_manifest(repo, tag)
    except RegistryError as exc:
        if exc.status == 404:
            return None, {}
        raise
    blobs: dict[str, bytes] = {}
    try:
        digests = signing.layer_digests(manifest.raw)
    except SigningError:
        return manifest.raw, blobs
    for digest in dict.fromkeys(digests):
        data = get_blob(client, repo, digest)
        if data is not None:
            blobs[digest] = data
    return manifest.raw, blobs


def load_object(client: RegistryClient, repo: str, tag: str) -> AttachedObject | None:
    """The object under ``tag`` for appending to it; None when absent. SigningError when it is broken."""
    manifest, blobs = read_object(client, repo, tag)
    if manifest is None:
        return None
    config_digest = signing.layer_digests(manifest)[0]
    if config_digest not in blobs:
        raise SigningError(f"the config blob of {client.host}/{repo}:{tag} is missing",
                           hint=f"delete the tag {tag} (it will be written anew) and sign again")
    return signing.parse_object(manifest, blobs[config_digest], blobs)


def write_object(client: RegistryClient, repo: str, tag: str, obj: AttachedObject,
                 present: Iterable[str] = ()) -> int:
    """Upload the blobs of ``obj`` except those ``present`` (read from the registry just before), then put
    its manifest under ``tag``. Returns the number of blobs uploaded."""
    uploaded, skip = 0, set(present)
    for digest, data in obj.blobs():
        if digest in skip:
            continue
        put_blob(client, repo, data)
        uploaded += 1
    client.put_manifest(repo, tag, Manifest.from_bytes(obj.manifest, obj.media_type))
    return uploaded


def _attach(client: RegistryClient, repo: str, tag: str, layer: signing.Layer, **rules: Any) -> AttachResult:
    existing = load_object(client, repo, tag)
    new = signing.append_layer(existing, layer, **rules)
    if new is None:
        assert existing is not None
        return AttachResult(tag, existing.digest, False)
    present = [d for d, _data in existing.blobs()] if existing is not None else []
    return AttachResult(tag, new.digest, True, write_object(client, repo, tag, new, present))


def sign_image(client: RegistryClient, repo: str, digest: str, signer: Any, *,
               annotations: Mapping[str, Any] | None = None, attestations: Iterable[str] = (),
               docker_reference: str | None = None) -> AttachResult:
    """Sign ``repo@digest`` in cosign's format and append the signature to ``sha256-<hex>.sig``.

    ``attestations``: the predicate types attested for this digest; the signed payload lists them so that
    verification notices one that goes missing. ``annotations``: more optional claims (cosign's ``-a``).
    A signature by the same key over the same payload already there: nothing is written."""
    optional = dict(annotations or {})
    types = list(dict.fromkeys(attestations))
    if types:
        optional[signing.ATTESTATIONS_CLAIM] = ",".join(types)
    payload = signing.simple_signing_payload(docker_reference or cosign_reference(client, repo), digest, optional)
    layer = signing.sign_payload(payload, signer)
    return _attach(client, repo, signing.signature_tag(digest), layer,
                   keep=signing.same_signature(payload, signer.verifier()))


def attest_image(client: RegistryClient, repo: str, digest: str, signer: Any, predicate_type: str,
                 predicate: Mapping[str, Any], *, same_content: bool = True,
                 subject_name: str | None = None) -> AttachResult:
    """Attest ``predicate`` about ``repo@digest`` (Statement v1 in a DSSE envelope signed by ``signer``) and
    store it in ``sha256-<hex>.att``, replacing an attestation of the same predicate type.

    An attestation of that type already there, signed by the same key, with the same statement (or, with
    ``same_content=False``, about the same digest: an SBOM made again differs only in timestamps) is kept
    and nothing is written."""
    layer = att.attest(subject_name or cosign_reference(client, repo), digest, predicate_type, predicate, signer)
    return _attach(client, repo, signing.attestation_tag(digest), layer,
                   keep=att.same_attestation(layer, signer.verifier(), same_content=same_content),
                   replace=att.same_predicate_type(layer))


# -- verification and lifecycle ------------------------------------------------------------------------------


def read_verification_input(client: RegistryClient, repo: str, ref: str) -> VerificationInput:
    """Resolve ``ref`` (tag or digest) and read its ``.sig`` and ``.att`` objects with their blobs."""
    info = client.head_manifest(repo, ref)
    if info is None:
        raise RegistryError(f"{client.host}/{repo}:{ref} does not exist", status=404,
                            hint="check the image name and tag (skopeo list-tags docker://IMAGE)")
    sig, sig_blobs = read_object(client, repo, signing.signature_tag(info.digest))
    attn, att_blobs = read_object(client, repo, signing.attestation_tag(info.digest))
    return VerificationInput(info.digest, sig, attn, {**sig_blobs, **att_blobs})


def verify_reference(client: RegistryClient, repo: str, ref: str, verifier: Any,
                     expect_attestations: Iterable[str] = ()) -> VerifyResult:
    """Read and verify ``repo:ref`` (``invoke verify IMAGE:TAG --key cosign.pub``)."""
    data = read_verification_input(client, repo, ref)
    sep = "@" if ref.startswith("sha256:") else ":"
    return verify_image(reference=f"{client.host}/{repo}{sep}{ref}", digest=data.digest, verifier=verifier,
                        signatures=data.signatures, attestations=data.attestations, blobs=data.blobs,
                        expect_attestations=expect_attestations)
