"""SemVer versions from git tags (pure), on top of the ``semver`` library.

A release tag is ``v`` + a SemVer 2.0 version (``v1.2.3``, ``v2.0.0-rc.1``, ``v1.2.3+build.5``);
the ``v`` is optional. Anything else is a :class:`VersionError` that shows the expected form.
Versions are ``semver.Version`` objects: ordering is SemVer precedence, build metadata is ignored.
"""

from __future__ import annotations

from typing import Iterable

import semver

from image_release.errors import VersionError

Version = semver.Version

EXPECTED = "vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. v1.2.3 or v2.0.0-rc.1"


def parse_version(text: str) -> Version:
    """Parse ``1.2.3`` or ``v1.2.3`` strictly, or raise :class:`VersionError` with the expected form."""
    if not isinstance(text, str):
        raise VersionError(f"{text!r} is not a version tag", hint=f"use the form {EXPECTED}")
    raw = text.strip()
    body = raw[1:] if raw[:1] in ("v", "V") else raw
    try:
        return Version.parse(body)
    except (ValueError, TypeError):
        raise VersionError(
            f"{text!r} is not a SemVer version tag",
            hint=f"use the form {EXPECTED} (see https://semver.org)",
        ) from None


def parse_tag_lenient(text: str) -> Version | None:
    """Parse a tag that may or may not be a version: None instead of an error."""
    try:
        return parse_version(text)
    except VersionError:
        return None


def is_prerelease(v: Version) -> bool:
    return v.prerelease is not None


def docker_tag(v: Version) -> str:
    """The version as a Docker tag: ``+`` is not allowed there, so it becomes ``-`` (as metadata-action does)."""
    return str(v).replace("+", "-")


def highest(versions: Iterable[Version], *, stable_only: bool = True) -> Version | None:
    pool = [v for v in versions if not (stable_only and is_prerelease(v))]
    return max(pool) if pool else None
