"""Monorepo targets (pure): which targets of ``release.targets`` a run is about, how a target sees
the context, and whether a branch build of a target can be left out.

A :class:`Target` is a name, a tag prefix and the paths it is built from (its build context, its
Dockerfile when that lies outside the context, and the extra ``paths`` it names). The settings of
each target are merged and parsed in ``image_release.target_settings``; the pipeline makes one run
per target it selects (``pipeline.targets``). The decisions are here:

- **A tag belongs to one target**: the one with the longest tag prefix the tag starts with
  (``api/v1.2.0`` is ``api``'s with the prefix ``api/``). A tag no target owns is an error: the run
  stops before anything is read.
- **A target sees its version tag**: the prefix is stripped for the tag rules, SemVer and the
  floating-tag guard (``api/v1.2.0`` -> ``v1.2.0``), and the full git tag stays in the context's
  ref (``refs/tags/api/v1.2.0``, ``Context.ref_name``) for the forge release and the changelog.
- **Known versions are the target's own**: only tags with its prefix count, read without it.
- **A branch build leaves out a target whose paths did not change since its last build**: the last
  build is the commit in the ``org.opencontainers.image.revision`` label of the image its first
  branch tag points at in the registry (read by the pipeline). When that cannot be known (no such
  image yet, no label, the registry or git cannot answer), the target is built.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from image_release.core.context import TAG, Context, GitFacts
from image_release.core.versions import parse_tag_lenient
from image_release.errors import ConfigError

REVISION_LABEL = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class Target:
    """One target of ``release.targets``: its name, the prefix of its git tags, the paths it is built
    from (relative to the project folder, as git pathspecs)."""

    name: str
    tag_prefix: str
    paths: tuple[str, ...]

    def owns(self, tag: str) -> bool:
        return tag.startswith(self.tag_prefix)

    def version_tag(self, git_tag: str) -> str:
        """``api/v1.2.0`` -> ``v1.2.0``."""
        return git_tag[len(self.tag_prefix):] if self.owns(git_tag) else git_tag

    def to_dict(self) -> dict:
        return {"name": self.name, "tag_prefix": self.tag_prefix, "paths": list(self.paths)}


def owner_of(targets: Sequence[Target], tag: str) -> Target | None:
    """The target a git tag belongs to: the longest tag prefix it starts with (None: no target's)."""
    owners = [t for t in targets if t.owns(tag)]
    return max(owners, key=lambda t: len(t.tag_prefix)) if owners else None


def owner_or_error(targets: Sequence[Target], tag: str) -> Target:
    """:func:`owner_of`, or a ConfigError that lists the prefixes."""
    found = owner_of(targets, tag)
    if found is None:
        known = ", ".join(f"{t.name} ({t.tag_prefix!r})" for t in targets)
        example = f"{targets[0].tag_prefix}v1.2.3" if targets else "v1.2.3"
        raise ConfigError(f"the tag {tag!r} belongs to no target of release.targets (tag prefixes: {known})",
                          hint=f"release a target's tag, e.g. --tag {example}, or give a target this tag_prefix")
    return found


def head_facts(facts: GitFacts, target: Target, targets: Sequence[Target]) -> GitFacts:
    """Local git facts as ``target`` sees them: of the tags on HEAD, only its own, without its prefix
    (as a version tag, which context detection takes), the highest version; none when HEAD has no tag
    of this target. :func:`target_context` puts the prefix back into the ref."""
    own = [target.version_tag(t) for t in facts.exact_tags if owner_of(targets, t) is target]
    versions = [(v, t) for v, t in ((parse_tag_lenient(t), t) for t in own) if v is not None]
    if versions:
        own = [max(versions, key=lambda p: p[0])[1]]
    return replace(facts, exact_tags=tuple(own[:1]))


def target_context(ctx: Context, target: Target) -> Context:
    """The context of ``target``'s run: on a tag it owns, the tag with the prefix stripped and the
    full git tag kept in ``ref``; any other context as it is (the pipeline plans a tag only in its
    owner's run; ``invoke clean`` in a tag's CI job cleans every target, whose runs see that tag
    as it is and plan nothing). A tag from local git (``source`` git) was read through
    :func:`head_facts`, without its prefix: only the ref gets it back."""
    if ctx.event != TAG or ctx.tag is None:
        return ctx
    if ctx.source == "git":
        return replace(ctx, ref=f"refs/tags/{target.tag_prefix}{ctx.tag}")
    if not target.owns(ctx.tag):
        return ctx
    return replace(ctx, tag=target.version_tag(ctx.tag), ref=f"refs/tags/{ctx.tag}")


def git_tag_of(ctx: Context) -> str | None:
    """The full git tag of a tag context (``api/v1.2.0`` for a target, the tag itself otherwise)."""
    if ctx.event != TAG or not ctx.ref.startswith("refs/tags/"):
        return ctx.tag if ctx.event == TAG else None
    return ctx.ref[len("refs/tags/"):]


def own_tags(tags: Iterable[str], target: Target | None, targets: Sequence[Target] = ()) -> list[str]:
    """The git tags that are versions of ``target``, without its prefix (all tags without a target).
    A tag that a target with a longer prefix owns is not this target's (``api/`` and ``api/v2/``)."""
    tags = list(tags)
    if target is None:
        return tags
    pool = targets or (target,)
    return [target.version_tag(t) for t in tags if owner_of(pool, t) is target]


@dataclass(frozen=True)
class Change:
    """Whether a branch build of a target is made, and why."""

    build: bool
    reason: str


def change_decision(target: Target, ref: str, revision: str | None, unknown: str | None,
                    commits: Sequence | None, head: str) -> Change:
    """Build ``target`` on a branch unless its paths are unchanged since its last build.

    ``ref``: the registry image its first branch tag points at; ``revision``: that image's revision
    label (None when unknown, ``unknown`` saying why); ``commits``: the commits since that revision
    that touch the target's paths (None when git could not say); ``head``: the commit to build."""
    paths = ", ".join(target.paths) or "."
    if revision is None or commits is None:
        return Change(True, f"its last build is not known ({unknown or 'no revision label'})")
    if commits:
        n = len(commits)
        return Change(True, f"{n} commit{'s touch' if n != 1 else ' touches'} {paths} since {revision[:12]}, the "
                            f"revision of {ref}")
    same = " (the same commit)" if head and revision.startswith(head[:12]) else ""
    return Change(False, f"no commit touches {paths} since {revision[:12]}{same}, the revision of {ref}")
