"""Retention plans as actions (pure): what ``invoke clean`` deletes, in the order it deletes it.

``core.retention.plan_retention`` decides which tags and manifests go; this turns that plan into
actions: whole manifests first (oldest version first: every one of their tags goes), then the lone
tags whose manifest stays because a kept tag shares it. A registry that cannot remove one tag alone
(ghcr.io without push access) gets no action for such a tag: it is reported as left behind instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from image_release.core.actions import Action, DeleteManifest, DeleteTag
from image_release.core.image_ref import short_digest
from image_release.core.retention import DELETE, RetentionPlan


@dataclass(frozen=True)
class LeftBehind:
    """A tag that goes by the plan but that this registry cannot delete (and why)."""

    what: str
    reason: str
    detail: str


def retention_actions(image: str, plan: RetentionPlan, *, single_tag: bool = True,
                      registry: str = "the registry") -> tuple[list[Action], list[LeftBehind]]:
    reasons = {d.tag: d.reason for d in plan.tags}
    actions: list[Action] = []
    for dd in reversed(plan.digests):  # oldest first
        if dd.action == DELETE:
            why = "; ".join(f"{t}: {reasons[t]}" for t in dd.tags)
            actions.append(DeleteManifest(image, dd.digest, dd.tags, why))
    left: list[LeftBehind] = []
    tags_of = {dd.digest: dd.tags for dd in plan.digests}
    for tag, digest in plan.lone_tags:
        action = DeleteTag(image, tag, digest, reasons[tag])
        if single_tag:
            actions.append(action)
            continue
        others = ", ".join(t for t in tags_of.get(digest, ()) if t != tag)
        left.append(LeftBehind(action.what, action.reason,
                               f"{registry} cannot remove the tag {tag} alone: its image {short_digest(digest)} also "
                               f"carries {others}, and deleting the image would remove those too; the tag stays"))
    return actions, left


def pending_replacements(image: str, tags_by_digest: Mapping[str, Sequence[str]]) -> list[Action]:
    """Finish what an earlier release left marked replaced (``sha256-<hex>.replaced``): each such image
    goes, with its record, once no other tag points at it."""
    from image_release.core.publish import marked_images, replaced_subject

    out: list[Action] = []
    for digest in marked_images(t for tags in tags_by_digest.values() for t in tags):
        tags = tags_by_digest.get(digest, ())
        if any(replaced_subject(t) is None for t in tags):
            continue  # still tagged: the replacement has not finished publishing, or the image is used again
        out.append(DeleteManifest(image, digest, tuple(tags),
                                  "an earlier release replaced it and left it marked; no tag points at it any more",
                                  about="marked replaced"))
    return out


def kept_lines(plan: RetentionPlan) -> list[str]:
    """The plan's keep decisions, one line each (shown before anything is deleted)."""
    return [d.line() for d in plan.tags if d.action != DELETE]
