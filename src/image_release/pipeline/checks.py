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
    secrets = tuple(replace(s, src=str(run.path(s.src))) if s.src else s for s in run.plan.build.secrets)
    return replace(run.plan.build, context=str(context), dockerfile=str(dockerfile), secrets=secrets)


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
    commit = run.git.tag_commit(tag)
    if commit and not sha.startswith(commit) and not commit.startswith(sha):
        raise GitError(f"tag {tag} points at {commit[:12]}, but HEAD (what would be built) is {sha[:12]}",
                       hint=f"check out the tag first (`git checkout {tag}`), or release a new tag for this commit")


def clean_tree(run) -> None:
    """A release is built from its tag's commit: uncommitted changes to tracked files, and untracked files
    the build would send (not ignored by .gitignore nor .dockerignore), would go into the image without
    being in the tag (unless release.allow_dirty)."""
    if run.plan.version is None or run.settings.allow_dirty:
        return
    context, dockerfile = build_paths(run)
    tree = run.git.worktree(untracked_in=context)
    if tree.dirty:
        raise GitError(
            f"the working tree {run.root} has uncommitted changes to tracked files: the image of "
            f"{run.context.tag} would not match its commit",
            hint="commit or stash them (`git status` lists them), or set release.allow_dirty: true "
                 "(INVOKE_RELEASE_ALLOW_DIRTY=1) to release anyway",
        )
    untracked = [p for p in (run.root / u for u in tree.untracked) if not _written_by_the_tool(run, p)]
    if not untracked:
        return
    from image_release.adapters.dockerignore import sent_to_builder

    run.engine()  # the docker SDK (its .dockerignore matcher) is imported by the engine's warm-up: wait for it
    sent = sent_to_builder(context, dockerfile, untracked)
    if sent:
        shown = ", ".join(str(p.relative_to(run.root)) for p in sent[:5]) + (" ..." if len(sent) > 5 else "")
        raise GitError(
            f"untracked files in the build context would go into the image of {run.context.tag} without being "
            f"in its commit: {shown}",
            hint="commit them, delete them, or ignore them (.gitignore, or .dockerignore to keep them out of "
                 "the image); release.allow_dirty: true releases anyway",
        )


def _written_by_the_tool(run, path: Path) -> bool:
    """The tool's own files: its output folder (notes, digests) and the CI report files it writes."""
    resolved = path.resolve()
    if run.path(run.settings.output_dir).resolve() in resolved.parents:
        return True
    reports = (getattr(run.reporter, name, None) for name in ("dotenv_path", "output_path", "summary_path"))
    return any(r is not None and Path(r).resolve() == resolved for r in reports)


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
    # The notes as they will be made, with everything but the digest: the template's syntax and
    # variables, the asset files, the git history the changelog needs (a repository with no commits).
    from image_release.pipeline.forges import forge_target
    from image_release.pipeline.steps.releasing import release_spec

    release_spec(run, forge_target(run))


def has_images(run) -> None:
    """A version release needs an image repository to publish to (without one it used to build
    local/<folder> and exit 0 having published nothing)."""
    if run.plan.version is None or not run.plan.local_only:
        return
    hint = "set release.images in invoke.yaml, e.g. images: [registry.example.com/team/app]"
    if run.typo_of_release:
        hint = f"invoke.yaml has `{run.typo_of_release}:` where `release:` belongs; " + hint
    raise ConfigError(f"no image repository to publish {run.context.tag} to: release.images is empty", hint=hint)


def engine(run) -> None:
    """The Docker engine answers before anything is built (not a build failure blamed on the Dockerfile)."""
    from image_release.errors import EngineError

    try:
        run.engine().check()
    except EngineError as e:
        raise EngineError(e.message, hint="start it (here: `bash scripts/services.sh start`, or your own dockerd); "
                          "in CI, set DOCKER_HOST to the job's docker service") from None


def publishes_something(run) -> None:
    """A version release whose rules give it no tag publishes nothing: an error, not a silent exit 0."""
    plan = run.plan
    if plan.version is None or plan.tags or not run.settings.publish.get("tag", True):
        return
    from image_release.errors import RuleError

    raise RuleError(
        f"the tag rules give version {plan.version} no tag to publish",
        hint="check release.tags (a prerelease never moves floating tags, so it needs a rule such as "
             "type=semver,pattern={{version}}; metadata-action's rules cannot render a version number "
             "above 2^53)",
    )


# -- write access -----------------------------------------------------------------------------------


def registries(run) -> None:
    """Every registry answers, and takes the credentials we have: one ping per registry host (started
    when the plan was shown: pipeline.prefetch)."""
    from image_release.pipeline import prefetch

    schemes: dict[str, str] = {}
    for image in run.plan.images:
        if image in run.unreachable:  # the plan's read already went through every retry
            raise run.unreachable[image]
        name, client = run.registry_for(image)
        if name.registry not in schemes:
            schemes[name.registry] = prefetch.result(run, ("ping", name.registry), client.ping)
        scheme = schemes[name.registry]
        if client.credentials is None and scheme in ("basic", "bearer"):
            raise AuthError(
                f"registry {name.registry} asks for credentials ({scheme}) and none were found to push {image}",
                hint=f"`docker login {name.registry}` (with --password-stdin), or name the variables holding them "
                "in release.registry.username_env and password_env",
            )


def forge(run) -> None:
    """The forge token may create releases (the preflight read was started when the plan was shown)."""
    from image_release.pipeline.forges import client_for, forge_target

    if not run.settings.forge.preflight:
        return
    target = forge_target(run)
    if target.kind == "none":
        return
    from image_release.pipeline import prefetch

    # started when the plan was shown (pipeline.prefetch), so that it overlaps with the other checks
    prefetch.result(run, ("forge",), lambda: client_for(run, target).preflight())
    run.say(f"preflight: the token can create releases on {target.describe()}")
