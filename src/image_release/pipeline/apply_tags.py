"""Handlers of the registry actions after the first push: more tags, the race repair, the replacement
of a re-released version's old image."""

from __future__ import annotations

from image_release.core.actions import DeleteManifest
from image_release.core.plan import owner_of_tag, version_tag_of, versions_in_registry
from image_release.core.retention import plan_replacement
from image_release.core.signing import split_attached
from image_release.errors import PublishError, ReleaseError
from image_release.pipeline.deletions import Deletions

RERUN = "re-run the same command: it converges (tags already published stay as they are)"


def put_tags(run, action) -> None:
    """The manifest just pushed, put byte for byte under every other tag; then each read back (one HEAD
    per tag, unless release.registry.verify is off)."""
    name, client = run.registry_for(action.image)
    repo = name.repository
    resolved = run.results.resolved.setdefault(action.image, {})
    digest = resolved[action.source]
    manifest = client.get_manifest(repo, digest)
    for tag in action.tags:
        try:
            client.put_manifest(repo, tag, manifest)
        except ReleaseError as e:
            raise PublishError(f"could not tag {action.image}:{tag}: {e.message}", hint=RERUN,
                               published=tuple(run.results.published)) from None
        run.results.published.append(f"{action.image}:{tag}")
        run.say(f"tagged {action.image}:{tag} -> {digest[:19]}")
    if not run.settings.registry_verify:
        return
    for tag in action.tags:
        info = client.head_manifest(repo, tag)
        resolved[tag] = info.digest if info else None
        if resolved[tag] != digest and tag not in action.floating:
            raise PublishError(f"{action.image}:{tag} resolves to {resolved[tag] or 'nothing'}, not {digest}",
                               hint="re-run the same command to converge", published=tuple(run.results.published))
        # A floating tag a concurrent release moved since our put is RepairFloating's business.


def repair_floating(run, action) -> None:
    """Put every floating tag on the highest stable version that owns it, reading the tag list once.
    A tag not read back resolves to what our put wrote; only a tag owned by a higher version costs
    more requests."""
    plan = run.plan
    name, client = run.registry_for(action.image)
    repo = name.repository
    resolved = run.results.resolved.get(action.image, {})
    digest = run.results.digest
    versions = versions_in_registry(client.list_tags(repo), run.settings) + list(plan.known_versions)
    for tag in action.tags:
        owner = owner_of_tag(tag, versions, run.settings, run.context)
        if owner is None:
            continue
        if owner == plan.version:
            want = digest
        else:
            info = client.head_manifest(repo, version_tag_of(owner, run.settings, run.context))
            if info is None:
                continue
            want = info.digest
        if resolved.get(tag, digest) == want:
            continue
        client.put_manifest(repo, tag, client.get_manifest(repo, want))
        run.say(f"repaired {action.image}:{tag} -> {owner} ({want[:19]}): a concurrent release had moved it")


def delete_if_untagged(run, action) -> None:
    """The old image of a re-released version goes once the version tag points at the new one and no tag
    points at the old one (a tag map read after publishing; core decides)."""
    new = run.results.resolved.get(action.image, {}).get(action.version_tag)
    if new is None or new == action.digest:
        return
    deleter = run.deleter_for(action.image)
    tags = deleter.tags_by_digest()
    rp = plan_replacement(action.version_tag, action.digest, new, split_attached(tags)[0])
    replace(run, deleter, rp, prefix=f"replace {action.image}:{action.version_tag}: ", tags_by_digest=tags)


def replace(run, deleter, rp, prefix: str = "", tags_by_digest=None):
    """Carry out a ReplacementPlan: delete the old manifest when the plan says it may go, and with it its
    signatures and attestations (found in ``tags_by_digest``, the tag map the plan was made from). The report."""
    from image_release.pipeline.attached import with_attached
    from image_release.pipeline.runner import apply

    actions = []
    if rp.delete_digest is not None:
        actions.append(DeleteManifest(deleter.image, rp.delete_digest, (), rp.reason,
                                      about=f"the previous {rp.version_tag}"))
    actions, deleter = with_attached(run, deleter.image, deleter, actions, tags_by_digest)
    deletions = Deletions(deleter, run.settings.clean.fail_on_refused)
    if rp.delete_digest is None:
        deletions.report.notes.append(rp.reason)
    return apply(run, actions, using=deletions, prefix=prefix)
