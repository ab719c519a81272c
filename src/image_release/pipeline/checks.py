"""Preflight checks: everything a run can find wrong before anything is built or pushed.

Each step lists its checks; the runner calls every check of every step that will run, once, right
after the plan and before the first write. ``when`` says how a dry run treats a check: ``ALWAYS``
(input checks run in a dry run too), ``REAL`` (checks of write access: a dry run needs no write
credentials, so they are skipped), ``WARN_IN_DRY_RUN`` (a dry run reports the problem as a warning).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from image_release.errors import AuthError, ConfigError, GitError

ALWAYS = "always"
REAL = "real"
WARN_IN_DRY_RUN = "warn-in-dry-run"


@dataclass(frozen=True)
class Check:
    name: str
    fn: Callable[[object], None]
    when: str = ALWAYS


# -- build inputs -----------------------------------------------------------------------------------


def build_paths(run) -> tuple[Path, Path]:
    """The build context (relative to the project) and the Dockerfile (relative to the context)."""
    b = run.settings.build
    context = run.path(b.context)
    dockerfile = Path(b.dockerfile)
    return context, dockerfile if dockerfile.is_absolute() else context / dockerfile


def resolved_spec(run):
    """The plan's BuildSpec with the context and Dockerfile as paths on this machine."""
    from dataclasses import replace

    context, dockerfile = build_paths(run)
    return replace(run.plan.build, context=str(context), dockerfile=str(dockerfile))


def build_inputs(run) -> None:
    """The build spec as written (core) and the files it names (the engine adapter): the engine trusts
    a spec that passed here."""
    from image_release.adapters.engine import check_build_paths
    from image_release.core.build_spec import validate_build_spec

    spec = resolved_spec(run)
    check_build_paths(spec)
    validate_build_spec(spec, run.env)
    secret_looking_args(run)


def secret_looking_args(run) -> None:
    """A build arg whose value is a known secret, or is shaped like a token (ghp_..., glpat-..., AKIA...) or a
    random string over 20 characters, gets a warning before the build: build args stay in the image's
    history and travel on the build's command line; BuildKit build secrets do neither. The value is never
    shown, and from now on it is redacted like any other secret."""
    from image_release.secret_shapes import describe

    known = set(run.redactor.values)
    for name, value in run.settings.build.args:
        kind = "the value of a secret variable" if value in known else describe(value)
        if not kind:
            continue
        run.redactor.add(value)
        run.warn(f"build arg {name} looks like a secret ({kind}); build args are kept in the image's history "
                 f"(`docker history`) and passed on the build's command line. Pass it as a build secret "
                 f"instead: release.build.secrets: ['id={name.lower()},env=VARIABLE'] and, in the Dockerfile, "
                 f"RUN --mount=type=secret,id={name.lower()} ... (it is read from /run/secrets/{name.lower()})")


def images_and_tag(run) -> None:
    """Image names carry no tag or digest (the rules make the tags), and a release tag that exists in git
    points at the commit being built."""
    from image_release.core.image_ref import parse_image

    for image in run.plan.images:
        name = parse_image(image)
        if name.tag or name.digest:
            raise ConfigError(f"release.images: {image} names a {'tag' if name.tag else 'digest'}",
                              hint="give the image name without :tag or @digest; release.tags makes the tags")
    tag, sha = run.context.tag, run.context.sha
    if run.plan.version is None or not tag or not sha:
        return
    from image_release.adapters.git_repo import tag_commit

    commit = tag_commit(run.root, tag)
    if commit and not sha.startswith(commit) and not commit.startswith(sha):
        raise GitError(f"tag {tag} points at {commit[:12]}, but HEAD (what would be built) is {sha[:12]}",
                       hint=f"check out the tag first (`git checkout {tag}`), or release a new tag for this commit")


def clean_tree(run) -> None:
    """A release is built from its tag's commit: uncommitted changes to tracked files would go into the
    image without being in the tag (unless release.allow_dirty)."""
    if run.plan.version is None or run.settings.allow_dirty:
        return
    from image_release.adapters.git_repo import is_dirty

    if is_dirty(run.root):
        raise GitError(
            f"the working tree {run.root} has uncommitted changes to tracked files: the image of "
            f"{run.context.tag} would not match its commit",
            hint="commit or stash them (`git status` lists them), or set release.allow_dirty: true "
                 "(INVOKE_RELEASE_ALLOW_DIRTY=1) to release anyway",
        )


# -- release inputs ---------------------------------------------------------------------------------


def release_inputs(run) -> None:
    """The notes settings the release step will use."""
    n = run.settings.notes
    for key, value in (("notes.name", n.name), ("notes.file", n.file)):
        if not value:
            continue
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        except ValueError as e:
            raise ConfigError(f"release.{key} {value!r} is not a valid template ({e})",
                              hint="use {version} and {tag} as placeholders; double a literal brace: {{ }}") from None
        unknown = sorted(fields - {"version", "tag"})
        if unknown:
            raise ConfigError(f"release.{key} {value!r} uses unknown placeholder(s) {', '.join(unknown)}",
                              hint="the placeholders are {version} and {tag}")
    if n.template and not run.path(n.template).is_file():
        raise ConfigError(f"the release notes template {run.path(n.template)} does not exist",
                          hint="fix release.notes.template (a path relative to the project), or remove it")


# -- write access -----------------------------------------------------------------------------------


def registries(run) -> None:
    """Every registry answers, and takes the credentials we have."""
    for image in run.plan.images:
        name, client = run.registry_for(image)
        scheme = client.ping()
        if client.credentials is None and scheme in ("basic", "bearer"):
            raise AuthError(
                f"registry {name.registry} asks for credentials ({scheme}) and none were found to push {image}",
                hint=f"`docker login {name.registry}` (with --password-stdin), or name the variables holding them "
                "in release.registry.username_env and password_env",
            )


def forge(run) -> None:
    """The forge token may create releases."""
    from image_release.pipeline.forges import client_for, forge_target

    if not run.settings.forge.preflight:
        return
    target = forge_target(run)
    if target.kind == "none":
        return
    client_for(run, target).preflight()
    run.say(f"preflight: the token can create releases on {target.describe()}")
