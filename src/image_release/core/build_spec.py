"""What to build (pure data): the plan hands a BuildSpec to the engine adapter.

Where the result goes is the caller's choice, never the engine's (``BuildSpec.output``):

* ``"load"`` (default): into the engine's image store, tagged with ``tags``; a push is a separate step.
  One platform only (a multi-platform image cannot be loaded into the classic store).
* ``"push"``: the build pushes its ``tags`` itself (docker buildx only; the way to publish a multi-platform
  index built in one go), with the credentials the caller gives the engine.
* ``"oci:PATH"``: an OCI image layout directory at PATH, and nothing pushed: what a caller pushes by
  digest, or keeps as an artifact.
* ``"cache-only"``: built into BuildKit's cache only; nothing loaded, nothing pushed (a pull request's
  check that the image builds).

``build_output`` is the usual choice from the plan's facts.

``validate_build_spec`` checks a spec's own shape (secret ids, variable names, duplicates, which builder
its features need) and, given the environment as plain data, that every secret variable is set. It is
pure: the files a spec names (context, Dockerfile, secret files) are checked by the engine adapter's
``check_build_paths``. The engine trusts a spec that passed both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from image_release.errors import BuildError

BUILDKIT_MODES = ("auto", "on", "off")
OUTPUTS = ("load", "push", "oci:PATH", "cache-only")
_SECRET_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class BuildSecret:
    """A BuildKit secret: ``RUN --mount=type=secret,id=ID``. The value comes from an env var or a file,
    never from the spec itself (so a spec can be printed)."""

    id: str
    env: str | None = None  # name of the environment variable holding the value
    src: str | None = None  # path of a file holding the value


@dataclass(frozen=True)
class BuildSpec:
    context: str = "."
    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()  # full refs to give the built image locally (registry/repo:tag)
    build_args: tuple[tuple[str, str], ...] = ()
    target: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    platforms: tuple[str, ...] = ()  # BuildKit only
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()  # BuildKit only
    secrets: tuple[BuildSecret, ...] = ()  # BuildKit only
    buildkit: str = "auto"  # auto | on | off
    builder: str | None = None  # a named buildx builder (remote BuildKit workers)
    network: str | None = None  # e.g. "host" where dockerd runs with --bridge=none
    pull: bool = False
    no_cache: bool = False
    output: str = "load"  # load | push | oci:PATH | cache-only (see the module's docstring)

    @property
    def output_kind(self) -> str:
        """``load``, ``push``, ``oci`` or ``cache-only`` (``output`` without its path)."""
        return "oci" if self.output.startswith("oci:") else self.output

    @property
    def oci_path(self) -> str | None:
        """The layout directory of an ``oci:PATH`` output."""
        return self.output[len("oci:"):] if self.output.startswith("oci:") else None

    @property
    def needs_buildkit(self) -> tuple[str, ...]:
        """The features asked for that only BuildKit has (empty when the classic builder will do)."""
        needs = []
        if self.platforms:
            needs.append("platforms")
        if self.cache_to:
            needs.append("cache export (cache_to)")
        if self.secrets:
            needs.append("build secrets")
        if self.builder:
            needs.append("a buildx builder")
        if self.output in ("push", "cache-only"):
            needs.append(f"output {self.output}")
        return tuple(needs)


def validate_build_spec(spec: BuildSpec, env: Mapping[str, str] | None = None) -> None:
    """BuildError with the fix when ``spec`` cannot be built as it is written.

    Checks the builder choice (``buildkit`` is auto/on/off; ``off`` with a BuildKit-only feature) and every
    secret (a valid id given once, exactly one source, a valid variable name, a file path without commas).
    With ``env`` (the environment, as plain data) also that each secret's variable is set and not empty.
    """
    _check_builder_choice(spec)
    _check_output(spec)
    seen: set[str] = set()
    for secret in spec.secrets:
        _check_secret(secret, seen)
        if env is not None and secret.env and not env.get(secret.env):
            raise BuildError(f"build secret {secret.id!r}: environment variable {secret.env} is not set",
                             hint=f"export {secret.env} before the build (its value is passed to BuildKit, "
                             "never on the command line nor into the image), or drop the secret")


def build_output(platforms: tuple[str, ...], publishes: bool, oci_dir: str | None = None) -> str:
    """The output a plan asks for: one platform (or the engine's own) is loaded, and published by a push
    afterwards; several platforms are pushed by the build only when the plan ``publishes``, otherwise
    written to an OCI layout in ``oci_dir`` when one is given, else kept in the build cache."""
    if len(platforms) <= 1:
        return "load"
    if publishes:
        return "push"
    return f"oci:{oci_dir}" if oci_dir else "cache-only"


def join_words(items) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _check_builder_choice(spec: BuildSpec) -> None:
    mode = (spec.buildkit or "auto").strip().lower()
    if mode not in BUILDKIT_MODES:
        raise BuildError(f"unknown buildkit setting {spec.buildkit!r}", hint="use one of: auto, on, off")
    needs = spec.needs_buildkit
    if mode == "off" and needs:
        raise BuildError(
            f"{join_words(needs)} need{'s' if len(needs) == 1 else ''} BuildKit, but BuildKit is turned off "
            "for this build",
            hint="set buildkit to auto or on (with docker buildx, or a classic docker client with "
            "BuildKit built in), or remove " + join_words(needs) + " from the build settings",
        )


def _check_output(spec: BuildSpec) -> None:
    kind, path = spec.output_kind, spec.oci_path
    if kind not in ("load", "push", "oci", "cache-only"):
        raise BuildError(f"unknown build output {spec.output!r}", hint="use one of: " + ", ".join(OUTPUTS))
    if kind == "oci" and (not path or not path.strip() or "," in path):
        raise BuildError(f"build output {spec.output!r} needs a directory path without commas",
                         hint="write oci:PATH, e.g. oci:dist/oci/linux-arm64")
    if kind == "load" and len(spec.platforms) > 1:
        raise BuildError(
            f"a build for several platforms ({', '.join(spec.platforms)}) cannot be loaded into the engine's "
            "image store",
            hint="choose output push (the build publishes the index), oci:PATH (an OCI layout, nothing pushed) "
            "or cache-only (check that it builds)",
        )
    if kind == "push" and not spec.tags:
        raise BuildError("a build that pushes needs at least one tag", hint="give the image tags to push")


def _check_secret(secret: BuildSecret, seen: set[str]) -> None:
    if not secret.id or not _SECRET_ID.match(secret.id):
        raise BuildError(f"build secret id {secret.id!r} is not valid",
                         hint="use letters, digits, '.', '_' and '-' only")
    if secret.id in seen:
        raise BuildError(f"build secret {secret.id!r} is given twice", hint="give each secret id once")
    seen.add(secret.id)
    if bool(secret.env) == bool(secret.src):
        raise BuildError(f"build secret {secret.id!r} needs exactly one source: env or src",
                         hint="set env: NAME_OF_VARIABLE or src: path/to/file")
    if secret.env and not _ENV_NAME.match(secret.env):
        raise BuildError(f"build secret {secret.id!r}: {secret.env!r} is not an environment variable name",
                         hint="name the variable that holds the value (e.g. NPM_TOKEN), never the value itself")
    if secret.src and "," in secret.src:
        raise BuildError(f"build secret {secret.id!r}: the file path {secret.src!r} contains a comma",
                         hint="BuildKit's --secret option cannot carry a comma: move or rename the file")
