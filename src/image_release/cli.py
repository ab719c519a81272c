"""The ``image-release`` console command: the same tasks for a project without a ``tasks.py``.

``image-release release --tag v1.2.3`` reads its settings the way ``invoke`` does: the ``release``
key of ``invoke.yaml`` (or .yml/.json/.py) in the current directory, ``INVOKE_RELEASE_*``
environment variables, and ``-f FILE``.
"""

from __future__ import annotations

import os

from invoke import Config, Program

from image_release import __version__


class _Program(Program):
    def create_config(self) -> None:
        super().create_config()
        # A bundled namespace skips the project config file; read the one in the working directory.
        self.config.set_project_location(os.getcwd())
        self.config.load_project()


def program():
    from image_release.tasks import ns
    from image_release.tasks._executor import ReleaseExecutor

    return _Program(
        name="image-release",
        binary="image-release",
        binary_names=["image-release"],
        version=__version__,
        namespace=ns,
        executor_class=ReleaseExecutor,
        config_class=Config,
    )


def main(argv: list[str] | None = None) -> None:
    program().run(argv)
