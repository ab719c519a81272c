"""image-release's Invoke tasks, as one collection.

A project's ``tasks.py`` can be one line::

    from image_release.tasks import ns

and a project's own task can depend on one of them: ``@task(pre=[image_release.tasks.release])``.

The chain: ``version`` -> ``build`` -> ``tag`` / ``push`` -> ``release``; ``clean`` applies the
retention policy; ``verify`` checks a published image's signature and attestations. Each task runs its chain, each step once. To run several of them in one command
(``invoke version --tag v1.2.3 build push``) with ``--tag``/``--dry-run`` reaching all, select the
executor in invoke.yaml (Invoke reads it from config files only)::

    tasks: {executor_class: image_release.tasks.ReleaseExecutor}
"""

from invoke import Collection

from image_release.defaults import KEY, defaults
from image_release.tasks._boundary import install as _install_excepthook
from image_release.tasks._build import build
from image_release.tasks._clean import clean
from image_release.tasks._executor import ReleaseExecutor
from image_release.tasks._parsing import install as _install_positionals
from image_release.tasks._push import push
from image_release.tasks._release import release
from image_release.tasks._tag import tag
from image_release.tasks._verify import verify
from image_release.tasks._version import version

EXECUTOR = "image_release.tasks.ReleaseExecutor"
_install_positionals()  # invoke build api: tasks/_parsing.py
_install_excepthook()  # configuration errors Invoke raises before any task: one line, not a traceback


def config() -> dict:
    """The config to declare on a root namespace that composes these tasks: the ``release`` defaults
    (so ``INVOKE_RELEASE_*`` variables work). The executor is chosen in invoke.yaml (``EXECUTOR``)."""
    return {KEY: defaults()}


ns = Collection()
for _task in (version, build, tag, push, release, clean, verify):
    ns.add_task(_task)
ns.configure(config())

__all__ = ["ns", "config", "EXECUTOR", "ReleaseExecutor", "version", "build", "tag", "push", "release", "clean", "verify"]
