"""Retention plans as actions (pure): what ``invoke clean`` deletes, in the order it deletes it.

``core.retention.plan_retention`` decides which tags and manifests go; this turns that plan into
actions: whole manifests first (oldest version first: every one of their tags goes), then the lone
tags whose manifest stays because a kept tag shares it. A registry that cannot remove one tag alone
(ghcr.io without push access) gets no action for such a tag: it is reported as left behind instead.

Signatures and attestations (cosign's ``sha256-<hex>.sig``/``.att``/``.sbom`` tags) are never versions:
retention and replacement plan on the images' own tags (``core.signing.split_attached``), and every
manifest deleted takes the objects attached to it, and to its platform manifests when it is an index,
with it (``attached_actions``: after the deletes of their images, and only once those are gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from image_release.core.actions import Action, DeleteAttached, DeleteManifest, DeleteTag
from image_release.core.image_ref import short_digest
from image_release.core.retention import DELETE, RetentionPlan
from image_release.core.signing import attached_subject


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


_ATTACHED_KIND = {".sig": "signatures", ".att": "attestations", ".sbom": "SBOM"}


def deleted_digests(actions: Sequence[Action]) -> list[str]:
    """The manifests these actions delete (not the lone tags: their manifests stay)."""
    return [a.digest for a in actions if isinstance(a, DeleteManifest) and not isinstance(a, DeleteAttached)]


def children_to_read(deleted: Sequence[str], tags_by_digest: Mapping[str, Sequence[str]]) -> list[str]:
    """The deleted manifests whose platform manifests must be known (an index's children carry signatures
    of their own): all of them when some attached object belongs to a digest that has no tag of its own and
    is not deleted itself (it may be such a child), else none, and nothing needs to be read."""
    own = {d for d, tags in tags_by_digest.items() if any(attached_subject(t) is None for t in tags)}
    subjects = {attached_subject(t) for tags in tags_by_digest.values() for t in tags} - {None}
    return list(deleted) if subjects - own - set(deleted) else []


def attached_owners(deleted: Sequence[str], children: Mapping[str, Sequence[str]] | None = None) -> dict[str, str]:
    """``{subject: deleted manifest}``: each deleted manifest owns its own attached objects, and an index
    those of its platform manifests ``children[d]`` too."""
    owners: dict[str, str] = {}
    for digest in deleted:
        owners.setdefault(digest, digest)
        for child in (children or {}).get(digest, ()):
            owners.setdefault(child, digest)
    return owners


def attached_actions(image: str, owners: Mapping[str, str], tags_by_digest: Mapping[str, Sequence[str]]) -> list[Action]:
    """What goes with the deleted manifests (``owners``, from ``attached_owners``): one ``DeleteAttached`` per
    object attached to one of their subjects, to be carried out only once that manifest is gone.
    ``tags_by_digest``: the repository's whole tag map, attached objects included."""
    out: list[Action] = []
    for obj, tags in sorted(tags_by_digest.items()):
        subjects = [attached_subject(t) for t in tags]
        if not tags or None in subjects:
            continue  # an image's own manifest, never deleted as an attached object
        mine = sorted(t for t, s in zip(tags, subjects) if s in owners)
        if not mine:
            continue
        subject = attached_subject(mine[0])
        kinds = sorted({_ATTACHED_KIND[t[t.rindex("."):]] for t in mine})
        about = f"{' and '.join(kinds)} of {short_digest(subject)}"
        reason = f"its image {short_digest(owners[subject])} is deleted"
        if len(mine) == len(tags):
            out.append(DeleteAttached(image, obj, tuple(mine), reason, about=about, subject=owners[subject]))
        else:  # one object under the tags of several images (copied): only the tags of the deleted one go
            out += [DeleteTag(image, t, obj, f"{about}: {reason}") for t in mine]
    return out
