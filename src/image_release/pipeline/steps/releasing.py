"""Gather what the release notes say (git history, published refs, settings) and render them."""

from __future__ import annotations

from image_release.core.notes import (
    GITHUB_BODY_LIMIT, GITLAB_BODY_LIMIT, LATEST, MAJOR, MINOR, VERSION, MovedTag, NotesInput,
    limit_body, render_notes,
)
from image_release.core.plan import VERSION as PLAN_VERSION
from image_release.core.release_spec import Asset, Link, ReleaseSpec
from image_release.errors import ConfigError, GitError


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


def notes_input(s) -> NotesInput:
    from image_release.adapters import git_history
    from image_release.core.changelog import RepoLinks, build_changelog, guess_kind

    plan = s.plan
    ctx = s.context
    tag = ctx.tag
    changelog = None
    history_note = None
    previous = None
    from image_release.adapters.git_repo import is_repository

    if is_repository(s.root):
        deepen = s.settings.notes.deepen
        status = git_history.ensure_history(s.root, None, deepen=deepen)
        try:
            history = git_history.release_history(s.root, tag)
            until = tag
        except GitError:  # the tag is not in this clone (e.g. --tag before tagging): from HEAD
            history = git_history.release_history(s.root, tag, ref="HEAD")
            until = "HEAD"
        previous = history.previous
        if not status.complete and previous:  # a shallow clone may still hold this whole range
            status = git_history.ensure_history(s.root, previous, deepen=deepen, until=until)
        history_note = status.note
        web = f"{ctx.server_url.rstrip('/')}/{ctx.repository}" if ctx.server_url and ctx.repository else None
        links = RepoLinks(web, guess_kind(web)) if web else None
        changelog = build_changelog(history.commits, tag=tag, previous_tag=previous, links=links)
    project = s.settings.project.get("title") or (ctx.repository or s.root.name).rsplit("/", 1)[-1]
    return NotesInput(
        project=project,
        version=str(plan.version),
        tag=tag,
        previous_tag=previous,
        prerelease=plan.prerelease,
        images=plan.images,
        published=tuple(s.results.published) or plan.refs(),
        digest=s.results.digest,
        moved_tags=moved_tags(plan),
        ports=s.settings.notes.run_ports,
        env=s.settings.notes.run_env,
        platforms=s.settings.build.platforms,
        changelog=changelog,
        requirements=s.settings.notes.requirements,
        history_note=history_note,
        date=s.now.strftime("%Y-%m-%d"),
    )


def release_spec(s, target) -> tuple[ReleaseSpec, str]:
    """The forge release for this run, and the full (uncut) notes."""
    plan = s.plan
    template_text = None
    template_name = s.settings.notes.template
    if template_name:
        path = s.path(template_name)
        try:
            template_text = path.read_text()
        except OSError as e:
            raise ConfigError(f"cannot read the release notes template {path}: {e.strerror}",
                              hint="fix release.notes.template (a path relative to the project)") from None
    full = render_notes(notes_input(s), template_text, template_name=template_name)
    limit = GITLAB_BODY_LIMIT if target.kind == "gitlab" else GITHUB_BODY_LIMIT
    assets = []
    for a in s.settings.notes.assets:
        if a == "digests":
            lines = [f"{ref}@{s.results.digest}" for ref in (s.results.published or plan.refs())]
            assets.append(Asset("image-digests.txt", ("\n".join(lines) + "\n").encode(), "text/plain"))
        elif a.startswith("file:"):
            p = s.path(a[5:])
            try:
                assets.append(Asset(p.name, p.read_bytes()))
            except OSError as e:
                raise ConfigError(f"release asset {p}: {e.strerror}", hint="fix release.notes.assets") from None
    where = "the release asset release-notes.md" if target.kind == "github" else "the notes file"
    if target.kind == "github" and len(full) > limit:
        assets.append(Asset("release-notes.md", full.encode(), "text/markdown"))
    body = limit_body(full, limit, full_notes_at=where, forge="GitHub" if target.kind != "gitlab" else "GitLab")
    links = tuple(
        Link(name=f"{ref}", url=_registry_url(ref), link_type="image")
        for ref in (s.results.published or plan.refs())
    )
    name = s.settings.notes.name.format(version=plan.version, tag=s.context.tag)
    spec = ReleaseSpec(
        tag=s.context.tag,
        name=name,
        body=body,
        prerelease=plan.prerelease,
        make_latest=plan.make_latest,
        target_commitish=s.context.sha or None,
        assets=tuple(assets),
        replace_assets=s.settings.notes.replace_assets,
        links=links,
    )
    return spec, full


def _registry_url(ref: str) -> str:
    host = ref.split("/", 1)[0]
    scheme = "http" if host.startswith(("127.", "localhost", "[::1]")) else "https"
    return f"{scheme}://{ref}"
