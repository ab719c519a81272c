"""What every image-release task shares: the chain-wide flags, and how a task finds its run.

A task is one line: ``run_task(c, STEP, flags, options)``. The run comes from the executor
(``ReleaseExecutor`` builds it from the whole list of tasks before the first runs, and hands it to each
task's context as ``c.release_run``). A task run by Invoke's plain executor makes a run of its own
chain; a second image-release task in the same plain invocation is refused (its flags could not have
reached the first), with the one line of configuration that fixes it.
"""

from __future__ import annotations

from typing import Any

from invoke import Argument, Context, Task
from invoke import task as invoke_task
from invoke.exceptions import Exit

CHAIN_FLAGS = ("tag", "dry_run")

CHAIN_HELP = {
    "tag": "release this version tag, e.g. v1.2.3 (default: from CI or the git tag on HEAD); reaches every step",
    "dry_run": "plan and print only: reads are real, nothing is built, pushed, deleted or created",
}

EXECUTOR_LINE = "tasks: {executor_class: image_release.tasks.ReleaseExecutor}"
_STANDALONE = "release_standalone_steps"  # config key: steps run so far by tasks without the executor


def helps(**extra: str) -> dict:
    return {**CHAIN_HELP, **extra}


class ReleaseTask(Task):
    """An image-release task: ``step`` names the pipeline step it runs (with its chain); ``kinds`` gives
    flags whose default is None their type (so ``--keep`` parses and shows as INT)."""

    step: str = ""
    kinds: dict = {}

    def arg_opts(self, name, default, taken_names):
        opts = super().arg_opts(name, default, taken_names)
        if name in self.kinds:
            opts["kind"] = self.kinds[name]
        return opts

    def get_arguments(self, ignore_unknown_help=None):
        return [_Checked.of(a) if a.kind is int else a for a in super().get_arguments(ignore_unknown_help)]


class _Checked(Argument):
    """A whole-number flag: a value that is not one is an input error (exit 2) naming the flag, not a
    traceback from Invoke's parser."""

    @classmethod
    def of(cls, arg: Argument) -> "_Checked":
        new = cls.__new__(cls)
        new.__dict__.update(arg.__dict__)
        return new

    def set_value(self, value, cast: bool = True):
        try:
            return super().set_value(value, cast)
        except ValueError:
            flag = f"--{self.name.replace('_', '-')}"
            raise Exit(f"error: {flag} takes a whole number, not {value!r}\n  hint: for example {flag} 10",
                       code=2) from None

def release_task(step: str, kinds: dict | None = None, optional_positionals: tuple[str, ...] = (), **kwargs):
    """``@task`` for an image-release task running ``step``; the body is wrapped by the error boundary.
    ``optional_positionals``: arguments that may also be given without their flag (``invoke build api``),
    parsed by tasks._parsing."""
    from image_release.tasks._boundary import boundary

    class _Task(ReleaseTask):
        pass

    _Task.step, _Task.kinds = step, dict(kinds or {})
    _Task.optional_positionals = tuple(optional_positionals)

    def decorate(fn):
        return invoke_task(klass=_Task, **kwargs)(boundary(fn))

    return decorate


class RunContext(Context):
    """The Invoke context of a task run by ReleaseExecutor: it carries the run."""

    release_run: Any = None


class RunHolder:
    """Makes the runs on first use, from the Invoke config as it is when the first task starts (after
    Invoke loaded the collection's config and the INVOKE_RELEASE_* variables): one run per target the
    invocation releases (pipeline.run.runs_for)."""

    def __init__(self, request):
        self.request = request
        self.runs = None

    def get(self, config) -> list:
        if self.runs is None:
            from image_release.pipeline.run import runs_for

            raw = dict(config.get("release") or {}) if hasattr(config, "get") else {}
            root = getattr(config, "_project_prefix", None) or None
            dry = bool(config.get("run", {}).get("dry", False)) if hasattr(config, "get") else False
            self.runs = runs_for(raw, self.request, root=root, invoke_dry=dry, top_keys=_file_keys(config))
        return self.runs

    @property
    def redactor(self):
        return self.runs[0].redactor if self.runs else None


def _file_keys(config) -> list[str]:
    """The top-level keys of the configuration files Invoke read (project, user, system, -f)."""
    keys: list[str] = []
    for level in ("_project", "_runtime", "_user", "_system"):
        data = getattr(config, level, None)
        if isinstance(data, dict):
            keys += [k for k in data if k not in keys]
    return keys


def blank_tag_error():
    from image_release.errors import ContextError

    return ContextError("--tag is empty: a release needs the version tag (an empty --tag would build and publish "
                        "the branch instead)",
                        hint="pass the tag, e.g. --tag v1.2.3; in CI check that the variable given to --tag is set")


def run_task(c, step: str, **given: Any) -> None:
    """Run ``step`` (and its chain) in this invocation's run."""
    from image_release.pipeline.runner import execute

    flags = {k: v for k, v in given.items() if k in CHAIN_FLAGS}
    if isinstance(flags.get("tag"), str) and not flags["tag"].strip():
        raise blank_tag_error()
    holder = getattr(c, "release_run", None)
    if holder is None:
        holder = _standalone(c, step, flags, {k: v for k, v in given.items() if k not in CHAIN_FLAGS})
    runs = holder.get(c.config)
    for run in runs:
        _same_flags(run, flags)
    execute(runs, step)


def _standalone(c, step: str, flags: dict, options: dict) -> RunHolder:
    from image_release.errors import ContextError
    from image_release.pipeline.run import RunRequest
    from image_release.pipeline.steps import chain_of

    before = list(c.config.get(_STANDALONE) or [])
    if before:
        raise ContextError(
            "several image-release tasks in one `invoke` command need image-release's executor, so that "
            "--tag and --dry-run reach them all and each step runs once",
            hint=f"add this line to invoke.yaml: `{EXECUTOR_LINE}` (or run the tasks through `image-release`)",
        )
    c.config[_STANDALONE] = before + [step]
    return RunHolder(RunRequest(steps=chain_of([step]), requested=(step,), flags=flags, options={step: options}))


def _same_flags(run, flags: dict) -> None:
    """A task called from another task's body with its own flags must agree with the run."""
    from image_release.errors import ContextError

    tag, dry = flags.get("tag"), flags.get("dry_run")
    if (tag and tag.strip() != (run.settings.tag or "")) or (dry and not run.dry_run):
        raise ContextError(
            "a task was given --tag or --dry-run that the tasks before it did not get",
            hint="give the flag to the first image-release task of the command (with image-release's executor "
                 f"it reaches them all: `{EXECUTOR_LINE}` in invoke.yaml)",
        )
