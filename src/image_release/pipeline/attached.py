"""Signatures and attestations in retention and replacement: what goes with a deleted image.

cosign's objects live beside the image under ``sha256-<hex>.sig``/``.att``/``.sbom``; they are never
versions (retention and replacement plan on ``core.signing.split_attached(...)[0]``), and each goes with the
image it belongs to. ``with_attached`` adds those deletions to a list of delete actions (core decides which,
``core.cleanup.attached_actions``; the platform manifests of a deleted index are read here when an attached
object may belong to one), and wraps the deleter so that an object is deleted only once its image is gone:
an image the registry refused to delete keeps its signature.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from image_release.core.actions import DeleteAttached, DeleteTag
from image_release.core.cleanup import attached_actions, attached_owners, children_to_read, deleted_digests
from image_release.core.image_ref import short_digest
from image_release.core.signing import attached_subject, platform_digests
from image_release.errors import DeleteRefused, RegistryError, SigningError


def with_attached(run, image: str, deleter: Any, actions: Sequence, tags_by_digest: Mapping[str, Sequence[str]] | None):
    """(``actions`` followed by the deletions of the objects attached to what they delete, the deleter to
    carry them out with). ``tags_by_digest``: the repository's whole tag map as read for the plan (None:
    nothing is attached, nothing added)."""
    actions = list(actions)
    deleted = deleted_digests(actions)
    if not tags_by_digest or not deleted:
        return actions, deleter
    children = read_children(run, image, children_to_read(deleted, tags_by_digest))
    owners = attached_owners(deleted, children)
    extra = attached_actions(image, owners, tags_by_digest)
    if not extra:
        return actions, deleter
    return actions + extra, AttachedGuard(deleter, owners, extra)


def read_children(run, image: str, digests: Sequence[str]) -> dict[str, list[str]]:
    """The platform manifests of each of ``digests`` that is an index (one manifest GET each)."""
    if not digests:
        return {}
    name, client = run.registry_for(image)
    out: dict[str, list[str]] = {}
    for digest in digests:
        try:
            manifest = client.get_manifest(name.repository, digest)
        except RegistryError as exc:
            if exc.status == 404:
                continue  # already gone; so are its children's objects, or they are orphans of another run
            raise
        if manifest.is_index:
            try:
                out[digest] = platform_digests(manifest.raw)
            except SigningError:
                continue
    return out


class AttachedGuard:
    """A deleter that deletes an object attached to an image only after that image was deleted (through this
    guard, earlier in the same batch); everything else goes straight to ``deleter``."""

    def __init__(self, deleter: Any, owners: Mapping[str, str], actions: Sequence) -> None:
        self._deleter = deleter
        self._owner_of_object = {a.digest: a.subject for a in actions if isinstance(a, DeleteAttached)}
        self._owner_of_tag = {a.tag: owners[attached_subject(a.tag)] for a in actions
                              if isinstance(a, DeleteTag) and attached_subject(a.tag) in owners}
        self.gone: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._deleter, name)

    def __repr__(self) -> str:
        return f"AttachedGuard({self._deleter!r})"

    def _require(self, owner: str | None) -> None:
        if owner is not None and owner not in self.gone:
            raise DeleteRefused(f"kept with its image {short_digest(owner)}, which was not deleted",
                                hint="it goes with its image when a later cleanup deletes that")

    def delete_digest(self, digest: str, tags: Sequence[str] = ()) -> str:
        self._require(self._owner_of_object.get(digest))
        detail = self._deleter.delete_digest(digest, tags)
        self.gone.add(digest)
        return detail

    def delete_tag(self, tag: str) -> str:
        self._require(self._owner_of_tag.get(tag))
        return self._deleter.delete_tag(tag)
