"""Which release is "previous" (pure): given the version tags and which of them are ancestors.

The git adapter (``image_release.adapters.git_history``) reads the tags and answers the ancestry
questions this module asks; the decisions are here:

- only tags that are ancestors of the release count, so a backport ``v1.1.5`` made on a
  maintenance branch gets ``v1.1.4``, never ``v1.2.0`` from main;
- a final release's previous is the highest *final* version below it: ``v1.0.0`` after
  ``v0.9.0``, ``v1.0.0-rc.1`` and ``v1.0.0-rc.2`` lists everything since ``v0.9.0``, so the notes
  of a stable release cover the whole step from the last stable one;
- a prerelease's previous is the highest version of any kind below it (``v1.0.0-rc.2`` lists
  since ``v1.0.0-rc.1``);
- the same version under another name (``1.2.3`` next to ``v1.2.3``, or another ``+build``) is not
  "below" and never counts;
- with a tag prefix (monorepos: ``api/v1.2.0`` has the prefix ``api/``), only tags with that
  prefix are versions, read without it; without one, ``api/v1.2.0`` is no version at all.

This is how GoReleaser and semantic-release decide it. To ask git little, the candidates are
checked best first in batches (:func:`ancestry_batches`): the best one alone (the adapter proves it
with the boundary of one ``git log``), then the next few, then the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from image_release.core.versions import Version, is_prerelease, parse_tag_lenient, parse_version
from image_release.errors import VersionError

FIRST_BATCH = 8  # candidates checked in the first, cheap ancestry walk


class VersionTag(NamedTuple):
    """A git tag that is a version: its name, the version, the commit it points at."""

    name: str
    version: Version
    sha: str


def tag_version(tag: str, prefix: str = "") -> Version:
    """The version of the release tag ``tag`` (``prefix`` removed first); VersionError when the
    tag lacks the prefix or is no SemVer version after it."""
    if prefix and not tag.startswith(prefix):
        raise VersionError(f"tag {tag!r} does not start with the tag prefix {prefix!r}",
                           hint=f"release a tag of the form {prefix}v1.2.3, or fix the tag prefix")
    return parse_version(tag[len(prefix):])


def version_tags(refs: Iterable[tuple[str, str | None]], prefix: str = "") -> list[VersionTag]:
    """The tags among ``refs`` ((name, commit sha or None for a tag of a tree or blob)) that are
    versions, lowest version first (ties by name). With ``prefix``, only the tags that start with
    it, read without it (``api/v1.2.0`` is 1.2.0 for the prefix ``api/``)."""
    out: list[VersionTag] = []
    for name, sha in refs:
        if sha is None or not name.startswith(prefix):
            continue
        version = parse_tag_lenient(name[len(prefix):])
        if version is not None:
            out.append(VersionTag(name, version, sha))
    out.sort(key=lambda t: (t[1], t[0]))
    return out


def candidates(tag_version: Version, tags: Iterable[tuple[str, Version, str]]) -> list[VersionTag]:
    """The tags that could be the previous release of ``tag_version``, best first: versions below
    it (finals only, when it is a final; see the module doc), highest first, ties by name."""
    final = not is_prerelease(tag_version)
    pool = [VersionTag(*t) for t in tags if t[1] < tag_version and not (final and is_prerelease(t[1]))]
    pool.sort(key=lambda t: (t[1], t[0]), reverse=True)
    return pool


def pick_previous(tag_version: Version, ancestors: Iterable[tuple[str, Version, str]]) -> str | None:
    """The previous release among ``ancestors`` (tags known to be ancestors): see the module doc."""
    pool = candidates(tag_version, ancestors)
    return pool[0][0] if pool else None


def ancestry_batches(pool: list[VersionTag]) -> list[list[VersionTag]]:
    """The candidates to ask git about, in order: the few best first, then the rest (git stops
    walking once every tag asked about is found, so a small first batch walks little history)."""
    return [b for b in (pool[:FIRST_BATCH], pool[FIRST_BATCH:]) if b]


def first_ancestor(batch: Iterable[VersionTag], ancestors: set[str]) -> str | None:
    """The best tag of ``batch`` whose name git listed among the ancestors, or None."""
    return next((t.name for t in batch if t.name in ancestors), None)
