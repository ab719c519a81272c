"""The build step (``invoke build``) and the local tag step (``invoke tag``).

What the build produces follows what the run will do with it:

- one platform (``--platform`` too): loaded into the engine's store, whatever the builder (the classic
  builder, BuildKit built into dockerd, buildx with any driver); the push exports it as an OCI layout
  (``Engine.export_oci``) and pushes that with the tool's own registry client;
- several platforms, published in this run: an OCI layout (a buildx build to ``oci:PATH``, which needs a
  builder with the OCI exporter, e.g. the docker-container driver) that the publish step pushes, index
  and all; never a build that pushes by itself;
- several platforms, nothing published (a pull request, or ``invoke build`` alone): the build cache only,
  and the step says that nothing is pushed;
- ``--platform P --push-by-digest`` (one job of a CI matrix): that one platform, pushed to every image
  repository by digest only (no tag moves) when the plan publishes, and recorded in
  ``<output_dir>/digests/<image-safe-name>/<platform-safe>.json`` for ``invoke release --merge``; the
  digest also goes to the CI outputs (``digest``, ``RELEASE_DIGEST``).

``invoke release --merge`` builds nothing: the images are the per-platform builds' (the step is skipped).
"""

from __future__ import annotations

from dataclasses import replace

from image_release.core.actions import Build, PushByDigest, TagLocal
from image_release.errors import ConfigError
from image_release.pipeline import checks
from image_release.pipeline.checks import REAL, WARN_IN_DRY_RUN, Check, resolved_spec

DIGESTS_DIR = "digests"  # under release.output_dir


def build_options(run) -> tuple[str | None, bool]:
    """(the platform asked for with ``--platform``, or the only one of release.build.platforms under
    ``--push-by-digest``; whether to push by digest). ConfigError when a push by digest has no one platform."""
    from image_release.core.merge import normalize_platform

    given = run.request.option("build", "platform")
    by_digest = bool(run.request.option("build", "push_by_digest"))
    platform = normalize_platform(given) if given not in (None, "") else None
    if by_digest and platform is None:
        configured = run.settings.build.platforms
        if len(configured) != 1:
            raise ConfigError(
                "--push-by-digest builds one platform, and "
                + (f"release.build.platforms lists {len(configured)}" if configured else "none was given"),
                hint="pass the platform of this job, e.g. --platform linux/arm64 (a CI matrix runs one job per "
                "platform, then `invoke release --merge` puts them together)")
        platform = normalize_platform(configured[0])
    return platform, by_digest


def merging(run) -> bool:
    """``invoke release --merge ...``: the images come from per-platform builds."""
    return bool(run.request.option("release", "merge"))


def record_dir(run) -> str:
    return f"{run.settings.output_dir.rstrip('/')}/{DIGESTS_DIR}"


def _pushed_later(run) -> bool:
    """The image built here is published in this run: by the publish step, or by digest right after."""
    return run.plan.push and (run.will_run("publish") or build_options(run)[1])


def build_spec(run, layout: str | None = None):
    """The spec to build: the plan's, for ``--platform``'s one platform (the classic builder builds the
    engine's own, checked after the build), with the output the run needs (see the module docstring);
    ``layout``: the directory of an OCI layout output (None in a dry run: a placeholder)."""
    from image_release.core.build_spec import build_output

    spec = resolved_spec(run)
    platform, by_digest = build_options(run)
    if platform is not None:
        off = (spec.buildkit or "auto").strip().lower() == "off"
        spec = replace(spec, platforms=() if off else (platform,))
    output = build_output(spec.platforms, _pushed_later(run))
    if output == "push":  # several platforms: BuildKit's OCI exporter; the publish step pushes the layout
        output = f"oci:{layout or '<a temporary OCI layout>'}"
    return replace(spec, output=output)


def check_build_inputs(run) -> None:
    """The spec this step will build (the plan's, for ``--platform``'s one platform, with the output the run
    needs), as written (core) and the files it names (the engine adapter): the engine trusts a spec that
    passed here."""
    from image_release.adapters.engine import check_build_paths
    from image_release.core.build_spec import validate_build_spec

    spec = build_spec(run, "layout")
    check_build_paths(spec)
    validate_build_spec(spec, run.env)
    checks.secret_looking_args(run)


class BuildStep:
    """Builds the plan's image from the current source; nothing leaves the machine, except a per-platform
    build's push by digest."""

    name = "build"

    def skip(self, run) -> str | None:
        if merging(run):
            return "release --merge publishes the per-platform builds' digests: nothing is built here"
        return None

    def checks(self, run):
        return (
            Check("build inputs", check_build_inputs),
            Check("working tree", checks.clean_tree, WARN_IN_DRY_RUN),
            Check("images and tag", checks.images_and_tag),
            Check("engine", checks.engine, REAL),
        )

    def run(self, run) -> None:
        from image_release.pipeline.apply_image import DigestPushes, layout_dir, release_layouts
        from image_release.pipeline.runner import apply

        platform, by_digest = build_options(run)
        spec = build_spec(run, None)
        if spec.output_kind == "oci":  # a path only: the build writes the layout
            spec = build_spec(run, layout_dir(run))
        built = apply(run, [Build(spec)])
        if built and not _pushed_later(run):
            reason = run.plan.push_reason if not run.plan.push else (
                "the publish step does not run in this command (invoke push or invoke release publishes)")
            run.say(f"nothing is pushed: {reason}")
        if not (by_digest and run.plan.push):
            return
        action = PushByDigest(run.plan.images, platform, record_dir(run), run.context.sha)
        try:
            apply(run, [action], using=DigestPushes())
        finally:
            release_layouts(run)
        if run.results.digest:
            run.reporter.set_outputs({"digest": run.results.digest})


class TagStep:
    """Gives the built image every tag of the plan, locally (the registry gets them from ``publish``)."""

    name = "tag"

    def skip(self, run) -> str | None:
        if merging(run):
            return "release --merge builds nothing to tag locally"
        return None if self._refs(run) else "the image already has every tag of the plan"

    def checks(self, run):
        return ()

    def run(self, run) -> None:
        from image_release.pipeline.runner import apply

        apply(run, [TagLocal(self._refs(run))])

    @staticmethod
    def _refs(run) -> tuple[str, ...]:
        return tuple(r for r in run.plan.refs() if r not in run.results.built_refs and r not in run.plan.build.tags)
