"""The release step (``invoke release``): read what the notes say (git history, what was published,
settings), let core render them and shape the forge release, and hand that one action to the applier.

A target's run (``release.targets``) releases its full git tag (``api/v1.2.0``): the previous release is
the previous tag with its prefix, the changelog lists only the commits that touch its paths, and the
default title and notes file name the target."""

from __future__ import annotations

from image_release.core.actions import PublishRelease, WriteNotes
from image_release.core.notes import (
    GITHUB_BODY_LIMIT, GITLAB_BODY_LIMIT, LATEST, MAJOR, MINOR, VERSION, MovedTag, NotesInput,
    limit_body, render_notes,
)
from image_release.core.plan import VERSION as PLAN_VERSION
from image_release.core.plan import latest_branch
from image_release.core.release_spec import Asset, Link, ReleaseSpec
from image_release.errors import ConfigError, GitError, ReleaseError
from image_release.pipeline import checks
from image_release.pipeline.checks import REAL, Check
from image_release.pipeline.steps.publishing import merged_platforms, once_published
from image_release.pipeline.steps.signing import sbom_asset, signed_note_of
from image_release.settings import DEFAULTS

DEFAULT_NAME = DEFAULTS["notes"]["name"]


def moved_tags(plan) -> tuple[MovedTag, ...]:
    v = plan.version
    out = []
    for d in plan.decisions:
        if not d.move:
            continue
        if d.kind == PLAN_VERSION:
            kind = VERSION
        elif d.tag == "latest":
            kind = LATEST
        elif v is not None and d.tag == f"{v.major}.{v.minor}":
            kind = MINOR
        elif v is not None and d.tag == f"{v.major}":
            kind = MAJOR
        else:
            kind = d.kind
        out.append(MovedTag(kind, d.tag))
    return tuple(out)


def read_history(run):
    """(previous tag, commits, history note) for the changelog, read from git once per run (the
    preflight renders the notes too); (None, None, None) outside a git repository."""
    if "history" in run.cache:
        return run.cache["history"]
    from image_release.adapters import git_history

    found = (None, None, None)
    if run.git.is_repository:
        git, tag, deepen = run.git, run.git_tag, run.settings.notes.deepen
        # a target: only its own tags are releases, and only the commits touching its paths count
        own = {"prefix": run.target.tag_prefix, "paths": run.target.paths} if run.target else {}
        status = git_history.ensure_history(git, None, deepen=deepen)
        try:
            history, until = git_history.release_history(git, tag, **own), tag
        except GitError:  # the tag is not in this clone (e.g. --tag before tagging): from HEAD
            history, until = git_history.release_history(git, tag, ref="HEAD", **own), "HEAD"
        if not status.complete and history.previous:  # a shallow clone may still hold this whole range
            status = git_history.ensure_history(git, history.previous, deepen=deepen, until=until)
        found = (history.previous, history.commits, status.note)
    run.cache["history"] = found
    return found


def notes_input(run, assets: bool = True) -> NotesInput:
    """What the notes say; ``assets``: the release carries its assets (a forge, or files beside the notes
    file), so the notes may name the SBOM's."""
    from image_release.core.changelog import RepoLinks, build_changelog, guess_kind

    plan, ctx = run.plan, run.context
    previous, commits, history_note = read_history(run)
    changelog = None
    if commits is not None:
        web = f"{ctx.server_url.rstrip('/')}/{ctx.repository}" if ctx.server_url and ctx.repository else None
        links = RepoLinks(web, guess_kind(web)) if web else None
        changelog = build_changelog(commits, tag=run.git_tag, previous_tag=previous, links=links)
    project = run.settings.project.get("title") or (ctx.repository or run.root.name).rsplit("/", 1)[-1]
    if run.target is not None and not run.settings.project.get("title"):
        project = f"{project} {run.target.name}"
    return NotesInput(
        project=project,
        version=str(plan.version),
        tag=run.git_tag,
        previous_tag=previous,
        prerelease=plan.prerelease,
        images=plan.images,
        published=tuple(run.results.published) or plan.refs(),
        digest=run.results.digest,
        moved_tags=moved_tags(plan),
        ports=run.settings.notes.run_ports,
        env=run.settings.notes.run_env,
        platforms=merged_platforms(run) or run.settings.build.platforms,
        changelog=changelog,
        requirements=run.settings.notes.requirements,
        history_note=history_note,
        date=run.now.strftime("%Y-%m-%d"),
        signed=signed_note_of(run, assets),
        latest_branch=latest_branch(ctx, run.settings),
        extra={"target": run.target.name} if run.target else {},
    )


def release_spec(run, target) -> tuple[ReleaseSpec, str]:
    """The forge release for this run, and the full (uncut) notes."""
    plan = run.plan
    template_text = None
    template_name = run.settings.notes.template
    if template_name:
        path = run.path(template_name)
        try:
            template_text = path.read_text()
        except OSError as e:
            raise ConfigError(f"cannot read the release notes template {path}: {e.strerror}",
                              hint="fix release.notes.template (a path relative to the project)") from None
    full = render_notes(notes_input(run), template_text, template_name=template_name)
    limit = GITLAB_BODY_LIMIT if target.kind == "gitlab" else GITHUB_BODY_LIMIT
    assets = []
    for a in run.settings.notes.assets:
        if a == "digests":
            lines = [f"{ref}@{run.results.digest}" for ref in (run.results.published or plan.refs())]
            assets.append(Asset("image-digests.txt", ("\n".join(lines) + "\n").encode(), "text/plain"))
        elif a.startswith("file:"):
            p = run.path(a[5:])
            try:
                assets.append(Asset(p.name, p.read_bytes()))
            except OSError as e:
                raise ConfigError(f"release asset {p}: {e.strerror}", hint="fix release.notes.assets") from None
    sbom = sbom_asset(run)
    if sbom is not None:
        assets.append(sbom)
    where = "the release asset release-notes.md" if target.kind == "github" else "the notes file"
    if target.kind == "github" and len(full) > limit:
        assets.append(Asset("release-notes.md", full.encode(), "text/markdown"))
    body = limit_body(full, limit, full_notes_at=where, forge="GitHub" if target.kind != "gitlab" else "GitLab")
    links = tuple(
        Link(name=f"{ref}", url=_registry_url(ref), link_type="image")
        for ref in (run.results.published or plan.refs())
    )
    name = release_name(run)
    spec = ReleaseSpec(
        tag=run.git_tag,
        name=name,
        body=body,
        prerelease=plan.prerelease,
        make_latest=plan.make_latest,
        target_commitish=run.context.sha or None,
        assets=tuple(assets),
        replace_assets=run.settings.notes.replace_assets,
        links=links,
    )
    return spec, full


def release_name(run) -> str:
    """``release.notes.name`` with ``{version}`` and ``{tag}`` (the full git tag); a target's run with
    the default name says which target: ``Release api 1.2.0``."""
    name = run.settings.notes.name
    if run.target is not None and name == DEFAULT_NAME:
        name = f"Release {run.target.name} {{version}}"
    return name.format(version=run.plan.version, tag=run.git_tag)


def _registry_url(ref: str) -> str:
    host = ref.split("/", 1)[0]
    scheme = "http" if host.startswith(("127.", "localhost", "[::1]")) else "https"
    return f"{scheme}://{ref}"


def notes_path(run) -> str:
    n = run.settings.notes
    version = str(run.plan.version)
    if n.file:
        return str(run.path(n.file.format(version=version, tag=run.context.tag)))
    name = f"release-notes-{run.target.name}-{version}.md" if run.target else f"release-notes-{version}.md"
    return str(run.path(run.settings.output_dir) / name)


class ReleaseStep:
    """Creates or updates the GitHub or GitLab release; without a forge, writes the notes to a file."""

    name = "release"

    def skip(self, run) -> str | None:
        return None if run.plan.release else run.plan.release_reason

    def checks(self, run):
        return (Check("release inputs", checks.release_inputs), Check("forge", checks.forge, REAL))

    def run(self, run) -> None:
        from image_release.pipeline.forges import forge_target
        from image_release.pipeline.runner import apply

        target = forge_target(run)
        spec, full_body = release_spec(run, target)
        if target.kind == "none":
            action = WriteNotes(notes_path(run), spec, full_body)
        else:
            action = PublishRelease(target, spec, full_body)
        try:
            apply(run, [action])
        except ReleaseError as e:
            raise once_published(
                run, e, f"the images are published, but the {target.kind} release for {spec.tag} failed: {e.message}",
                "re-run the same command: the images stay as they are and the release is created or updated, "
                "never duplicated",
            ) from None
