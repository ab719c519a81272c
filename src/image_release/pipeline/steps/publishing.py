"""The publish step (``invoke push``): per image, read whether the version tag exists (a re-release),
let core decide the actions (core.publish), apply them. What a failure leaves published is listed, and
re-running the same command converges.

With ``invoke release --merge DIR_OR_FILES`` the image is not this run's build but an OCI image index over
the per-platform digests the records name: they are read and checked against the registry before anything
moves (``merge_index``, a check of this step), and the index is published like a single-process release's
image (version tag first, floating tags under the same guard, same-version replacement).
"""

from __future__ import annotations

from pathlib import Path

from image_release.core.publish import PublishFacts, after_publish_actions, marked_images, publish_actions, version_tag
from image_release.errors import ConfigError, PublishError, ReleaseError
from image_release.pipeline import checks
from image_release.pipeline.checks import REAL, Check

RERUN = "re-run the same command: it converges (tags already published stay as they are)"
_MERGED = "merge:index"  # run.cache: the MergedIndex of a --merge run


def once_published(run, error: ReleaseError, message: str, then: str) -> ReleaseError:
    """``error`` itself while nothing is published; after that, a PublishError that lists what is out
    and says how to finish (``then``), keeping the original hint first."""
    if not run.results.published or isinstance(error, PublishError):
        return error
    hint = (f"{error.hint}; then " if error.hint else "") + then
    return PublishError(message, hint=hint, published=tuple(run.results.published))


def read_facts(run, image: str, ours: str | None = None) -> PublishFacts:
    """What the registry holds before publishing: the digest the version tag points at (a re-release),
    asked only when the tag list read for the plan does not already say the tag is absent, and the
    images an earlier run marked replaced (in that tag list). ``ours``: the digest this run will push."""
    plan = run.plan
    tag = version_tag(plan)
    listed = run.registry_tags.get(image)
    marked = marked_images(listed or ())
    if tag is None or (listed is not None and tag not in listed):
        return PublishFacts(image=image, marked=marked, ours=ours)
    name, client = run.registry_for(image)
    info = client.head_manifest(name.repository, tag)
    return PublishFacts(image=image, old_digest=info.digest if info else None, marked=marked, ours=ours)


def our_digest(run, index) -> str | None:
    """The digest this run will push: the merged index's, or the built image's (its layout is made now, a
    local read; None when nothing was built, as in a dry run)."""
    from image_release.pipeline.apply_image import built_layout, has_built

    if index is not None:
        return index.digest
    return built_layout(run).top.digest if has_built(run) else None


# -- --merge: the per-platform records and what the registry holds for them -------------------------------


def merge_sources(run) -> tuple[str, ...]:
    """The folders and files given to ``invoke release --merge`` (one value, or several separated by commas)."""
    given = run.request.option("release", "merge")
    if not given:
        return ()
    items = given if isinstance(given, (list, tuple)) else str(given).split(",")
    return tuple(str(i).strip() for i in items if str(i).strip())


def read_records(run):
    """Every digest record under the given folders (``*.json``, recursively) and files."""
    from image_release.core.merge import HINT, parse_record

    files: list[Path] = []
    for source in merge_sources(run):
        path = run.path(source)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.json") if p.is_file())
            if not found:
                raise ConfigError(f"--merge {source}: the folder holds no digest record (*.json)", hint=HINT)
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"--merge {source}: no such file or folder", hint=HINT)
    records = []
    for path in dict.fromkeys(files):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"cannot read the digest record {path}: {e}", hint=HINT) from None
        records.append(parse_record(text, str(path)))
    return records


def _platform_manifest(run, image: str, digest: str, full: bool):
    """What ``image``'s repository holds under ``digest`` (None: nothing). ``full``: also its config's
    platform and revision label (one manifest GET and one blob GET; else one HEAD)."""
    from image_release.core.merge import REVISION, PlatformManifest

    name, client = run.registry_for(image)
    repo = name.repository
    if not full:
        info = client.head_manifest(repo, digest)
        return PlatformManifest(info.digest, info.media_type, info.size) if info else None
    try:
        manifest = client.get_manifest(repo, digest)
    except ReleaseError as e:
        if getattr(e, "status", None) == 404:
            return None
        raise
    found = PlatformManifest(manifest.digest, manifest.media_type, manifest.size)
    if manifest.is_index:
        return found
    try:
        config_digest = str((manifest.json().get("config") or {}).get("digest") or "")
    except (ValueError, AttributeError):
        config_digest = ""
    config = client.get_blob(repo, config_digest) if config_digest else None
    if config is None:
        return PlatformManifest(manifest.digest, manifest.media_type, manifest.size, config_read=True)
    import json

    try:
        doc = json.loads(config)
        platform = "/".join(str(doc[k]) for k in ("os", "architecture", "variant") if doc.get(k)) or None
        labels = (doc.get("config") or {}).get("Labels") or {}
        revision = labels.get(REVISION) if isinstance(labels.get(REVISION), str) else None
    except (ValueError, AttributeError, TypeError):  # not an image config: neither platform nor commit
        return PlatformManifest(manifest.digest, manifest.media_type, manifest.size, config_read=True)
    return PlatformManifest(manifest.digest, manifest.media_type, manifest.size, platform, revision,
                            config_read=True)


def merge_index(run):
    """The index a ``--merge`` run publishes (core.merge.MergedIndex), read and checked once: the records,
    and each digest in each image's repository (the first image's manifests in full, the others' by HEAD)."""
    if _MERGED in run.cache:
        return run.cache[_MERGED]
    from image_release.core.merge import by_image, merged_index

    images = run.plan.images
    records = read_records(run)
    grouped = by_image(records, images)
    found = {}
    for i, image in enumerate(images):
        for rec in grouped[image]:
            found[(image, rec.digest)] = _platform_manifest(run, image, rec.digest, full=i == 0)
    index = merged_index(records, images, found, run.context.sha, run.settings.build.platforms)
    run.cache[_MERGED] = index
    return index


def check_merge(run) -> None:
    if merge_sources(run):
        if run.plan.local_only:
            raise ConfigError("--merge needs the image repositories of release.images",
                              hint="set release.images in invoke.yaml")
        merge_index(run)


def merged(run):
    """The merged index of this run (None: not a --merge run)."""
    return merge_index(run) if merge_sources(run) else None


def merged_platforms(run) -> tuple[str, ...]:
    """What the release notes say of each platform of a ``--merge`` run (``linux/arm64 (sha256:...)``,
    core.merge.platform_lines), () for any other run: for ``releasing.notes_input``'s ``platforms``."""
    from image_release.core.merge import platform_lines

    return platform_lines(merged(run))


def publish_image(run, image: str, index=None) -> None:
    """Publish ``image``: read what the registry holds, let core decide (``core.publish``), apply; then
    finish what a same-version race left (``after_publish_actions``). ``index``: a merged index to publish
    instead of this run's build."""
    from image_release.pipeline.apply_image import MARKED
    from image_release.pipeline.runner import apply

    actions = publish_actions(run.plan, read_facts(run, image, our_digest(run, index)), index)
    if apply(run, actions):  # False in a dry run: nothing was replaced, nothing marked
        left = _old_left(run, image, actions)
        apply(run, after_publish_actions(image, run.cache.get(MARKED, {}).get(image, ()), left))


def _old_left(run, image: str, actions) -> str | None:
    """The old image a re-release replaced, when it is still in the registry after ``DeleteIfUntagged``
    (one HEAD by digest; None when it is gone or nothing was replaced)."""
    from image_release.core.actions import DeleteIfUntagged

    old = next((a.digest for a in actions if isinstance(a, DeleteIfUntagged)), None)
    if old is None:
        return None
    name, client = run.registry_for(image)
    return old if client.head_manifest(name.repository, old) is not None else None


def publish_all(run, index=None) -> None:
    """Publish every image of the plan. The images of one registry go one after another (the later ones
    mount the blobs the first one uploaded); different registries at once (pipeline.bounded), each
    image's output shown in the order of release.images once all are done. A failure stops its registry's
    later images; the first failure, in that order, is raised listing everything published."""
    images = list(run.plan.images)
    groups: dict[str, list[str]] = {}
    for image in images:
        groups.setdefault(run.registry_for(image)[0].registry, []).append(image)
    if len(groups) <= 1:
        for image in images:
            with run.group(f"publish {image}"):
                _raise_stopped(run, image, _publish_one(run, image, index))
        return
    from image_release.pipeline.bounded import run_bounded

    def publish_group(group: list[str]) -> list[tuple]:
        done = []
        for image in group:
            with run.held() as lines:
                error = _publish_one(run, image, index)
            done.append((image, lines, error))
            if error is not None:
                break
        return done

    outcomes: dict = {}
    run_bounded(publish_group, list(groups.values()), 0, len(groups), len(groups), outcomes, lambda o: False,
                "image-release-publish")
    finished = {image: (lines, error) for done in outcomes.values() for image, lines, error in done}
    order = {image: i for i, image in enumerate(images)}
    run.results.published.sort(key=lambda ref: order.get(_image_of(ref, images), len(images)))
    first = None
    for image in (i for i in images if i in finished):
        lines, error = finished[image]
        with run.group(f"publish {image}"):
            run.replay(lines)
        first = first or (error and (image, error))
    if first:
        image, error = first
        if isinstance(error, PublishError):  # listed while the other registries were still publishing
            error.published = tuple(run.results.published)
        _raise_stopped(run, image, error)


def _publish_one(run, image: str, index) -> ReleaseError | None:
    try:
        publish_image(run, image, index)
    except ReleaseError as e:
        return e
    return None


def _raise_stopped(run, image: str, error: ReleaseError | None) -> None:
    if error is not None:
        raise once_published(run, error, f"publishing {image} stopped: {error.message}", RERUN) from None


def _image_of(ref: str, images: list[str]) -> str | None:
    """The image of a published ref (``image:tag`` or ``image@digest``): the longest that prefixes it."""
    found = [i for i in images if ref.startswith((i + ":", i + "@"))]
    return max(found, key=len) if found else None


class PublishStep:
    name = "publish"

    def skip(self, run) -> str | None:
        return None if run.plan.push else run.plan.push_reason

    def checks(self, run):
        return (Check("registries", checks.registries, REAL), Check("merge inputs", check_merge))

    def run(self, run) -> None:
        from image_release.pipeline.apply_image import release_layouts

        index = merged(run)
        try:
            publish_all(run, index)
        finally:
            release_layouts(run)
        run.reporter.set_outputs({"digest": run.results.digest or "", "tags": "\n".join(run.results.published)})
