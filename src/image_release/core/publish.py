"""What publishing one image does (pure): from the plan and what the registry held before, the actions.

Order, for ``1.2.3`` with ``1.2``, ``1`` and ``latest``:

1. ``PushVersion``: the first tag (the version's own on a release) pushed once, blobs and manifest,
   and read back.
2. ``PutTags``: every other tag, the same manifest put byte for byte (no blob moves twice), each
   checked to resolve to it.
3. ``RepairFloating``: the floating tags this run moved, settled on the highest stable version that
   owns each (two releases of one line at once can finish in the wrong order).
4. ``DeleteIfUntagged``: on a re-release with new content, the old image of *this version* goes once
   no tag points at it. Only the version's own tag says what the old image of this version is: a
   release whose rules give no version tag (``type=raw,value=stable`` only) replaces nothing, so an
   image that other versions were released as is never deleted by a release.
"""

from __future__ import annotations

from dataclasses import dataclass

from image_release.core.actions import Action, DeleteIfUntagged, PushVersion, PutTags, RepairFloating
from image_release.core.plan import FLOATING, VERSION


@dataclass(frozen=True)
class PublishFacts:
    """What the registry held for ``image`` before this run published anything."""

    image: str
    old_digest: str | None = None  # what the version tag pointed at (None: it did not exist)


def version_tag(plan) -> str | None:
    """The version's own tag (``1.2.3``), or None when the plan has none (a branch build, or rules
    that give no tag of this version alone)."""
    for d in plan.decisions:
        if d.move and d.kind == VERSION:
            return d.tag
    return None


def publish_actions(plan, facts: PublishFacts) -> list[Action]:
    image = facts.image
    first = plan.primary_tag  # the version's own tag, else the first the rules give
    if first is None:
        return []
    others = tuple(t for t in plan.tags if t != first)
    moved = plan.moved
    floating = tuple(t for t in others if moved[t].kind == FLOATING)
    actions: list[Action] = [PushVersion(image, first, later_tags=others)]
    if others:
        actions.append(PutTags(image, first, others, floating=floating))
    if plan.version is not None and floating:
        actions.append(RepairFloating(image, floating))
    own = version_tag(plan)
    if own is not None and facts.old_digest is not None:
        actions.append(DeleteIfUntagged(image, own, facts.old_digest))
    return actions
