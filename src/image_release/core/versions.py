"""SemVer versions from git tags and registry tags (pure), on top of the ``semver`` library.

A release tag is ``v`` + a SemVer 2.0 version (``v1.2.3``, ``v2.0.0-rc.1``, ``v1.2.3+build.5``);
the ``v`` is optional. Anything else is a :class:`VersionError` that shows the expected form.
Versions are ``semver.Version`` objects: ordering is SemVer precedence, build metadata is ignored.

Two readings, one each:

- a **git tag** -> version: :func:`parse_version` (strict, raises) and :func:`parse_tag_lenient`
  (None for a tag that is not a version);
- a **registry tag** -> version: :func:`registry_tag_version`. A release writes its version tag as
  the flavor's prefix + :func:`docker_tag` + the flavor's suffix (``app-1.2.0-alpine``), so only that
  form is a version there: no ``v`` (a ``v`` is the flavor's prefix, if anything), no ``+``.
  :func:`version_tag_regex` is the same definition as a regular expression (RE2 and Python syntax),
  for registries that select tags by regex (GitLab's cleanup).
"""

from __future__ import annotations

import re
from typing import Iterable

import semver

from image_release.errors import VersionError

Version = semver.Version

EXPECTED = "vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], e.g. v1.2.3 or v2.0.0-rc.1"


def parse_version(text: str) -> Version:
    """Parse ``1.2.3`` or ``v1.2.3`` strictly, or raise :class:`VersionError` with the expected form.

    Strict means what the tag rules (node-semver's strict form, as metadata-action uses) accept too:
    a lowercase ``v`` only, and no whitespace anywhere - a tag that this accepted but the rules did
    not would be planned as a release that publishes nothing.
    """
    if not isinstance(text, str):
        raise VersionError(f"{text!r} is not a version tag", hint=f"use the form {EXPECTED}")
    body = text[1:] if text[:1] == "v" else text
    try:
        if not body or not body.isascii() or any(c.isspace() for c in body):
            raise ValueError(body)
        return Version.parse(body)
    except (ValueError, TypeError):
        raise VersionError(
            f"{text!r} is not a SemVer version tag{_why(text)}",
            hint=f"use the form {EXPECTED} (see https://semver.org)",
        ) from None


def _why(text: str) -> str:
    """A short reason for the common mistakes (the hint shows the form)."""
    if not text.strip():
        return ": it is empty"
    if any(c.isspace() for c in text):
        return ": it contains whitespace"
    if text[:1] == "V":
        return ": write the prefix as a lowercase v"
    body = text[1:] if text[:1] == "v" else text
    core = re.split(r"[-+]", body, maxsplit=1)[0]
    parts = core.split(".")
    if not all(p.isdigit() and p.isascii() for p in parts):
        return ""
    if len(parts) < 3:
        return f": it has {len(parts)} number{'s' if len(parts) > 1 else ''}, SemVer needs MAJOR.MINOR.PATCH"
    if len(parts) > 3:
        return f": it has {len(parts)} numbers, SemVer has exactly three (MAJOR.MINOR.PATCH)"
    if any(len(p) > 1 and p[0] == "0" for p in parts):
        return ": numbers must not have leading zeros"
    rest = body[len(core):]
    pre, _, build = rest.partition("+")
    fields = ([pre[1:]] if pre else []) + ([build] if "+" in rest else [])
    if any("" in f.split(".") for f in fields):
        return ": the prerelease or build part has an empty identifier"
    return ""


def parse_tag_lenient(text: str) -> Version | None:
    """Parse a tag that may or may not be a version: None instead of an error."""
    try:
        return parse_version(text)
    except VersionError:
        return None


# A SemVer version as a Docker tag (docker_tag: no "v", no build metadata): the one definition of a
# version tag in a registry. Numeric identifiers have no leading zeros; ASCII only.
_NUM = r"(0|[1-9][0-9]*)"
_PRE_ID = r"(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_DOCKER_VERSION = rf"{_NUM}\.{_NUM}\.{_NUM}(-{_PRE_ID}(\.{_PRE_ID})*)?"
_DOCKER_VERSION_RE = re.compile(_DOCKER_VERSION)


def registry_tag_version(tag: str, prefix: str = "", suffix: str = "") -> Version | None:
    """The version a registry tag names, or None: the tag must be ``prefix`` + a SemVer version as
    :func:`docker_tag` writes it + ``suffix`` (``1.2.0-alpine`` with ``suffix=-alpine`` is 1.2.0, not
    the prerelease ``1.2.0-alpine``; ``v1.2.0`` is a version only with the prefix ``v``)."""
    if not isinstance(tag, str) or len(tag) <= len(prefix) + len(suffix):
        return None
    if not (tag.startswith(prefix) and tag.endswith(suffix)):
        return None
    body = tag[len(prefix): len(tag) - len(suffix)]
    if not _DOCKER_VERSION_RE.fullmatch(body):
        return None
    return Version.parse(body)


def registry_versions(tags: Iterable[str], prefix: str = "", suffix: str = "") -> list[Version]:
    """The versions among a registry's tags (:func:`registry_tag_version` of each, Nones dropped)."""
    return [v for v in (registry_tag_version(t, prefix, suffix) for t in tags) if v is not None]


def version_tag_regex(prefix: str = "", suffix: str = "") -> str:
    """:func:`registry_tag_version`'s definition as a regular expression (unanchored: the caller
    matches the whole tag), e.g. for GitLab's ``name_regex_delete``. Valid RE2 and Python syntax."""
    return _escape(prefix) + _DOCKER_VERSION + _escape(suffix)


def _escape(text: str) -> str:
    # Every ASCII punctuation character escaped: the same meaning in RE2 and Python.
    return "".join("\\" + c if c.isascii() and not c.isalnum() and c != "_" else c for c in text)


def _identifier_key(identifier: str) -> tuple[int, int, str]:
    # semver's own order of prerelease identifiers: numbers (by value) before words (by text)
    if not identifier.isdigit():
        return (1, 0, identifier)
    if not identifier.isascii():
        identifier = str(int(identifier))
    normalized = identifier.lstrip("0") or "0"
    return (0, len(normalized), normalized)


def precedence(v: Version) -> tuple:
    """SemVer precedence as a sort key: ``precedence(a) < precedence(b)`` exactly when ``a < b`` (build
    metadata ignored), at a fraction of the cost of comparing ``semver.Version`` objects, which matters
    when a registry holds thousands of versions."""
    if v.prerelease is None:
        return (v.major, v.minor, v.patch, (1,))
    return (v.major, v.minor, v.patch, (0, tuple(_identifier_key(i) for i in v.prerelease.split("."))))


def sorted_versions(versions: Iterable[Version]) -> list[Version]:
    """The distinct versions (build metadata ignored), lowest first: one sort, by :func:`precedence`."""
    return sorted(set(versions), key=precedence)


def is_prerelease(v: Version) -> bool:
    return v.prerelease is not None


def docker_tag(v: Version) -> str:
    """The version as a Docker tag: ``+`` is not allowed there, so it becomes ``-`` (as metadata-action does)."""
    return str(v).replace("+", "-")


def highest(versions: Iterable[Version], *, stable_only: bool = True) -> Version | None:
    pool = [v for v in versions if not (stable_only and is_prerelease(v))]
    return max(pool) if pool else None
