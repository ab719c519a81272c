"""What the engine reports: about itself (``EngineInfo``) and about a build (``BuildResult``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineInfo:
    server_version: str
    api_version: str
    os: str
    arch: str
    buildkit: bool  # a BuildKit build path works
    buildkit_via: str | None  # "buildx" | "classic-cli" | None
    cli: str | None  # absolute path of the docker CLI used for BuildKit builds
    cli_version: str | None
    notes: tuple[str, ...] = ()  # why candidate CLIs were passed over


@dataclass(frozen=True)
class BuildResult:
    """One build's result. ``image_id`` is the local image (config digest) for a ``load`` (and, on the
    classic builder and a classic CLI, ``oci:``) output; empty for ``cache-only`` and a buildx push.
    ``digest``: the manifest (or index) digest the build pushed. ``oci_layout``: the OCI image layout
    directory of an ``oci:`` output, with ``oci_digest`` the digest of the manifest (or index) its
    ``index.json`` names. ``platform``: ``os/arch[/variant]`` of a one-platform image, when known."""

    image_id: str
    tags: tuple[str, ...]
    builder: str  # "sdk" | "buildkit"
    digest: str | None = None  # manifest digest, only when the build pushed
    pushed: bool = False  # True when the build itself pushed its tags (output push)
    output: str = "load"  # the BuildSpec.output it honoured
    oci_layout: str | None = None
    oci_digest: str | None = None
    platform: str | None = None
