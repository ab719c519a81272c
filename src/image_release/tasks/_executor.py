"""The Invoke executor that makes one invocation one release run.

Invoke passes command-line arguments only to the task named there and calls tasks one after another.
This executor looks at the whole list of calls first (after Invoke expanded pre/post tasks and
removed duplicates) and makes one :class:`RunRequest` from every image-release task in it, whatever
its name or collection: the steps that will run (so every preflight happens before anything is
built, and the registry is read when a later task publishes), the chain-wide flags given to any of
them (``--tag``, ``--dry-run``), and each step's own options (``version --json``, ``clean --keep``).
Every task of the invocation gets the run through its context.

Select it in invoke.yaml (Invoke reads the executor from config files, before any collection
config): ``tasks: {executor_class: image_release.tasks.ReleaseExecutor}``. ``image-release`` always
uses it.
"""

from __future__ import annotations

from invoke import Call, Executor
from invoke.parser import ParserContext

from image_release.tasks._common import CHAIN_FLAGS, ReleaseTask, RunContext, RunHolder


class _RunCall(Call):
    """A call whose context carries the invocation's run."""

    def __init__(self, call: Call, holder: RunHolder):
        super().__init__(call.task, called_as=call.called_as, args=call.args, kwargs=call.kwargs)
        self.holder = holder

    def make_context(self, config, core_parse_result):
        c = RunContext(config=config, remainder=core_parse_result.remainder)
        c.release_run = self.holder
        return c


class ReleaseExecutor(Executor):
    def execute(self, *tasks):
        from image_release.tasks._boundary import guard

        self._explicit = _explicit_flags(tasks)
        with guard(config=self.config):  # Invoke's own config errors (merging, casting INVOKE_* variables) come from here
            return super().execute(*tasks)

    def dedupe(self, calls):
        """One call per task (a task named on the command line keeps its own flags), every one of them
        with the invocation's run."""
        seen: dict[int, Call] = {}
        for call in calls:
            if id(call.task) in seen:
                continue
            own = self._own_flags(call.task)
            if own and call.kwargs != own:
                call = Call(call.task, args=call.args, kwargs={**call.kwargs, **own}, called_as=call.called_as)
            seen[id(call.task)] = call
        deduped = list(seen.values())
        holder = RunHolder(request_for(deduped, self._explicit_given(deduped)))
        return [_RunCall(call, holder) for call in deduped]

    def _own_flags(self, task) -> dict:
        for name, given in self._explicit.items():
            try:
                if self.collection[name] is task:
                    return given
            except (KeyError, ValueError):
                continue
        return {}

    def _explicit_given(self, calls) -> list[dict]:
        return [self._own_flags(call.task) for call in calls]


def _explicit_flags(tasks) -> dict[str, dict]:
    """The flags each task was given explicitly on the command line (not its defaults)."""
    explicit: dict[str, dict] = {}
    for t in tasks:
        if isinstance(t, ParserContext):
            name, given = t.name, {a.name: a.value for a in t.args.values() if a.got_value}
        elif isinstance(t, str):
            name, given = t, {}
        else:
            name, given = t[0], dict(t[1])
        explicit.setdefault(name, {}).update(given)
    return explicit


def request_for(calls, explicit: list[dict]):
    """The run request of these calls: the steps of every image-release task among them, the chain-wide
    flags given to any of them, each step's options."""
    from image_release.errors import ContextError
    from image_release.pipeline.run import RunRequest
    from image_release.pipeline.steps import chain_of

    steps, requested, flags, options = [], [], {}, {}
    for call, given in zip(calls, explicit):
        if not isinstance(call.task, ReleaseTask):
            continue
        step = call.task.step
        steps.append(step)
        requested.append(step)
        options[step] = {k: v for k, v in call.kwargs.items() if k not in CHAIN_FLAGS}
        _no_blank_tag(given)
        for flag in CHAIN_FLAGS:
            value = given.get(flag, call.kwargs.get(flag))
            if value in (None, False, ""):
                continue
            if flags.get(flag, value) != value:
                raise ContextError(f"two tasks of this command were given different --{flag.replace('_', '-')}",
                                   hint="give it once, to any one task: it reaches every task of the command")
            flags[flag] = value
    return RunRequest(steps=chain_of(steps), requested=tuple(requested), flags=flags, options=options)


def _no_blank_tag(given: dict) -> None:
    """``--tag ""`` (or ``--tag "$TAG"`` with TAG unset in CI) must not fall back to a branch build."""
    from image_release.tasks._common import blank_tag_error

    if "tag" in given and isinstance(given["tag"], str) and not given["tag"].strip():
        raise blank_tag_error()
