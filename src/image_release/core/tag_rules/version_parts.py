"""The version a semver/pep440 rule reads, as metadata-action parses it (node-semver's strict form,
PEP 440 through ``packaging``), and the ``{{raw}}``/``{{version}}``/``{{major}}``... values it gives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from image_release.errors import RuleError


@dataclass(frozen=True)
class _VersionVars:
    raw: str
    version: str
    major: int
    minor: int
    patch: int
    unstable: bool  # semver prerelease, or pep440 pre/post/dev release


_NUM = r"(?:0|[1-9]\d*)"

_PRE_ID = r"(?:\d*[a-zA-Z-][a-zA-Z0-9-]*|0|[1-9]\d*)"

_SEMVER_RE = re.compile(
    rf"^v?({_NUM})\.({_NUM})\.({_NUM})(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?(?:\+([a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*))?$",
    re.ASCII,
)

_MAX_SAFE_INTEGER = 2**53 - 1


@lru_cache(maxsize=4096)
def _parse_semver(text: str) -> _VersionVars | None:
    """Parse like node-semver's ``semver.valid``/``semver.parse`` (what metadata-action uses)."""
    raw = text.strip()
    if len(raw) > 256:
        return None
    m = _SEMVER_RE.match(raw)
    if not m:
        return None
    major, minor, patch = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if max(major, minor, patch) > _MAX_SAFE_INTEGER:
        return None
    pre = m.group(4)
    version = f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")  # node-semver drops build metadata
    return _VersionVars(raw, version, major, minor, patch, bool(pre))


@lru_cache(maxsize=4096)
def _parse_pep440(text: str) -> _VersionVars | None:
    from packaging.version import InvalidVersion, Version

    try:
        v = Version(text)
    except (InvalidVersion, TypeError, ValueError):
        return None
    unstable = v.is_prerelease or v.is_postrelease or v.is_devrelease
    return _VersionVars(text, str(v), v.major, v.minor, v.micro, unstable)


def _version_vars(version) -> _VersionVars:
    if isinstance(version, _VersionVars):
        return version
    if isinstance(version, str):
        got = _parse_semver(version) or _parse_pep440(version)
        if got is None:
            raise RuleError(f"{version!r} is neither a SemVer nor a PEP 440 version", hint="pass a version such as v1.2.3")
        return got
    try:
        import semver as _semver

        if isinstance(version, _semver.Version):
            got = _parse_semver(str(version))
            if got is not None:
                return got
    except ImportError:  # pragma: no cover
        pass
    try:
        from packaging.version import Version as _PVersion

        if isinstance(version, _PVersion):
            got = _parse_pep440(str(version))
            if got is not None:
                return got
    except ImportError:  # pragma: no cover
        pass
    raise RuleError(f"{version!r} is not a version", hint="pass a str, semver.Version or packaging Version")
