"""The build step (``invoke build``) and the local tag step (``invoke tag``)."""

from __future__ import annotations

from image_release.core.actions import Build, TagLocal
from image_release.pipeline import checks
from image_release.pipeline.checks import REAL, WARN_IN_DRY_RUN, Check, resolved_spec


class BuildStep:
    """Builds the plan's image from the current source; nothing leaves the machine."""

    name = "build"

    def skip(self, run) -> str | None:
        return None

    def checks(self, run):
        return (
            Check("build inputs", checks.build_inputs),
            Check("working tree", checks.clean_tree, WARN_IN_DRY_RUN),
            Check("images and tag", checks.images_and_tag),
            Check("engine", checks.engine, REAL),
        )

    def run(self, run) -> None:
        from image_release.pipeline.runner import apply

        if apply(run, [Build(resolved_spec(run))]) and not run.plan.push:
            run.say(f"nothing is pushed: {run.plan.push_reason}")


class TagStep:
    """Gives the built image every tag of the plan, locally (the registry gets them from ``publish``)."""

    name = "tag"

    def skip(self, run) -> str | None:
        return None if self._refs(run) else "the image already has every tag of the plan"

    def checks(self, run):
        return ()

    def run(self, run) -> None:
        from image_release.pipeline.runner import apply

        apply(run, [TagLocal(self._refs(run))])

    @staticmethod
    def _refs(run) -> tuple[str, ...]:
        return tuple(r for r in run.plan.refs() if r not in run.results.built_refs and r not in run.plan.build.tags)
