"""Handlers of the image actions: build, local tags, and the push of the first tag, through the tool's own
registry client (``adapters.layout_push``), never ``docker push``.

The image built in this run is pushed from an OCI layout: the one its build wrote (``oci:PATH``: a
per-platform build, or several platforms in one BuildKit build), else ``Engine.export_oci`` of the loaded
image (layers gzipped with mtime 0, so the same image always gets the same digest). The layout is made once
per run, whatever the number of images; a second repository of the same registry mounts the blobs from the
first instead of uploading them again. The layouts this run made are removed when the publish step ends
(``release_layouts``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from image_release.errors import BuildError, PublishError, ReleaseError

_LAYOUT = "push:layout"  # run.cache: the layout of the image built in this run (adapters.layout_push.Layout)
_LAYOUT_LOCK = "push:layout-lock"  # run.cache: made once, whichever image's thread asks first
_BUILT = "push:built-layout"  # run.cache: the layout directory the build wrote (output oci:PATH)
_TEMP = "push:temp"  # run.cache: layout directories this run made, removed when publishing ends
_REPOS = "push:repos"  # run.cache: registry host -> repositories that hold the image's blobs now
MARKED = "push:marked"  # run.cache: image -> digests marked replaced right before the version PUT


def build(run, action) -> None:
    spec = action.spec
    with run.group(f"build {', '.join(spec.tags)}"):
        result = run.engine().build(spec, auths=_build_auths(run, spec))
    r = run.results
    r.image_id = result.image_id
    r.built_refs = result.tags
    if result.oci_layout:
        run.cache[_BUILT] = result.oci_layout


def _build_auths(run, spec):
    """A build that pushes by itself uses the credentials every other registry call uses, handed to the
    engine (a temporary DOCKER_CONFIG it removes after), never the user's own. The build step never asks
    for one (``BuildStep`` turns output push into an OCI layout the publish step pushes), so this is for a
    spec that still says ``push``."""
    if spec.output != "push":
        return None
    from image_release.adapters.registry_auth import docker_auth_config

    auths = {}
    for image in run.plan.images:
        name, client = run.registry_for(image)
        auth = docker_auth_config(client.credentials)
        if auth:
            auths[name.registry] = auth
    return auths


def tag_local(run, action) -> None:
    if not run.results.image_id:
        _require_image(run)
        raise BuildError("the image built in this run is not in the engine's image store (several platforms "
                         "built into an OCI layout): it cannot be tagged locally",
                         hint="tag a one-platform build, or publish it (invoke push)")
    run.engine().tag(run.results.image_id, action.refs)
    run.say(f"tagged locally: {', '.join(action.refs)}")


def has_built(run) -> bool:
    """An image was built in this run: loaded into the engine's store, or into an OCI layout."""
    return bool(run.results.image_id or run.cache.get(_BUILT))


def _require_image(run) -> None:
    if not has_built(run):
        raise BuildError("no image was built in this run", hint="run `invoke build` (it runs before tag and push)")


# -- the layout of the image built in this run ---------------------------------------------------------


def layout_dir(run) -> str:
    """A path for an OCI layout of this run, outside the build context; whoever writes the layout makes the
    directory (so naming it writes nothing), and it is removed when the publish step ends."""
    path = os.path.join(tempfile.gettempdir(), f"image-release-oci-{os.getpid()}-{uuid.uuid4().hex[:16]}")
    run.cache.setdefault(_TEMP, []).append(path)
    return path


def release_layouts(run) -> None:
    """Remove the layout directories this run made (the images are in the registry, or the run failed)."""
    for path in run.cache.pop(_TEMP, []):
        shutil.rmtree(path, ignore_errors=True)
    run.cache.pop(_LAYOUT, None)
    run.cache.pop(_BUILT, None)


def built_layout(run):
    """The OCI layout of the image built in this run (``adapters.layout_push.Layout``), made once."""
    from image_release.adapters.layout_push import read_layout

    import threading

    with run.cache.setdefault(_LAYOUT_LOCK, threading.Lock()):  # images of several registries publish at once
        layout = run.cache.get(_LAYOUT)
        if layout is not None:
            return layout
        _require_image(run)
        path = run.cache.get(_BUILT)
        if not path:
            path = layout_dir(run)
            run.engine().export_oci(run.results.image_id, path)
        layout = run.cache[_LAYOUT] = read_layout(path)
        return layout


def _push_content(run, image: str):
    """Push the blobs (and platform manifests) of this run's image into ``image``'s repository: mounted
    from another repository of the same registry that has them, else HEADed, else uploaded. The report."""
    from image_release.adapters.layout_push import push_content

    name, client = run.registry_for(image)
    repos = run.cache.setdefault(_REPOS, {}).setdefault(name.registry, [])
    report = push_content(client, name.repository, built_layout(run), mount_from=tuple(repos))
    if name.repository not in repos:
        repos.append(name.repository)
    return report


# -- the version tag -----------------------------------------------------------------------------------


def push_version(run, action) -> None:
    """Push ``image:tag`` once: this run's image (its blobs, then its manifest) or the merged index, with
    the version tag read again right before the manifest PUT (``_guard``). The PUT's own answer is its
    read-back (a HEAD only where the answer does not prove the write); it must show the pushed digest."""
    name, client = run.registry_for(action.image)
    ref = f"{action.image}:{action.tag}"
    r = run.results
    try:
        manifest, what = _version_manifest(run, action)
        if action.guarded:
            _guard(run, action, client, name.repository, manifest.digest)
        put = client.put_manifest(name.repository, action.tag, manifest, read_back=True)
    except ReleaseError as e:
        raise _not_published(run, e, ref) from None
    r.published.append(ref)  # it is out there; a failing check below says so
    if not put.verified:
        raise PublishError(
            f"{ref} does not resolve to the pushed digest {manifest.digest} "
            f"(registry says {put.seen or 'no such tag'})",
            hint="another run may be publishing the same version; re-run the same command",
            published=tuple(r.published),
        )
    r.digest = manifest.digest
    r.pushed[action.image] = manifest.digest
    r.manifests[action.image] = manifest
    r.resolved.setdefault(action.image, {})[action.tag] = manifest.digest
    run.say(f"pushed {ref} ({what}), stored as {manifest.digest}")


def _version_manifest(run, action):
    """(the manifest to put under the version tag, what was pushed for it)."""
    from image_release.adapters.registry import Manifest

    if action.index is not None:
        index = action.index
        return Manifest(raw=index.raw, media_type=index.media_type, digest=index.digest), (
            f"an index over {index.describe_platforms()}")
    report = _push_content(run, action.image)
    return report.top, report.summary()


def _guard(run, action, client, repo: str, ours: str) -> None:
    """The same-version race: the version tag is read right before the PUT; an image another run put there
    since the plan read it is marked replaced first, so that it is deleted once nothing points at it (by
    this run's FinishReplacements, or the next run's), never left untagged and unmarked."""
    from image_release.core.actions import MarkReplaced
    from image_release.core.image_ref import short_digest
    from image_release.core.publish import replaced_meanwhile
    from image_release.pipeline.runner import apply

    now = client.head_manifest(repo, action.tag)
    mark = replaced_meanwhile(action.replaces, now.digest if now else None, ours)
    if mark is None:
        return
    run.warn(f"{action.image}:{action.tag} points at {short_digest(mark)} since the plan read it (another run is "
             "publishing the same version): marking that image replaced before putting this run's")
    apply(run, [MarkReplaced(action.image, action.tag, mark)])
    run.cache.setdefault(MARKED, {}).setdefault(action.image, []).append(mark)


def _not_published(run, e: ReleaseError, ref: str) -> ReleaseError:
    """A failure before the version tag moved: nothing of this image was published (floating tags are only
    put after it), and how to finish."""
    if isinstance(e, PublishError):
        return e
    return PublishError(
        f"{e.message}; {ref} was not published and no floating tag was touched",
        hint=(f"{e.hint}; then " if e.hint else "") + "re-run the same command",
        published=tuple(run.results.published),
    )


# -- push by digest (a per-platform build) -------------------------------------------------------------


@dataclass
class _Lines:
    """A batch applier's report (``pipeline.runner.apply(using=...)``)."""

    items: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return self.items


class DigestPushes:
    """Applies ``PushByDigest`` actions through the runner's batch interface (``apply(run, actions,
    using=DigestPushes())``): ``would`` for a dry run, a call for a real one."""

    def would(self, actions) -> _Lines:
        return _Lines([f"dry run: would {a.describe()}" for a in actions])

    def __call__(self, run, actions) -> _Lines:
        out = _Lines()
        for action in actions:
            out.items += push_by_digest(run, action)
        return out


def push_by_digest(run, action) -> list[str]:
    """Push this run's one-platform image to every image repository by digest (no tag moves), then write
    the digest records for the merge. Returns the lines to show."""
    from image_release.adapters.layout_push import put_by_digest
    from image_release.core.merge import record_json, record_path, same_platform

    layout = built_layout(run)
    built = layout.platform
    if not same_platform(built, action.platform):
        raise BuildError(f"the build made a {built or 'platform-less'} image, not {action.platform}",
                         hint="build it with BuildKit (release.build.buildkit: auto or on); the classic builder "
                         "builds the engine's own platform only")
    digest, lines = layout.top.digest, []
    for image in action.images:
        name, client = run.registry_for(image)
        try:
            report = _push_content(run, image)
            put_by_digest(client, name.repository, layout.top)
        except ReleaseError as e:
            raise PublishError(f"pushing {image}@{digest} ({action.platform}) stopped: {e.message}",
                               hint=(f"{e.hint}; then " if e.hint else "") + "re-run the same command (no tag moved)",
                               published=tuple(run.results.published)) from None
        run.results.published.append(f"{image}@{digest}")
        run.results.pushed[image] = digest
        path = run.path(record_path(action.record_dir, image, action.platform))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(record_json(image, action.platform, digest, action.commit), encoding="utf-8")
        lines.append(f"pushed {image}@{digest} ({action.platform}; {report.summary()}), no tag moved; "
                     f"recorded in {_shown(run, path)}")
    run.results.digest = digest
    return lines


def _shown(run, path: Path) -> str:
    try:
        return str(path.relative_to(run.root))
    except ValueError:
        return str(path)
