"""Handlers of the registry actions after the first push: more tags, settling them against concurrent
releases, and the replacement of a re-released version's old image (with its record)."""

from __future__ import annotations

from image_release.core.actions import DeleteManifest
from image_release.core.plan import owners_of_tags, version_tag_of, versions_in_registry
from image_release.core.retention import plan_replacement
from image_release.core.signing import split_attached
from image_release.errors import PublishError, ReleaseError
from image_release.pipeline.deletions import Deletions

RERUN = "re-run the same command: it converges (tags already published stay as they are)"


PUT_WIDTH = 4  # tag PUTs at once after the first (pipeline.bounded): a few round trips, not one per tag


def put_tags(run, action) -> None:
    """The manifest just pushed, put byte for byte under every other tag: the first alone (a registry that
    refuses it moves no other tag), then up to ``PUT_WIDTH`` at once; none starts after a failure. The
    registry's answer to each PUT is its read-back; a HEAD follows only where the answer does not prove
    the write (and only with release.registry.verify, on by default). What was put is reported, and listed
    by a failure, in the order of the tags."""
    from image_release.pipeline.bounded import first_alone_then_bounded

    name, client = run.registry_for(action.image)
    manifest = run.results.manifests[action.image]
    verify = run.settings.registry_verify

    def put(tag: str) -> tuple:
        try:
            return "put", client.put_manifest(name.repository, tag, manifest, read_back=verify)
        except ReleaseError as e:
            return "error", e

    outcomes = first_alone_then_bounded(put, action.tags, PUT_WIDTH, lambda o: o[0] == "error",
                                        "image-release-tags")
    problem = None
    for i, tag in enumerate(action.tags):
        kind, value = outcomes.get(i, ("untried", None))
        if kind == "put":
            wrong = _put_tag(run, action, tag, value, manifest, verify)
            problem = problem or wrong
        elif kind == "error" and problem is None:
            problem = f"could not tag {action.image}:{tag}: {value.message}"
    if problem:
        raise PublishError(problem, hint=RERUN, published=tuple(run.results.published))


def _put_tag(run, action, tag: str, put, manifest, verify: bool) -> str | None:
    """Record one answered PUT; what is wrong with it (a read-back that disagrees), or None."""
    run.results.resolved.setdefault(action.image, {})[tag] = put.seen if verify else manifest.digest
    if verify and not put.verified and tag not in action.settled_later:
        return f"{action.image}:{tag} resolves to {put.seen or 'nothing'}, not {manifest.digest}"
    # A tag a concurrent release moved since our put is Converge's business.
    run.results.published.append(f"{action.image}:{tag}")
    run.say(f"tagged {action.image}:{tag} -> {manifest.digest[:19]}")
    return None


CONVERGE_ROUNDS = 5  # tag-list reads after repairs before giving up (each round sees every version put before it)


def converge(run, action) -> None:
    """Settle this version's other tags against concurrent releases (see core.actions.Converge): the tag
    list is read once (again only after a repair); the version tag and the version tag of a higher owner
    cost one HEAD each. The owners
    of the floating tags are found in one pass over the versions, highest first (core.guard.owners_of_tags).

    A repair is itself a write made from a read that may be stale (a higher version's run can put its tags
    between our read and our repair), so after repairing a floating tag the tag list is read again and the
    owners decided anew, until a round repairs nothing: the last write to a floating tag is then always
    checked by a read made after it, by the run that made it."""
    name, client = run.registry_for(action.image)
    repo = name.repository
    ours = run.results.pushed[action.image]
    winner = ours
    if action.version_tag is not None:
        info = client.head_manifest(repo, action.version_tag)
        winner = info.digest if info else ours
    floating = [t for t in action.tags if t in action.floating]
    resolved = run.results.resolved.setdefault(action.image, {})
    for _ in range(CONVERGE_ROUNDS):
        if not _converge_round(run, action, client, repo, floating, resolved, ours, winner):
            break
    else:
        raise PublishError(f"the floating tags of {action.image} kept moving while this release settled them "
                           f"({CONVERGE_ROUNDS} rounds)", hint=RERUN, published=tuple(run.results.published))
    if winner != ours:
        _lost_same_version_race(run, action, ours, winner)


def _converge_round(run, action, client, repo: str, floating: list, resolved: dict, ours: str, winner: str) -> bool:
    """One round of :func:`converge`; whether it repaired a floating tag (and so needs another)."""
    owners = {}
    if floating:
        versions = versions_in_registry(client.list_tags(repo), run.settings) + list(run.plan.known_versions)
        owners = owners_of_tags(floating, versions, run.settings, run.context)
    again = False
    for tag in action.tags:
        want = _wanted(run, client, repo, tag, tag in action.floating, owners.get(tag), winner)
        if want is not None and resolved.get(tag, ours) != want:
            client.put_manifest(repo, tag, client.get_manifest(repo, want))
            resolved[tag] = want
            again = again or tag in action.floating
            run.say(f"repaired {action.image}:{tag} -> {want[:19]}: a concurrent release had moved it")
    return again


def _wanted(run, client, repo, tag: str, floating: bool, owner, winner: str) -> str | None:
    """The digest ``tag`` should end on: this version's image (``winner``), or, for a floating tag, the
    image of the highest stable version that owns it (``owner``; None: leave it)."""
    plan = run.plan
    if not floating:
        return winner
    if owner is None:
        return None
    if owner == plan.version:
        return winner
    info = client.head_manifest(repo, version_tag_of(owner, run.settings, run.context))
    return info.digest if info else None


def _lost_same_version_race(run, action, ours: str, winner: str) -> None:
    """Another run published the same version with other content after us: every tag of the version now
    points at its image. Ours is marked replaced and deleted if nothing points at it; then stop."""
    from image_release.core.actions import FinishReplacements, MarkReplaced

    mark_replaced(run, MarkReplaced(action.image, action.version_tag, ours))
    finish_replacements(run, FinishReplacements(action.image, (ours,)))
    raise PublishError(
        f"another run published {action.image}:{action.version_tag} at the same time, with other content: "
        f"every tag of this version now points at its image {winner}, not at this run's {ours}",
        hint="re-run the same command to publish this build's content (it replaces that image without a gap)",
        published=tuple(run.results.published),
    )


def mark_replaced(run, action) -> None:
    """The replaced image keeps a record tag (sha256-<hex>.replaced) until it is deleted."""
    from image_release.core.publish import replaced_tag

    name, client = run.registry_for(action.image)
    manifest = client.get_manifest(name.repository, action.digest)
    client.put_manifest(name.repository, replaced_tag(action.digest), manifest)


def delete_if_untagged(run, action) -> None:
    """The old image of a re-released version goes once the version tag points at the new one and no tag
    but its record points at the old one (a tag map read after publishing; core decides). A kept image
    keeps its record, so the next run (or ``invoke clean``) finishes the job."""
    from image_release.core.publish import replaced_subject, without_records

    new = run.results.pushed.get(action.image)
    if new is None:
        return
    deleter = run.deleter_for(action.image)
    if new == action.digest:  # the content did not change: nothing was replaced, the record goes again
        from image_release.core.publish import replaced_tag

        deleter.delete_tag(replaced_tag(action.digest))
        return
    full = deleter.tags_by_digest()
    records = tuple(t for t in full.get(action.digest, ()) if replaced_subject(t))
    rp = plan_replacement(action.version_tag, action.digest, new, split_attached(without_records(full))[0])
    replace(run, deleter, rp, records, prefix=f"replace {action.image}:{action.version_tag}: ", tags_by_digest=full)


def finish_replacements(run, action) -> None:
    """Delete what earlier releases left marked replaced, where nothing points at it any more."""
    from image_release.core.cleanup import pending_replacements
    from image_release.pipeline.attached import with_attached
    from image_release.pipeline.runner import apply

    deleter = run.deleter_for(action.image)
    tags = deleter.tags_by_digest()
    pending = [a for a in pending_replacements(action.image, tags) if a.digest in action.digests]
    if pending:
        pending, deleter = with_attached(run, deleter.image, deleter, pending, tags)
        apply(run, pending, using=Deletions(deleter, run.settings.clean.fail_on_refused),
              prefix=f"finish an earlier replacement in {action.image}: ")


def replace(run, deleter, rp, records: tuple[str, ...] = (), prefix: str = "", tags_by_digest=None):
    """Carry out a ReplacementPlan: delete the old manifest (and its ``records``, the tags marking it) when
    the plan says it may go, and with it its signatures and attestations (found in ``tags_by_digest``,
    the tag map the plan was made from). The report."""
    from image_release.pipeline.attached import with_attached
    from image_release.pipeline.runner import apply

    actions = []
    if rp.delete_digest is not None:
        actions.append(DeleteManifest(deleter.image, rp.delete_digest, records, rp.reason,
                                      about=f"the previous {rp.version_tag}"))
    actions, deleter = with_attached(run, deleter.image, deleter, actions, tags_by_digest)
    deletions = Deletions(deleter, run.settings.clean.fail_on_refused)
    if rp.delete_digest is None:
        deletions.report.notes.append(rp.reason)
    return apply(run, actions, using=deletions, prefix=prefix)
