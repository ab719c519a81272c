"""The plan's CI outputs: the tool's own (``version``, ``tags``) and docker/metadata-action's, under its
names, where its users read them (core.metadata_outputs computes them):

- step outputs (``$GITHUB_OUTPUT``): ``tag-names``, ``labels``, ``annotations``, ``json``, ``bake-file``,
  ``bake-file-tags``, ``bake-file-labels``, ``bake-file-annotations``; ``version`` and ``tags`` are the
  tool's own under ``release.semantics: safe`` (the release version, empty on a branch; the refs this
  run publishes) and metadata-action's under ``metadata-action``;
- the ``DOCKER_METADATA_OUTPUT_*`` variables, all ten, as metadata-action defines them (on GitHub
  ``$GITHUB_ENV``, on GitLab the dotenv report), unless ``DOCKER_METADATA_SET_OUTPUT_ENV`` is ``false``;
- the bake files, in ``<output_dir>`` (a target's in ``<output_dir>/<target>``), written by real runs
  only (a dry run writes no file; the outputs still name where they would be), and only when their
  content changed (a build context that holds the output folder keeps its file times).

Annotation levels come from ``DOCKER_METADATA_ANNOTATIONS_LEVELS`` (core.manifest_annotations).
"""

from __future__ import annotations

from pathlib import Path

from image_release.core import metadata_outputs as mo
from image_release.core.manifest_annotations import ENV_LEVELS, parse_levels
from image_release.core.plan_inputs import SAFE

OWN = ("version", "tags")


def write_plan_outputs(run, plan) -> None:
    """Every output of the plan step (see the module doc)."""
    levels = ",".join(parse_levels(run.env.get(ENV_LEVELS)))
    bake_dir = bake_folder(run)
    target = f"{mo.DEFAULT_BAKE_TARGET}-{run.target.name}" if run.target else mo.DEFAULT_BAKE_TARGET
    values = mo.outputs(plan, levels=levels, bake_target=target, bake_dir=str(bake_dir))
    own = {"version": str(plan.version) if plan.version else "", "tags": "\n".join(plan.refs())}
    if plan.semantics != SAFE:
        own = {k: values[k] for k in OWN}
    run.reporter.set_outputs(own)
    env = mo.output_env(values) if run.env.get("DOCKER_METADATA_SET_OUTPUT_ENV", "").strip().lower() != "false" else {}
    dropped = run.reporter.set_metadata({k: v for k, v in values.items() if k not in OWN}, env)
    if dropped:
        run.warn(f"the dotenv report stays within GitLab's default limits (20 variables, 5 KB): left out "
                 f"{', '.join(dropped)}")
    files = [(bake_dir / name, text) for name, text in mo.bake_files(plan, levels, target).values()]
    from image_release.pipeline.runner import apply

    apply(run, files, using=BakeFiles(quiet=bool(run.request.option("plan", "json"))))


def bake_folder(run) -> Path:
    out = run.path(run.settings.output_dir)
    return out / run.target.name if run.target else out


class _Report:
    def __init__(self, lines: list[str]):
        self._lines = lines

    def lines(self) -> list[str]:
        return self._lines


class BakeFiles:
    """The batch applier of the bake files: ``(path, text)`` pairs, written; in a dry run, named."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet  # stdout is JSON

    def __call__(self, run, files) -> _Report:
        for path, text in files:
            if path.is_file() and path.read_text(encoding="utf-8") == text:
                continue  # kept as it is: a build context holding it sees no new file time
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)
        return _Report([])

    def would(self, files) -> _Report:
        if self.quiet or not files:
            return _Report([])
        folder = files[0][0].parent
        return _Report([f"dry run: would write metadata-action's {len(files)} bake files to {folder}"])
