"""What a forge release should look like: plain data shared by the GitHub and GitLab adapters.

Pure: no I/O. The notes module fills ``body`` (already cut to the forge's limit); the
version logic decides ``prerelease`` and ``make_latest``; a forge adapter turns a
``ReleaseSpec`` into API calls and answers with a ``ReleaseResult``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Asset:
    """A file attached to the release (GitHub release asset)."""

    name: str
    content: bytes
    content_type: str = "application/octet-stream"

    def __repr__(self) -> str:  # keep reprs short: content may be large
        return f"Asset(name={self.name!r}, size={len(self.content)}, content_type={self.content_type!r})"


@dataclass(frozen=True)
class Link:
    """A release asset link (GitLab), e.g. to the image in the registry."""

    name: str
    url: str
    link_type: str = "image"


@dataclass(frozen=True)
class ReleaseSpec:
    """The release to create or update, keyed by ``tag``."""

    tag: str  # git tag, e.g. "v1.2.3"
    name: str  # "Release 1.2.3"
    body: str  # markdown, already cut to the forge limit by the notes module
    prerelease: bool
    make_latest: bool  # True only when this is the highest stable version
    target_commitish: str | None = None
    assets: tuple[Asset, ...] = ()
    replace_assets: bool = False
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class ForgeTarget:
    """Where a release goes: GitHub, GitLab, or no forge (the notes go to a file)."""

    kind: str  # github | gitlab | none
    project: str | None = None  # owner/repo, or GitLab project id/path
    api_url: str | None = None
    token_env: str | None = None  # the variable the token comes from (for messages)
    job_token: bool = False

    def describe(self) -> str:
        if self.kind == "none":
            return "no forge (notes written to a file)"
        return f"{self.kind} project {self.project} ({self.api_url})"


@dataclass(frozen=True)
class ReleaseResult:
    """What the forge holds after publishing."""

    url: str
    id: str
    created: bool  # False when an existing release for the tag was updated
    assets: tuple[str, ...] = ()  # asset names attached (uploaded or kept)
    links: tuple[str, ...] = ()  # link names attached
    kept_assets: tuple[str, ...] = ()  # same-named assets left as they were (replace_assets was False)
