"""Which tags and manifests may be deleted (pure: plain data in, plain data out).

Two decisions, both made from ``tags_by_digest`` (manifest digest -> the tags pointing at it), as
read from the registry:

* :func:`plan_replacement` -- a re-release of ``X.Y.Z`` with changed content. The new image is
  published first (``X.Y.Z`` and this release's floating tags already moved to the new digest);
  the map is read *after* that, and the old digest is deleted only when no tag points at it any more.
  Deleting a manifest by digest removes every tag on it, so this is the only safe order: no pull
  of ``X.Y.Z`` or of a floating tag ever fails, and no tag this release did not publish changes.

* :func:`plan_retention` -- ``invoke clean --keep N``. Version tags are what the release writes:
  the flavor's prefix + the SemVer version + the flavor's suffix (``1.2.3``, ``2.0.0-rc.1``,
  ``1.2.3-alpine`` with ``suffix=-alpine``; build metadata ``+b5`` is written ``-b5`` and so reads as
  a prerelease), read by :func:`image_release.core.versions.registry_tag_version`. The N newest stable versions and the M newest prereleases are kept (counted
  apart), the other version tags go. Every other tag -- ``latest``, ``1.2``, ``1``, ``v1.2.3``,
  branch tags, anything matching a keep pattern or named as floating -- is never deleted, and
  neither is the manifest it points at. A manifest is deleted only once none of its tags survive;
  a deleted version tag that shares its manifest with a kept tag is removed alone (single-tag delete).

Every decision carries a reason in plain words, and the order of every list is deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import semver

from image_release.core.image_ref import short_digest
from image_release.core.versions import registry_tag_version
from image_release.errors import ConfigError

KEEP = "keep"
DELETE = "delete"


# ---------------------------------------------------------------------------------------------------
# Same-version replacement
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplacementPlan:
    """Whether the old manifest of a re-released version can go.

    ``delete_digest`` is the digest to delete (the old one) or None; ``still_tagged`` lists the tags
    that still point at the old digest (the reason it stays); ``reason`` says it in words.
    """

    version_tag: str
    old_digest: str | None
    new_digest: str
    delete_digest: str | None
    reason: str
    still_tagged: tuple[str, ...] = ()

    @property
    def action(self) -> str:
        return DELETE if self.delete_digest else KEEP

    def lines(self) -> list[str]:
        if self.delete_digest:
            return [f"delete {short_digest(self.delete_digest)} (old {self.version_tag}): {self.reason}"]
        return [f"keep: {self.reason}"]


def plan_replacement(
    version_tag: str,
    old_digest: str | None,
    new_digest: str,
    tags_by_digest: Mapping[str, Sequence[str]],
) -> ReplacementPlan:
    """Decide whether ``old_digest`` (what ``version_tag`` pointed at before this release) can be deleted.

    ``tags_by_digest`` must be read *after* the new image and this release's tags were published.
    """
    tags_by_digest = _normalise(tags_by_digest)

    def plan(delete: str | None, reason: str, still: Iterable[str] = ()) -> ReplacementPlan:
        return ReplacementPlan(version_tag, old_digest, new_digest, delete, reason, tuple(sorted(still)))

    if old_digest is None:
        return plan(None, f"{version_tag} did not exist before this release: there is no old image to remove")
    if old_digest == new_digest:
        return plan(None, f"{version_tag} already pointed at {short_digest(new_digest)}: the content did not change, "
                          "nothing to replace")
    now = _digest_of(tags_by_digest, version_tag)
    if now != new_digest:
        where = f"points at {short_digest(now)}" if now else "is missing"
        return plan(None, f"{version_tag} {where}, not at the new {short_digest(new_digest)}: the old image "
                          f"{short_digest(old_digest)} is kept until the new one is published under {version_tag}")
    still = tags_by_digest.get(old_digest, ())
    if still:
        return plan(
            None,
            f"the old {version_tag} image {short_digest(old_digest)} is still tagged {_join(sorted(still))}; "
            "deleting it would remove those tags too, so it stays",
            still,
        )
    return plan(
        old_digest,
        f"{version_tag} now points at {short_digest(new_digest)} and no tag points at the old "
        f"{short_digest(old_digest)} any more",
    )


# ---------------------------------------------------------------------------------------------------
# Retention
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetentionDecision:
    tag: str
    digest: str
    action: str  # "keep" | "delete"
    reason: str

    def line(self) -> str:
        return f"{self.action} {self.tag} ({short_digest(self.digest)}): {self.reason}"


@dataclass(frozen=True)
class DigestDecision:
    """What happens to a manifest. ``tags`` are all its tags; ``delete_whole`` means the manifest goes
    (with all its tags, all of which are deleted anyway); otherwise ``lone_tags`` are removed one by one
    and the manifest stays."""

    digest: str
    tags: tuple[str, ...]
    action: str  # "keep" | "delete"
    reason: str
    lone_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetentionPlan:
    keep: int
    keep_prereleases: int
    tags: tuple[RetentionDecision, ...]  # every tag, newest version first, then other tags by name
    digests: tuple[DigestDecision, ...]  # every tagged manifest, in the order of ``tags``
    keep_patterns: tuple[str, ...] = ()
    floating: tuple[str, ...] = field(default=())

    @property
    def deleted_tags(self) -> tuple[str, ...]:
        return tuple(d.tag for d in self.tags if d.action == DELETE)

    @property
    def deleted_digests(self) -> tuple[str, ...]:
        """Manifests to delete as a whole (all their tags go with them), oldest version first."""
        return tuple(d.digest for d in reversed(self.digests) if d.action == DELETE)

    @property
    def lone_tags(self) -> tuple[tuple[str, str], ...]:
        """(tag, digest) of deleted tags whose manifest stays (a kept tag shares it), oldest first."""
        out = []
        for d in reversed(self.digests):
            if d.action == KEEP:
                for t in d.lone_tags:
                    out.append((t, d.digest))
        return tuple(out)

    @property
    def empty(self) -> bool:
        return not self.deleted_tags

    def decision(self, tag: str) -> RetentionDecision:
        for d in self.tags:
            if d.tag == tag:
                return d
        raise KeyError(tag)

    def lines(self) -> list[str]:
        head = (f"retention: keep the {self.keep} newest release(s) and the {self.keep_prereleases} newest "
                f"prerelease(s); {len(self.deleted_tags)} of {len(self.tags)} tag(s) to delete")
        out = [head]
        out += ["  " + d.line() for d in self.tags]
        for d in self.digests:
            if d.action == DELETE:
                out.append(f"  delete manifest {short_digest(d.digest)} (tags {_join(d.tags)}): {d.reason}")
            elif d.lone_tags:
                out.append(f"  keep manifest {short_digest(d.digest)}: {d.reason}")
        return out


def plan_retention(
    tags_by_digest: Mapping[str, Sequence[str]],
    keep: int,
    keep_prereleases: int | None = None,
    keep_patterns: Sequence[str] = (),
    floating: Iterable[str] = (),
    *,
    prefix: str = "",
    suffix: str = "",
) -> RetentionPlan:
    """Keep the ``keep`` newest versions (and ``keep_prereleases`` newest prereleases; None: same as
    ``keep``), delete the other version tags, and the manifests none of whose tags survive.

    ``prefix``/``suffix`` are the flavor's (``suffix=-alpine``): only ``prefix + version + suffix``
    is a version tag then, and ``1.2.0-alpine`` is the release 1.2.0."""
    keep_prereleases = _check_limits(keep, keep_prereleases)
    patterns = _compile_patterns(keep_patterns)
    floating_set = set(floating)
    by_digest = _normalise(tags_by_digest)
    tag_digest = _digest_by_tag(by_digest)
    versions, protected = _classify(tag_digest, floating_set, patterns, prefix, suffix)
    decisions = _rank(versions, keep, keep_prereleases)
    for tag, reason in protected.items():
        decisions[tag] = (KEEP, reason)

    # Manifests: deleted only when none of their tags survive.
    kept_by_digest = {d: [t for t in tags if decisions[t][0] == KEEP] for d, tags in by_digest.items()}
    final: dict[str, tuple[str, str]] = {}
    for tag, (action, reason) in decisions.items():
        if action == DELETE and kept_by_digest[tag_digest[tag]]:
            others = sorted(kept_by_digest[tag_digest[tag]])
            reason += f"; only the tag goes, its image stays (also tagged {_join(others)}, kept)"
        final[tag] = (action, reason)

    order = sorted(tag_digest, key=_tag_order_key(versions))
    tag_decisions = tuple(RetentionDecision(t, tag_digest[t], final[t][0], final[t][1]) for t in order)
    return RetentionPlan(
        keep=keep,
        keep_prereleases=keep_prereleases,
        tags=tag_decisions,
        digests=_digest_decisions(order, tag_digest, by_digest, final, kept_by_digest, versions),
        keep_patterns=tuple(p.pattern for p in patterns),
        floating=tuple(sorted(floating_set)),
    )


def _check_limits(keep, keep_prereleases) -> int:
    """Validate ``keep`` and ``keep_prereleases``; the prerelease limit (None: same as keep)."""
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise ConfigError(
            f"keep must be a whole number of at least 1, not {keep!r}",
            hint="give how many newest versions to keep, e.g. --keep 10 (clean.keep in config)",
        )
    if keep_prereleases is None:
        return keep
    if isinstance(keep_prereleases, bool) or not isinstance(keep_prereleases, int) or keep_prereleases < 0:
        raise ConfigError(
            f"keep_prereleases must be a whole number of 0 or more, not {keep_prereleases!r}",
            hint="give how many newest prereleases to keep (0 deletes them all), or leave it unset",
        )
    return keep_prereleases


def _compile_patterns(keep_patterns: Sequence[str]) -> list[re.Pattern]:
    patterns = []
    for p in keep_patterns:
        try:
            patterns.append(re.compile(p))
        except re.error as exc:
            raise ConfigError(f"keep pattern {p!r} is not a valid regular expression ({exc})",
                              hint="escape special characters, e.g. ^stable-.*$") from None
    return patterns


def _digest_by_tag(by_digest: Mapping[str, Sequence[str]]) -> dict[str, str]:
    tag_digest: dict[str, str] = {}
    for digest, tags in by_digest.items():
        for tag in tags:
            if tag in tag_digest and tag_digest[tag] != digest:
                raise ValueError(f"tag {tag!r} listed under two digests")
            tag_digest[tag] = digest
    return tag_digest


def _classify(tag_digest, floating_set, patterns, prefix: str, suffix: str):
    """Each tag is either a version (it may go) or protected (with the reason it never goes)."""
    protected: dict[str, str] = {}  # tag -> reason it is never deleted
    versions: dict[str, semver.Version] = {}
    for tag in tag_digest:
        if tag in floating_set:
            protected[tag] = "floating tag: never deleted"
            continue
        pattern = next((p for p in patterns if p.fullmatch(tag)), None)
        if pattern is not None:
            protected[tag] = f"matches the keep pattern {pattern.pattern!r}"
            continue
        version = registry_tag_version(tag, prefix, suffix)
        if version is None:
            protected[tag] = "not a version tag (floating, branch or other tag): never deleted"
            continue
        versions[tag] = version
    return versions, protected


def _rank(versions: Mapping[str, semver.Version], keep: int, keep_prereleases: int) -> dict[str, tuple[str, str]]:
    """Rank versions (stable and prereleases apart), newest first; ties (same precedence) by name."""

    def ranked(prerelease: bool) -> list[str]:
        pool = [t for t, v in versions.items() if (v.prerelease is not None) == prerelease]
        return sorted(pool, key=lambda t: (_Desc(versions[t]), t))

    decisions: dict[str, tuple[str, str]] = {}
    for prerelease, limit in ((False, keep), (True, keep_prereleases)):
        kind = "prerelease" if prerelease else "release"
        distinct: list[semver.Version] = []
        for tag in ranked(prerelease):
            v = versions[tag]
            if not distinct or distinct[-1] != v:
                distinct.append(v)
            rank = len(distinct)
            if rank <= limit:
                decisions[tag] = (KEEP, f"{_ordinal(rank)} newest {kind} (keeping {limit})")
            else:
                decisions[tag] = (DELETE, f"{_ordinal(rank)} newest {kind}, beyond the {limit} kept")
    return decisions


def _digest_decisions(order, tag_digest, by_digest, final, kept_by_digest, versions) -> tuple[DigestDecision, ...]:
    digest_order: list[str] = []
    for t in order:
        if tag_digest[t] not in digest_order:
            digest_order.append(tag_digest[t])
    out = []
    for d in digest_order:
        tags = tuple(sorted(by_digest[d], key=_tag_order_key(versions)))
        gone = tuple(t for t in tags if final[t][0] == DELETE)
        kept = kept_by_digest[d]
        if not gone:
            out.append(DigestDecision(d, tags, KEEP, "all its tags are kept"))
        elif kept:
            out.append(DigestDecision(
                d, tags, KEEP,
                f"still tagged {_join(sorted(kept, key=_tag_order_key(versions)))}; "
                f"only {_join(gone)} {'is' if len(gone) == 1 else 'are'} removed, one tag at a time",
                lone_tags=gone,
            ))
        else:
            out.append(DigestDecision(d, tags, DELETE, f"none of its tags ({_join(tags)}) is kept"))
    return tuple(out)


# ---------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------


class _Desc:
    """Sort key wrapper: newest version first."""

    __slots__ = ("v",)

    def __init__(self, v: semver.Version):
        self.v = v

    def __lt__(self, other: "_Desc") -> bool:
        return self.v > other.v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.v == other.v


def _tag_order_key(versions: Mapping[str, semver.Version]):
    """Stable versions newest first, then prereleases newest first, then every other tag by name."""

    def key(tag: str):
        v = versions.get(tag)
        if v is None:
            return (2, _Desc(semver.Version(0)), tag)
        return (1 if v.prerelease is not None else 0, _Desc(v), tag)

    return key


def _normalise(tags_by_digest: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for digest, tags in tags_by_digest.items():
        if isinstance(tags, str):
            raise TypeError(f"tags of {digest} must be a list of tags, not a string")
        out[digest] = tuple(sorted(set(tags)))
    return out


def _digest_of(tags_by_digest: Mapping[str, Sequence[str]], tag: str) -> str | None:
    for digest, tags in tags_by_digest.items():
        if tag in tags:
            return digest
    return None


def _join(items: Iterable[str]) -> str:
    return ", ".join(items) or "(none)"


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
