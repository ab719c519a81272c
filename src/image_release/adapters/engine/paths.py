"""The files a BuildSpec names: where they are (``build_paths``) and whether they are there
(``check_build_paths``, which the preflight calls before anything is built; the engine trusts it)."""

from __future__ import annotations

import os

from image_release.core.build_spec import BuildSecret, BuildSpec
from image_release.errors import BuildError


def build_paths(spec: BuildSpec) -> tuple[str, str]:
    """Absolute context and Dockerfile paths. A relative Dockerfile is taken relative to the context (as
    the SDK and Compose do); a relative context relative to the current directory. Checks nothing."""
    context = os.path.abspath(spec.context or ".")
    name = spec.dockerfile or "Dockerfile"
    dockerfile = name if os.path.isabs(name) else os.path.join(context, name)
    return context, os.path.normpath(dockerfile)


def secret_path(secret: BuildSecret) -> str:
    """The absolute path of a file secret (relative to the current directory)."""
    return os.path.abspath(secret.src or "")


def check_build_paths(spec: BuildSpec) -> None:
    """BuildError with the fix unless the build context is a directory, the Dockerfile a file and every
    file secret (``BuildSecret.src``) a readable file. Contacts no daemon."""
    context, dockerfile = build_paths(spec)
    if not os.path.exists(context):
        raise BuildError(f"build context {spec.context!r} does not exist ({context})",
                         hint="set the build context to an existing directory (relative to where you run)")
    if not os.path.isdir(context):
        raise BuildError(f"build context {spec.context!r} is not a directory ({context})",
                         hint="set the build context to a directory")
    if not os.path.isfile(dockerfile):
        name = spec.dockerfile or "Dockerfile"
        raise BuildError(
            f"no Dockerfile at {dockerfile} ({name!r} not found)",
            hint="create it, or set the Dockerfile path (a relative path is taken relative to the build context)",
        )
    for secret in spec.secrets:
        if secret.src and not (os.path.isfile(secret_path(secret)) and os.access(secret_path(secret), os.R_OK)):
            raise BuildError(f"build secret {secret.id!r}: file {secret.src!r} not found or not readable",
                             hint="give the path of an existing, readable file (relative to where you run)")
