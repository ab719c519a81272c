"""The plan step (``invoke version``): read the context and the versions that exist, let core decide the
plan, show it. It writes nothing but the CI outputs: ``version`` and ``tags``, and docker/metadata-action's
(pipeline.outputs: step outputs, variables, bake files). A target's run (``release.targets``) reads only
its own tags, and shows its target."""

from __future__ import annotations

import json

from image_release.core.context import detect_context
from image_release.core.plan import default_images, known_versions_from_tags, make_plan, release_version, versions_in_registry
from image_release.core.targets import head_facts, own_tags, target_context
from image_release.errors import RegistryUnreachable, ReleaseError
from image_release.pipeline import prefetch

MAX_PAYLOAD_BYTES = 8 * 1024 * 1024  # GitHub's event payloads are a few KiB; a push of many commits, some MiB


def read_context(run, *, as_target: bool = True):
    """The run's context; a target's run (``as_target``) sees only its own tags, prefix stripped
    (core.targets.target_context)."""
    target = run.target if as_target else None
    ctx = detect_context(
        run.env,
        cli_tag=run.settings.tag,
        git=run.git.facts if target is None else (lambda: head_facts(run.git.facts(), target, run.targets)),
        now=run.now,
        read_file=lambda p: read_payload(run, p),
    )
    return ctx if target is None else target_context(ctx, target)


def read_payload(run, path: str) -> str:
    """The event payload at ``path`` (GITHUB_EVENT_PATH), read bounded: a regular file of at most
    ``MAX_PAYLOAD_BYTES``, checked on the open file (a FIFO would block the open, ``/dev/zero`` never ends).
    Anything else is a warning and an empty payload (the default branch and pull request stay unknown), as
    an unreadable or malformed payload already is."""
    import os
    import stat

    ignored = "the event payload is ignored (the default branch and pull request are unknown)"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        run.warn(f"GITHUB_EVENT_PATH {path} cannot be read ({e.strerror}); {ignored}")
        return ""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            run.warn(f"GITHUB_EVENT_PATH {path} is not a regular file; {ignored}")
            return ""
        if info.st_size > MAX_PAYLOAD_BYTES:
            run.warn(f"GITHUB_EVENT_PATH {path} has {info.st_size} bytes, over {MAX_PAYLOAD_BYTES}; {ignored}")
            return ""
        data = os.read(fd, MAX_PAYLOAD_BYTES + 1)
    finally:
        os.close(fd)
    return data.decode("utf-8", errors="replace")


def read_and_plan(run):
    """The release plan: a bad tag is rejected before any read (VersionError names the form)."""
    ctx = run.context
    release_version(ctx, run.settings)
    warnings: list[str] = []
    known = _known_versions(run, ctx, warnings) if ctx.event == "tag" else []
    from image_release.pipeline.source_date import with_created_label

    local = _slug(run.settings.project.get('title') or run.root.name) + (f"-{_slug(run.target.name)}" if run.target else "")
    return make_plan(
        ctx, with_created_label(run, run.settings), known_versions=known,  # created: the source's date
        fallback_image=f"local/{local}",
        warnings=warnings,
    )


def _known_versions(run, ctx, warnings: list[str]):
    """The versions that exist: local git tags, origin's tags (in CI) and each image's tag list in the
    registry. The registries are read in the background, one thread per registry host, while git is."""
    kv = run.settings.known_versions
    images = _registry_images(run, ctx)
    hosts = _by_host(images)
    if hosts:
        run.reporter  # noqa: B018 - made before the reads: a password they find is masked through it
    for host, group in hosts.items():
        prefetch.start(run, ("tags", host), lambda g=group: _read_tags(run, g))
    tags: list[str] = []
    if kv.get("git", True):
        tags += run.git.tag_names()
    if kv.get("remote", True) and ctx.ci and run.git.is_repository:
        try:
            tags += run.git.remote_tags()
        except ReleaseError as e:
            warnings.append(f"could not read the tags of origin ({e.message}); floating tags are decided "
                            "from the local tags and the registry")
    versions = known_versions_from_tags(own_tags(tags, run.target, run.targets))  # a target's: its prefix only
    # The registry is asked when the plan decides what is published or is what was asked for;
    # `invoke build` or `invoke build tag` publish nothing and skip the request.
    read: dict[str, object] = {}
    for host, group in hosts.items():
        read.update(prefetch.result(run, ("tags", host), lambda g=group: _read_tags(run, g)))
    for image in images:
        versions += _registry_versions(run, image, read[image], warnings)
    return versions


def _registry_images(run, ctx) -> tuple[str, ...]:
    """The images whose tag lists the plan reads (see _known_versions), in the order of release.images."""
    if run.settings.known_versions.get("registry", True) and (run.will_run("publish")
                                                            or "plan" in run.request.requested):
        return default_images(ctx, run.settings.images, run.settings.semantics)
    return ()


def _by_host(images) -> dict[str, list[str]]:
    """The images grouped by registry host (an image whose name does not parse is a group of its own: its
    error is reported like a registry's)."""
    from image_release.core.image_ref import parse_image

    groups: dict[str, list[str]] = {}
    for image in images:
        try:
            host = parse_image(image).registry
        except ReleaseError:
            host = f"?{image}"
        groups.setdefault(host, []).append(image)
    return groups


def _read_tags(run, images) -> dict[str, object]:
    """image -> its tag list, or the ReleaseError that kept it from being read (one registry host)."""
    out: dict[str, object] = {}
    for image in images:
        try:
            name, client = run.registry_for(image)
            out[image] = client.list_tags(name.repository)
        except ReleaseError as e:
            out[image] = e
    return out


def _registry_versions(run, image: str, tags, warnings: list[str]):
    if isinstance(tags, ReleaseError):
        run.registry_tags[image] = None
        if isinstance(tags, RegistryUnreachable):  # the preflight says so once, without a second round
            run.unreachable[image] = tags
        warnings.append(f"could not read the tags of {image} ({tags.message}); floating tags are decided from "
                        "git tags only")
        return []
    run.registry_tags[image] = tags
    return versions_in_registry(tags, run.settings)


def _target_line(run) -> str:
    t = run.target
    tag = f", git tag {run.git_tag}" if run.git_tag else ""
    return f"target {t.name} (tag prefix {t.tag_prefix!r}, paths {', '.join(t.paths)}{tag})"


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._") or "app"


class PlanStep:
    """Computes and shows the plan; every chain starts here."""

    name = "plan"

    def skip(self, run) -> str | None:
        return None

    def checks(self, run):
        from image_release.pipeline import checks

        return (checks.Check("an image repository", checks.has_images),
                checks.Check("something to publish", checks.publishes_something))

    def run(self, run) -> None:
        start_preflight_reads(run)  # the plan first, then the reads of the checks that follow it
        from image_release.core.plan import explain

        from image_release.pipeline.outputs import write_plan_outputs

        plan = run.plan
        if run.request.option("plan", "json"):
            shown = plan.to_dict()
            if run.target is not None:
                shown["target"] = {**run.target.to_dict(), "git_tag": run.git_tag}
            run.say(json.dumps(shown, indent=2))
            for w in plan.warnings:  # the text plan shows its warnings itself
                run.warn(w)
        else:
            with run.group(f"release plan of {run.target.name}" if run.target else "release plan"):
                if run.target is not None:
                    run.say(_target_line(run))
                asked = "plan" in run.request.requested  # `invoke version` shows the whole plan
                run.say(explain(plan, publishes=asked or run.will_run("publish"),
                                releases=asked or run.will_run("release")))
        write_plan_outputs(run, plan)


def start_preflight_reads(run) -> None:
    """Start the network reads of the checks that will follow the plan (one registry ping per host, the
    forge's preflight), so that they overlap with the other checks (git status, the engine's start-up, the
    notes); each check collects its read where it ran it before (pipeline.prefetch). Only for the checks
    this run will make: a dry run makes none of them, a skipped step none of its own."""
    from image_release.pipeline.runner import makes_real_checks
    from image_release.pipeline.steps import STEPS

    if not makes_real_checks(run):
        return

    if run.will_run("publish") and not STEPS["publish"].skip(run):
        for host, group in _by_host([i for i in run.plan.images if i not in run.unreachable]).items():
            if not host.startswith("?"):
                prefetch.start(run, ("ping", host), lambda image=group[0]: run.registry_for(image)[1].ping())
    if run.will_run("release") and run.settings.forge.preflight and not STEPS["release"].skip(run):
        prefetch.start(run, ("forge",), lambda: _forge_preflight(run))


def _forge_preflight(run) -> None:
    from image_release.pipeline.forges import client_for, forge_target

    target = forge_target(run)
    if target.kind != "none":
        client_for(run, target).preflight()
