"""What publishing one image does (pure): from the plan and what the registry held before, the actions.

Order, for ``1.2.3`` with ``1.2``, ``1`` and ``latest``:

1. ``PushVersion``: the first tag (the version's own on a release) pushed once, blobs and manifest,
   through the tool's own registry client (the image built in this run, or an index over per-platform
   digests: ``core.merge``). Right before its manifest PUT the version tag is read again: an image
   another run put there since the plan read it is marked replaced first (``replaced_meanwhile``), so
   that a same-version race leaves no image nobody marked.
2. ``PutTags``: every other tag, the same manifest put byte for byte (no blob moves twice), each
   checked to resolve to it.
3. ``Converge``: the other tags settled against concurrent releases: floating tags on the highest
   stable version that owns each (two releases of one line can finish in the wrong order), every tag
   of this version on the image its version tag points at when the run ends (two releases of the same
   version end on one image).
4. ``DeleteIfUntagged``: on a re-release with new content, the old image of *this version* goes once
   no tag points at it. Only the version's own tag says what the old image of this version is: a
   release whose rules give no version tag (``type=raw,value=stable`` only) replaces nothing, so an
   image that other versions were released as is never deleted by a release.

Before anything moves, a re-release marks the old image (``MarkReplaced``: a tag
``sha256-<hex>.replaced`` on it), so that a run killed in between, a delete that failed or a lost
same-version race leaves a record: the next run finishes any replacement it finds marked. The images
this run marked right before its version PUT go the same way once its actions ran
(``after_publish_actions``).
"""

from __future__ import annotations

from dataclasses import dataclass

import re
from typing import Iterable, Mapping, Sequence

from image_release.core.actions import (
    Action, Converge, DeleteIfUntagged, FinishReplacements, MarkReplaced, PushVersion, PutTags,
)
from image_release.core.plan import FLOATING, VERSION

REPLACED_SUFFIX = ".replaced"
_REPLACED = re.compile(r"^sha256-([a-f0-9]{64})\.replaced$")


@dataclass(frozen=True)
class PublishFacts:
    """What the registry held for ``image`` before this run published anything."""

    image: str
    old_digest: str | None = None  # what the version tag pointed at (None: it did not exist)
    marked: tuple[str, ...] = ()  # images an earlier run marked replaced and did not delete
    ours: str | None = None  # the digest this run will push, when known before pushing (None: unknown)


def replaced_tag(digest: str) -> str:
    """The record of a replaced image, on the image itself: ``sha256:<hex>`` -> ``sha256-<hex>.replaced``."""
    algo, _, hexpart = digest.partition(":")
    return f"{algo}-{hexpart}{REPLACED_SUFFIX}"


def replaced_subject(tag: str) -> str | None:
    """The image a ``sha256-<hex>.replaced`` tag marks, or None for any other tag."""
    m = _REPLACED.match(tag or "")
    return f"sha256:{m.group(1)}" if m else None


def marked_images(tags: Iterable[str]) -> tuple[str, ...]:
    """The images a tag list marks replaced, sorted."""
    return tuple(sorted({d for d in (replaced_subject(t) for t in tags) if d}))


def without_records(tags_by_digest: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The tag map without ``.replaced`` records: those never keep an image (nor are they versions)."""
    return {d: [t for t in tags if replaced_subject(t) is None] for d, tags in tags_by_digest.items()}


def version_tag(plan) -> str | None:
    """The version's own tag (``1.2.3``), or None when the plan has none (a branch build, or rules
    that give no tag of this version alone)."""
    for d in plan.decisions:
        if d.move and d.kind == VERSION:
            return d.tag
    return None


def replaced_meanwhile(read_by_plan: str | None, now: str | None, ours: str) -> str | None:
    """The image to mark replaced right before this run puts its version tag: the one the tag points at
    ``now``, when that is neither what the plan read (``MarkReplaced`` marked that one already) nor this
    run's own image (another run pushed the same content: nothing is replaced). None: nothing to mark."""
    if now is None or now == ours or now == read_by_plan:
        return None
    return now


def publish_actions(plan, facts: PublishFacts, index=None) -> list[Action]:
    """The actions that publish ``facts.image`` (see the module docstring). ``index``: a
    ``core.merge.MergedIndex`` to publish instead of the image built in this run."""
    image = facts.image
    first = plan.primary_tag  # the version's own tag, else the first the rules give
    if first is None:
        return []
    others = tuple(t for t in plan.tags if t != first)
    moved = plan.moved
    floating = tuple(t for t in others if moved[t].kind == FLOATING)
    own = version_tag(plan)
    # A version tag already on this run's own image (a re-run after a failure, the same build again)
    # replaces nothing.
    old = facts.old_digest if own is not None and facts.old_digest != facts.ours else None
    actions: list[Action] = [MarkReplaced(image, own, old)] if old else []
    actions.append(PushVersion(image, first, later_tags=others, replaces=old, guarded=own is not None,
                               index=index))
    converge = plan.version is not None and bool(others) and bool(own or floating)
    if others:
        actions.append(PutTags(image, first, others, settled_later=others if converge else ()))
    if converge:
        actions.append(Converge(image, own, others, floating=floating))
    if old:
        actions.append(DeleteIfUntagged(image, own, old))
    earlier = tuple(d for d in facts.marked if d != old)
    if earlier:
        actions.append(FinishReplacements(image, earlier))
    return actions


def after_publish_actions(image: str, marked_meanwhile: Sequence[str], old_left: str | None = None) -> list[Action]:
    """What publishing ``image`` still does once its actions ran: delete the images this run marked
    replaced right before its version PUT (another run of the same version had put them there), and the
    old image of the version when it is still there (``old_left``: ``DeleteIfUntagged`` kept it because
    the version tag had moved on to a third image, another run's, by then), each once no tag but its
    record points at it. Nothing when there was no such race."""
    digests = tuple(dict.fromkeys(tuple(marked_meanwhile) + ((old_left,) if old_left else ())))
    return [FinishReplacements(image, digests)] if digests else []
