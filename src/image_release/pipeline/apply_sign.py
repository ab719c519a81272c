"""Handlers of the signing actions: the attestations (the SBOM made by syft, SLSA provenance) and the
signature, in cosign's format, written by this tool (``release.sign.mode: key``) or by a cosign binary
(``mode: cosign``).

With a key, each repository's ``.att`` object is read once, both attestations are appended in memory and
it is written back with one manifest PUT (plus the blobs it lacks); the ``.sig`` object the same way, per
digest signed (an index and each of its platform manifests). An attestation of the same type already there, signed
by the same key about the same digest, is kept (the first SBOM and provenance of a digest stay): a re-run
writes nothing, and an SBOM already attested is not made again.
cosign signs a digest once too: a digest whose ``.sig`` already holds a payload naming it is not signed
again, an attestation type already attached is not attested again.

What the run learnt (the signer, the SBOM for the release asset, what was signed) is kept in the run's
results as ``results.signing`` (:class:`SignState`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from image_release.core import attestation as att
from image_release.core import signing
from image_release.core.image_ref import is_plain_http, short_digest
from image_release.errors import SigningError

COSIGN = "cosign"


@dataclass
class SignState:
    """What the sign step did in this run."""

    signer: Any = field(default=None, repr=False)  # the loaded key (adapters.keys.EcdsaSigner)
    sbom: tuple[str, bytes] | None = field(default=None, repr=False)  # (format, SBOM JSON) for the release asset
    sboms: dict[str, bytes] = field(default_factory=dict, repr=False)  # digest -> SBOM made in this run
    signed: list[str] = field(default_factory=list)  # image@digest
    attested: list[str] = field(default_factory=list)  # image@digest


def state(run) -> SignState:
    found = getattr(run.results, "signing", None)
    if found is None:
        found = SignState()
        run.results.signing = found
    return found


def signer(run):
    """The signing key of ``release.sign.key_env`` (its password from ``password_env``), loaded once."""
    st = state(run)
    if st.signer is None:
        from image_release.adapters.keys import signer_from_env

        s = run.settings.sign
        st.signer = signer_from_env(run.env, s.key_env, s.password_env)
    return st.signer


def _digest(run, action) -> str:
    digest = action.digest or run.results.resolved.get(action.image, {}).get(action.tag)
    if not digest:
        raise SigningError(f"{action.image}:{action.tag} was not published in this run: nothing to sign",
                           hint="run `invoke push` (or `invoke release`): signing follows the publish step")
    return digest


# -- attestations --------------------------------------------------------------------------------------------


def attest(run, action) -> None:
    """Attest the published digest: the SBOM (made by syft unless already attested) and the provenance."""
    name, client = run.registry_for(action.image)
    repo, digest = name.repository, _digest(run, action)
    if action.mode == COSIGN:
        return _cosign_attest(run, action, client, repo, digest)
    from image_release.adapters import signatures as sigs
    from image_release.core.provenance import provenance_predicate

    key = signer(run)
    verifier, subject = key.verifier(), sigs.cosign_reference(client, repo)
    tag = signing.attestation_tag(digest)
    existing = sigs.load_object(client, repo, tag)
    obj, made = existing, []
    if action.sbom:
        fmt = att.sbom_format(action.sbom)
        found = existing and att.find_attestation(existing.layers, digest, fmt.predicate_type, verifier)
        predicate = _predicate(found) if found else json.loads(_sbom(run, client, repo, digest, fmt))
        state(run).sbom = (fmt.name, _asset_bytes(predicate))
        if not found:
            obj = _append(obj, att.attest(subject, digest, fmt.predicate_type, predicate, key), verifier, made,
                          same_content=False)
    if action.provenance is not None:  # the first provenance of a digest stays (a CI re-run has another run URL)
        layer = att.attest(subject, digest, att.SLSA_PROVENANCE_V1, provenance_predicate(action.provenance), key)
        obj = _append(obj, layer, verifier, made, same_content=False)
    state(run).attested.append(f"{action.image}@{digest}")
    if not made:
        run.say(f"attestations of {action.image}@{short_digest(digest)} are there ({tag}): nothing written")
        return
    present = [d for d, _data in existing.blobs()] if existing is not None else []
    blobs = sigs.write_object(client, repo, tag, obj, present)
    run.say(f"attested {action.image}@{short_digest(digest)}: {', '.join(made)} -> {tag} "
            f"({blobs} blob(s) and 1 manifest written)")


def _append(obj, layer, verifier, made: list[str], same_content: bool):
    new = signing.append_layer(obj, layer, keep=att.same_attestation(layer, verifier, same_content=same_content),
                               replace=att.same_predicate_type(layer))
    if new is None:
        return obj
    made.append(layer.predicate_type or "attestation")
    return new


def _predicate(layer) -> Any:
    return att.parse_statement(att.parse_envelope(layer.data).payload).predicate


def _asset_bytes(predicate: Any) -> bytes:
    """The SBOM as the release asset: the attested document, the same bytes on every run."""
    return (json.dumps(predicate, indent=2, ensure_ascii=False) + "\n").encode()


def _sbom(run, client, repo: str, digest: str, fmt) -> bytes:
    """syft's SBOM of ``digest``, read from the registry; made once per digest in a run."""
    st = state(run)
    if digest not in st.sboms:
        from image_release.adapters.syft import generate_sbom

        run.say(f"making the {fmt.name} SBOM of {client.host}/{repo}@{short_digest(digest)} with syft")
        st.sboms[digest] = generate_sbom(client.host, repo, digest, fmt, credentials=client.credentials)
    return st.sboms[digest]


# -- signatures ----------------------------------------------------------------------------------------------


def sign(run, action) -> None:
    """Sign the published digest, and each platform manifest of an index; the payload of the top one lists
    the attestations made."""
    name, client = run.registry_for(action.image)
    repo, digest = name.repository, _digest(run, action)
    if action.mode == COSIGN:
        return _cosign_sign(run, action, client, repo, digest)
    from image_release.adapters import signatures as sigs

    key = signer(run)
    for subject in subjects(client, repo, digest):
        result = sigs.sign_image(client, repo, subject, key,
                                 attestations=action.attestations if subject == digest else ())
        if result.written:
            run.say(f"signed {action.image}@{short_digest(subject)} -> {result.tag} "
                    f"({result.blobs} blob(s) and 1 manifest written)")
        else:
            run.say(f"{action.image}@{short_digest(subject)} is signed by this key already ({result.tag}): "
                    "nothing written")
    state(run).signed.append(f"{action.image}@{digest}")


def subjects(client, repo: str, digest: str) -> list[str]:
    """``digest``, and the platform manifests it lists when it is an index (one manifest GET)."""
    manifest = client.get_manifest(repo, digest)
    if not manifest.is_index:
        return [digest]
    return [digest] + [d for d in signing.platform_digests(manifest.raw) if d != digest]


# -- through cosign ------------------------------------------------------------------------------------------


def _layers(client, repo: str, tag: str) -> list:
    """The layers of the object under ``tag`` whose blobs could be read (none when it is absent)."""
    from image_release.adapters import signatures as sigs

    manifest, blobs = sigs.read_object(client, repo, tag)
    if manifest is None:
        return []
    try:
        doc = json.loads(manifest)
    except ValueError:
        return []
    out = []
    for desc in doc.get("layers") or []:
        data = blobs.get(desc.get("digest")) if isinstance(desc, dict) else None
        if data is not None:
            out.append(signing.Layer(data, str(desc.get("mediaType") or ""),
                                     {str(k): str(v) for k, v in (desc.get("annotations") or {}).items()}))
    return out


def _signed_already(layers: list, digest: str) -> bool:
    for layer in layers:
        try:
            if signing.parse_simple_signing(layer.data).digest == digest:
                return True
        except SigningError:
            continue
    return False


def _attested_already(layers: list, digest: str, predicate_type: str) -> bool:
    for layer in layers:
        if layer.predicate_type != predicate_type:
            continue
        try:
            if any(d == digest for _n, d in att.parse_statement(att.parse_envelope(layer.data).payload).subjects):
                return True
        except SigningError:
            continue
    return False


def _cosign_sign(run, action, client, repo: str, digest: str) -> None:
    from image_release.adapters import cosign_cli

    ref = f"{client.host}/{repo}@{digest}"
    if _signed_already(_layers(client, repo, signing.signature_tag(digest)), digest):
        run.say(f"{action.image}@{short_digest(digest)} has a cosign signature already: not signed again")
    else:
        s = run.settings.sign
        notes = {signing.ATTESTATIONS_CLAIM: ",".join(action.attestations)} if action.attestations else {}
        cosign_cli.sign(cosign_cli.cosign_binary(run.env), ref, env=cosign_cli.cosign_env(run.env, s.password_env),
                        key_env=s.key_env, annotations=notes, plain_http=is_plain_http(client.host))
        run.say(f"signed {ref} with cosign" + (" (keyless)" if action.keyless else ""))
    state(run).signed.append(f"{action.image}@{digest}")


def _cosign_attest(run, action, client, repo: str, digest: str) -> None:
    from image_release.adapters import cosign_cli
    from image_release.core.provenance import provenance_predicate

    ref = f"{client.host}/{repo}@{digest}"
    layers = _layers(client, repo, signing.attestation_tag(digest))
    todo = []
    if action.sbom:
        fmt = att.sbom_format(action.sbom)
        found = next((l for l in layers if l.predicate_type == fmt.predicate_type and
                      _attested_already([l], digest, fmt.predicate_type)), None)
        predicate = _predicate(found) if found else json.loads(_sbom(run, client, repo, digest, fmt))
        state(run).sbom = (fmt.name, _asset_bytes(predicate))
        if not found:
            todo.append((fmt.predicate_type, predicate))
    if action.provenance is not None and not _attested_already(layers, digest, att.SLSA_PROVENANCE_V1):
        todo.append((att.SLSA_PROVENANCE_V1, provenance_predicate(action.provenance)))
    s = run.settings.sign
    for predicate_type, predicate in todo:
        cosign_cli.attest(cosign_cli.cosign_binary(run.env), ref, predicate_type, json.dumps(predicate).encode(),
                          env=cosign_cli.cosign_env(run.env, s.password_env), key_env=s.key_env,
                          plain_http=is_plain_http(client.host))
        run.say(f"attested {ref} with cosign: {predicate_type}")
    if not todo:
        run.say(f"attestations of {action.image}@{short_digest(digest)} are there: nothing attested")
    state(run).attested.append(f"{action.image}@{digest}")
