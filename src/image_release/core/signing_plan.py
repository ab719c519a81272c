"""What the sign step does (pure): from what was published and the signing settings, the actions, and what
the release notes say about it.

Every tag of a release shares one digest, so each image repository gets one ``Attest`` (the SBOM and the
provenance, when on) and then one ``Sign`` of that digest: attestations first, so that the signed payload
can list them (``dev.image-release/attestations``) and a verifier notices one that goes missing. A dry run
knows no digest yet: the actions then name the tag the digest will be read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from image_release.core.actions import Action, Attest, Sign
from image_release.core.attestation import SLSA_PROVENANCE_V1, sbom_format

KEY, COSIGN = "key", "cosign"
PUBLIC_KEY_FILE = "cosign.pub"  # what the notes tell people to verify with
_SBOM_NAMES = {"cyclonedx": "CycloneDX", "spdx": "SPDX"}


@dataclass(frozen=True)
class SigningInputs:
    """The signing settings as the decision needs them."""

    mode: str = KEY  # key | cosign
    keyless: bool = False  # cosign without a key: the CI's OIDC identity
    sbom: str | None = None  # cyclonedx | spdx | None
    provenance: Any = None  # core.provenance.BuildFacts, or None (off)

    @property
    def attestations(self) -> tuple[str, ...]:
        types = [sbom_format(self.sbom).predicate_type] if self.sbom else []
        return tuple(types + ([SLSA_PROVENANCE_V1] if self.provenance is not None else []))


def signing_actions(images: Sequence[str], tag: str | None, inputs: SigningInputs,
                    digests: Mapping[str, str | None] | None = None) -> list[Action]:
    """Per image: ``Attest`` (when an SBOM or provenance is on), then ``Sign``. ``digests``: what ``tag``
    resolves to in each image, as read back after publishing (none in a dry run)."""
    if not tag:
        return []
    out: list[Action] = []
    for image in images:
        digest = (digests or {}).get(image)
        if inputs.sbom or inputs.provenance is not None:
            out.append(Attest(image, tag, sbom=inputs.sbom, provenance=inputs.provenance, mode=inputs.mode,
                              digest=digest))
        out.append(Sign(image, tag, attestations=inputs.attestations, mode=inputs.mode, keyless=inputs.keyless,
                        digest=digest))
    return out


@dataclass(frozen=True)
class SignedNote:
    """What the release notes say about the signature: the command that verifies it, what is attested, and
    the SBOM's release asset."""

    command: str
    attestations: tuple[str, ...] = ()  # human names: "SBOM (CycloneDX JSON)", "SLSA provenance v1"
    sbom_asset: str | None = None
    keyless: bool = False


def verify_command(image: str, ref: str, inputs: SigningInputs, identity: tuple[str, str] | None = None) -> str:
    """The command that verifies ``image`` at ``ref`` (``@sha256:...`` or ``:tag``): this tool's own with
    the public key, or for a keyless cosign signature cosign's, with the identity (certificate identity
    regexp, OIDC issuer) it was signed with."""
    target = f"{image}{ref}"
    if inputs.mode == COSIGN and inputs.keyless:
        who, issuer = identity or (".*", "<the OIDC issuer of the CI>")
        return (f"cosign verify {target} --certificate-identity-regexp '{who}' "
                f"--certificate-oidc-issuer '{issuer}'")
    return f"image-release verify {target} --key {PUBLIC_KEY_FILE}"


def keyless_identity(ci: str | None, server_url: str | None, repository: str | None,
                     env: Mapping[str, str]) -> tuple[str, str] | None:
    """(certificate identity regexp, OIDC issuer) of a keyless signature made in this CI, from its variables
    (given, not read): GitHub Actions signs as the workflow of the repository, GitLab CI as the project."""
    if not (server_url and repository):
        return None
    base = server_url.rstrip("/") + "/" + repository
    if ci == "github":
        return f"^{_escape(base)}/", "https://token.actions.githubusercontent.com"
    if ci == "gitlab":
        return f"^{_escape(base)}//", env.get("CI_SERVER_URL", server_url).rstrip("/")
    return None


def _escape(text: str) -> str:
    import re

    return re.sub(r"([.?*+^$(){}\[\]|\\])", r"\\\1", text)


def signed_note(image: str | None, digest: str | None, version_tag: str | None, inputs: SigningInputs,
                identity: tuple[str, str] | None = None, sbom_asset: str | None = None) -> SignedNote | None:
    """The notes' signature section for ``image`` (the first one), or None without an image."""
    if not image:
        return None
    ref = f"@{digest}" if digest else f":{version_tag}" if version_tag else ""
    names = [f"SBOM ({_SBOM_NAMES.get(inputs.sbom, inputs.sbom)} JSON)"] if inputs.sbom else []
    names += ["SLSA provenance v1"] if inputs.provenance is not None else []
    return SignedNote(verify_command(image, ref, inputs, identity), tuple(names), sbom_asset, inputs.keyless)


def sbom_asset_name(fmt: str, version: str) -> str:
    """The release asset holding the SBOM: ``sbom-1.2.3.cdx.json`` / ``sbom-1.2.3.spdx.json``."""
    return f"sbom-{version}{sbom_format(fmt).suffix}"
