"""image-release's Invoke tasks, as one collection.

A project's ``tasks.py`` can be one line::

    from image_release.tasks import ns

The chain: ``version`` -> ``build`` -> ``tag`` -> ``push`` -> ``release``; ``clean`` applies the
retention policy. Each task runs its pre-tasks first, once, with the ``--tag`` and ``--dry-run``
given to whichever task was called (see ``_executor``).
"""

from invoke import Collection

from image_release.settings import KEY, defaults
from image_release.tasks import build as _build
from image_release.tasks import clean as _clean
from image_release.tasks import push as _push
from image_release.tasks import release as _release
from image_release.tasks import tag as _tag
from image_release.tasks import version as _version

EXECUTOR = "image_release.tasks._executor.ReleaseExecutor"


def config() -> dict:
    """The config to declare on a root namespace that composes these tasks: the ``release``
    defaults (so ``INVOKE_RELEASE_*`` variables work) and the chain-aware executor."""
    return {KEY: defaults(), "tasks": {"executor_class": EXECUTOR}}


def _adopt_program() -> None:
    """Make the ``invoke`` command that is importing this collection use the chain-aware executor.

    Invoke reads ``tasks.executor_class`` from config files only (a collection's own config is
    loaded later, per task), so a project whose ``tasks.py`` is the one import line would run with
    the plain executor and ``--tag`` would not reach the pre-tasks. When the importer is an Invoke
    ``Program`` still on its default executor, point it at ours. A project that sets
    ``tasks.executor_class`` itself, or runs ``image-release``, is left as it is.
    """
    import sys

    from invoke import Executor, Program

    frame = sys._getframe(1)
    while frame is not None:
        program = frame.f_locals.get("self")
        if isinstance(program, Program):
            if program.executor_class is Executor:
                from image_release.tasks._executor import ReleaseExecutor

                program.executor_class = ReleaseExecutor
            return
        frame = frame.f_back


_adopt_program()

ns = Collection()
for _task in (_version.version, _build.build, _tag.tag, _push.push, _release.release, _clean.clean):
    ns.add_task(_task)
ns.configure(config())

__all__ = ["ns", "config", "EXECUTOR"]
