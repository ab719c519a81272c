"""The plan step (``invoke version``): read the context and the versions that exist, let core decide the
plan, show it. It writes nothing but the CI outputs: ``version`` and ``tags``, and docker/metadata-action's
(pipeline.outputs: step outputs, variables, bake files). A target's run (``release.targets``) reads only
its own tags, and shows its target."""

from __future__ import annotations

import json
from pathlib import Path

from image_release.core.context import detect_context
from image_release.core.plan import default_images, known_versions_from_tags, make_plan, release_version, versions_in_registry
from image_release.core.targets import head_facts, own_tags, target_context
from image_release.errors import ReleaseError


def read_context(run, *, as_target: bool = True):
    """The run's context; a target's run (``as_target``) sees only its own tags, prefix stripped
    (core.targets.target_context)."""
    target = run.target if as_target else None
    ctx = detect_context(
        run.env,
        cli_tag=run.settings.tag,
        git=run.git.facts if target is None else (lambda: head_facts(run.git.facts(), target, run.targets)),
        now=run.now,
        read_file=lambda p: Path(p).read_text(),
    )
    return ctx if target is None else target_context(ctx, target)


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
    kv = run.settings.known_versions
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
    if kv.get("registry", True) and (run.will_run("publish") or "plan" in run.request.requested):
        for image in default_images(ctx, run.settings.images, run.settings.semantics):
            versions += _registry_versions(run, image, warnings)
    return versions


def _registry_versions(run, image: str, warnings: list[str]):
    try:
        name, client = run.registry_for(image)
        tags = client.list_tags(name.repository)
    except ReleaseError as e:
        run.registry_tags[image] = None
        warnings.append(f"could not read the tags of {image} ({e.message}); floating tags are decided from git tags only")
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
                run.say(explain(plan))
        write_plan_outputs(run, plan)
