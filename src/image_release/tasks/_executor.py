"""The Invoke executor that makes a task chain behave as one release.

Invoke passes command-line arguments only to the task named there, never to its pre-tasks, and
deduplicates only identical calls. So ``invoke release --tag v1.2.3`` would plan ``version``
without the tag, and ``invoke version --tag v1.2.3 build`` would run ``version`` twice. This
executor fixes both once, for every task: the chain-wide flags given to any task on the command
line (``--tag``, ``--dry-run``) become run-wide settings (``release.tag``, ``release.dry_run``),
and each task runs once per invocation, with the flags it was given explicitly.

It is selected through Invoke's own config (``tasks.executor_class``), which the collection
declares, so plain ``invoke`` uses it too.
"""

from __future__ import annotations

from invoke import Call, Executor
from invoke.parser import ParserContext

# Flags that belong to the whole chain: (task argument name, release.* setting).
CHAIN_FLAGS = (("tag", "tag"), ("dry_run", "dry_run"))


class ReleaseExecutor(Executor):
    def execute(self, *tasks):
        explicit: dict[str, dict] = {}
        called: list[str] = []
        for t in tasks:
            if isinstance(t, ParserContext):
                name = t.name
                given = {a.name: a.value for a in t.args.values() if a.got_value}
            elif isinstance(t, str):
                name, given = t, {}
            else:
                name, given = t[0], dict(t[1])
            called.append(name.rsplit(".", 1)[-1])
            explicit.setdefault(name, {}).update(given)
            for arg, key in CHAIN_FLAGS:
                if arg in given and given[arg] not in (None, False, ""):
                    if "release" not in self.config:
                        self.config["release"] = {}
                    if not hasattr(self.config["release"], "keys"):
                        raise _shape_error(self.config, "release is not a mapping")
                    self.config["release"][key] = given[arg]
        # Which tasks were asked for: lets `version` run the forge preflight only when a release follows.
        self.config["release_called"] = called
        self._explicit = explicit
        from invoke.config import AmbiguousMergeError

        try:
            return super().execute(*tasks)
        except AmbiguousMergeError as exc:  # Invoke's merge, before any task (and its error boundary) runs
            raise _shape_error(self.config, exc) from None

    def dedupe(self, calls):
        """One call per task; a task named on the command line keeps its own flags."""
        seen = {}
        for call in calls:
            key = id(call.task)
            if key in seen:
                continue
            own = {}
            for name, given in self._explicit.items():
                try:
                    if self.collection[name] is call.task:
                        own = given
                        break
                except (KeyError, ValueError):
                    continue
            if own and call.kwargs != own:
                kwargs = {**call.kwargs, **own}
                call = Call(call.task, args=call.args, kwargs=kwargs, called_as=call.called_as)
            seen[key] = call
        return list(seen.values())


def _shape_error(config, exc):
    """A setting whose shape differs from its default (a word where a mapping belongs, or the reverse):
    Invoke refuses to merge it with a traceback. Name the setting as the settings parser does, exit 2."""
    import os
    import sys

    from invoke.exceptions import Exit

    from image_release.errors import ConfigError
    from image_release.pipeline.redact import Redactor
    from image_release.settings import parse_settings

    error = ConfigError(f"a setting in the Invoke configuration has the wrong shape ({exc})",
                        hint="compare invoke.yaml with the settings in docs/configuration.md")
    for level in ("_project", "_runtime", "_user", "_system"):
        data = getattr(config, level, None) or {}
        try:
            parse_settings(data.get("release") if isinstance(data, dict) else None)
        except ConfigError as e:
            error = e
            break
    print(Redactor.from_env(os.environ)(f"error: {error}"), file=sys.stderr, flush=True)
    return Exit(code=2)
