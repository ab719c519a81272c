"""GitLab releases through python-gitlab: preflight, create-or-update by tag, asset links.

Thin adapter: the release content (``ReleaseSpec``) is decided in ``image_release.core``;
this module only turns it into Releases API, Release links API and generic packages calls.

Decisions (GitLab differs from GitHub):

- GitLab releases have no draft and no prerelease flag. A prerelease is marked in the
  release *name* (`` (pre-release)`` is appended unless the name already says so), so the
  release list and the page title show it; the body is left exactly as the notes module
  wrote it.
- GitLab's "latest release" (``/releases/permalink/latest``, the badge, the list order) is
  the release with the newest ``released_at``. When ``spec.make_latest`` is False (a
  backport such as ``v1.1.5`` after ``v1.2.0``, or a prerelease) and this release would
  otherwise be the newest, ``released_at`` is set one second before the current newest
  release. GitLab then shows it as a "historical release" in the list, right below the real
  latest, and the permalink keeps pointing at the highest stable version. When
  ``make_latest`` is True, ``released_at`` is left to GitLab (the time of creation) and never
  rewritten on a re-run.
- Files (``spec.assets``) are uploaded to the project's generic package registry
  (``<assets_package>/<tag>/<file>``; allowed for the job token) and attached as release
  links of type ``other``. An asset whose link already exists is kept unless
  ``spec.replace_assets``.
- Links (``spec.links``) are matched by name (then by URL, because GitLab wants both
  unique per release): created when missing, updated when changed, never duplicated. Links
  the spec does not name are left alone.
- A re-run updates the existing release; a ``409 Release already exists`` from a
  concurrent job is treated the same way.

python-gitlab is imported lazily. The client, its retries (the run's ``RetryPolicy``) and
timeout and the error translation are ``image_release.adapters.gitlab_api.GitLabApi``'s,
shared with the registry adapter; this module sets the release wording of the errors.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from image_release.adapters.gitlab_api import AUTH_HINT, GitLabApi, is_insufficient_scope, server_message
from image_release.core.release_spec import Link, ReleaseResult, ReleaseSpec
from image_release.errors import AuthError, ForgeError

#: The longest release description GitLab stores (``description`` is a text column limited
#: to 1,000,000 characters by the Release model). The notes module should cut to this.
BODY_LIMIT = 1_000_000

DEVELOPER_ACCESS = 30


def _parse_time(value: str) -> datetime:
    value = value.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def _format_time(dt: datetime) -> str:
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def display_name(spec: ReleaseSpec) -> str:
    """The release name GitLab shows: a prerelease is marked, since GitLab has no flag for it."""
    lowered = spec.name.lower()
    if spec.prerelease and "pre-release" not in lowered and "prerelease" not in lowered:
        return f"{spec.name} (pre-release)"
    return spec.name


# ------------------------------------------------------------------------------ the forge


class GitLabForge(GitLabApi):
    """Releases on one GitLab project, with a private token or a CI job token."""

    body_limit = BODY_LIMIT

    # how the shared error translation (GitLabApi._errors) words a refused or failed release
    # request; the 401 and 429 wording is GitLabApi's default
    error_class = ForgeError
    unreachable_class = ForgeError
    scope_hint = "create the token with the `api` scope (`read_api` cannot create releases)"
    forbidden_hint = (
        "the token's user needs at least the Developer role on the project (a job "
        "token acts as the user who started the pipeline), releases must be enabled "
        "for the project, and for a protected tag the user must be allowed to create it"
    )
    not_found_message = "GitLab answered 404 while {action}: project {project} not found at {url} ({detail})"
    not_found_hint = (
        "check the project path or ID and the GitLab URL; a private project is "
        "reported as not found to a token that cannot see it, and a job token only "
        "reaches the project of its own pipeline"
    )
    server_error_hint = "GitLab is having trouble; run again later (a re-run updates, never duplicates)"
    refused_hint = "see the GitLab message above; the request was refused as sent"
    unreachable_hint = "check the GitLab URL (CI_SERVER_URL in CI) and the network; retries were exhausted"

    def __init__(self, *args: Any, assets_package: str = "release-assets", **kwargs: Any) -> None:
        """GitLabApi's arguments (url, project, token, job_token, timeout, retry, log), and the generic
        package the release's asset files are uploaded to."""
        super().__init__(*args, **kwargs)
        self.assets_package = assets_package

    def _web_base(self) -> str:
        numeric = isinstance(self.project, int) or str(self.project).isdigit()
        return self.url if numeric else f"{self.url}/{self.project}"

    # --------------------------------------------------------------- preflight
    def preflight(self) -> None:
        """Check, before anything is built, that the token may create releases here."""
        import gitlab.exceptions as gexc

        gl = self._gl()
        project = self._project()
        if self._token:
            with self._errors("checking the token's scopes"):
                try:
                    info = gl.http_get("/personal_access_tokens/self", **self._kw())
                except gexc.GitlabHttpError as err:
                    # 404: GitLab before 15.5 has no such endpoint; 403: not allowed to
                    # introspect. Neither says the token cannot release: go on to the checks below.
                    if getattr(err, "response_code", None) not in (403, 404) or is_insufficient_scope(err):
                        raise
                    info = None
            scopes = (info or {}).get("scopes") if isinstance(info, dict) else None
            if scopes is not None and "api" not in scopes:
                raise AuthError(
                    f"The GitLab token has the scopes {', '.join(sorted(scopes)) or 'none'}, "
                    "not `api`, so it cannot create releases",
                    hint="create the token with the `api` scope",
                )
            if isinstance(info, dict) and info.get("active") is False:
                raise AuthError(
                    "The GitLab token is revoked or expired", hint=AUTH_HINT
                )
            with self._errors("reading the project"):
                data = gl.projects.get(self.project, **self._kw())
            perms = getattr(data, "permissions", None) or {}
            levels = [
                (perms.get(k) or {}).get("access_level")
                for k in ("project_access", "group_access")
            ]
            known = [lvl for lvl in levels if isinstance(lvl, int)]
            # No membership level at all: an administrator, or access through a shared
            # group that this field does not show. Let the release call decide then.
            if known and max(known) < DEVELOPER_ACCESS:
                raise ForgeError(
                    f"The GitLab token's user has access level {max(known)} on project "
                    f"{self.project}; creating releases needs Developer (30) or higher",
                    hint="give the user (or the project/group access token) the Developer role",
                    status=403,
                )
        with self._errors("listing releases"):
            # A job token may read releases of its own project; a private token has been
            # checked above, and this also proves the Releases feature is reachable.
            project.releases.list(per_page=1, get_all=False, **self._kw())

    # ----------------------------------------------------------------- publish
    def publish_release(self, spec: ReleaseSpec) -> ReleaseResult:
        """Create the release for ``spec.tag``, or update it; attach links and assets."""
        project = self._project()
        name = display_name(spec)
        existing = self._get_release(project, spec.tag)
        release: Any = None
        if existing is None:
            release, existing = self._create(project, spec, name)
        created = release is not None
        if not created:
            update: dict[str, Any] = {"name": name, "description": spec.body}
            if not spec.make_latest:
                below = self._released_at_below_newest(
                    project, spec.tag, getattr(existing, "released_at", None)
                )
                if below is not None:
                    update["released_at"] = below
            with self._errors(f"updating the release {spec.tag}"):
                release = project.releases.update(spec.tag, update, **self._kw())

        asset_links, asset_names = self._upload_assets(project, spec)
        links = list(spec.links) + asset_links
        self._sync_links(project, spec.tag, links)
        web = _self_url(release) or _self_url(existing)
        if not web:
            web = f"{self._web_base()}/-/releases/{quote(spec.tag, safe='')}"
        return ReleaseResult(
            url=web,
            id=spec.tag,
            created=created,
            assets=tuple(asset_names),
            links=tuple(link.name for link in links),
        )

    def _create(self, project: Any, spec: ReleaseSpec, name: str) -> tuple[Any, Any]:
        """Create the release: (the created release, None), or (None, the release another job created
        between our read and our create: a 409)."""
        import gitlab.exceptions as gexc

        data: dict[str, Any] = {"tag_name": spec.tag, "name": name, "description": spec.body}
        if spec.target_commitish:
            data["ref"] = spec.target_commitish
        if not spec.make_latest:
            below = self._released_at_below_newest(project, spec.tag, None)
            if below is not None:
                data["released_at"] = below
        try:
            with self._errors(f"creating the release {spec.tag}"):
                try:
                    return project.releases.create(data, **self._kw()), None
                except gexc.GitlabCreateError as err:
                    if getattr(err, "response_code", None) != 409:
                        raise
                    existing = self._get_release(project, spec.tag)
                    if existing is None:
                        raise
                    return None, existing
        except ForgeError as err:
            if err.status == 422:
                raise ForgeError(
                    err.message,
                    hint=f"the tag {spec.tag} does not exist on GitLab: push it first, or "
                    "set the target commit so GitLab can create it",
                    status=422,
                ) from err
            raise

    # ----------------------------------------------------------------- pieces
    def _get_release(self, project: Any, tag: str) -> Any:
        import gitlab.exceptions as gexc

        with self._errors(f"reading the release {tag}"):
            try:
                return project.releases.get(tag, **self._kw())
            except gexc.GitlabGetError as err:
                # "404 Not Found" is a missing release; "404 Project Not Found" is an error.
                if getattr(err, "response_code", None) == 404 and "project" not in server_message(err).lower():
                    return None
                raise

    def _released_at_below_newest(self, project: Any, tag: str, current: str | None) -> str | None:
        """``released_at`` one second before the newest other release, if ours would pass it."""
        with self._errors("listing releases"):
            newest = project.releases.list(
                order_by="released_at", sort="desc", per_page=2, get_all=False, **self._kw()
            )
        others = [r for r in newest if getattr(r, "tag_name", None) != tag]
        if not others or not getattr(others[0], "released_at", None):
            return None
        top = _parse_time(others[0].released_at)
        mine = _parse_time(current) if current else datetime.now(timezone.utc)
        if mine < top:
            return None
        return _format_time(top - timedelta(seconds=1))

    def _upload_assets(self, project: Any, spec: ReleaseSpec) -> tuple[list[Link], list[str]]:
        """Upload files to the generic package registry; return their links and names."""
        if not spec.assets:
            return [], []
        existing = {link.name for link in self._list_links(project, spec.tag)}
        links: list[Link] = []
        names: list[str] = []
        for asset in spec.assets:
            names.append(asset.name)
            url = (
                f"{self.url}/api/v4/projects/{quote(str(self.project), safe='')}/packages/generic/"
                f"{quote(self.assets_package, safe='')}/{quote(spec.tag, safe='')}/{quote(asset.name, safe='')}"
            )
            links.append(Link(name=asset.name, url=url, link_type="other"))
            if asset.name in existing and not spec.replace_assets:
                continue  # keep what is there: replacing needs replace_assets
            if not asset.content:
                raise ForgeError(
                    f"The release asset {asset.name} is empty",
                    hint="GitLab's generic package registry does not store empty files",
                )
            with self._errors(f"uploading the release asset {asset.name}"):
                project.generic_packages.upload(
                    package_name=self.assets_package,
                    package_version=spec.tag,
                    file_name=asset.name,
                    data=asset.content,
                    **self._kw(),
                )
        return links, names

    def _list_links(self, project: Any, tag: str) -> list[Any]:
        release = project.releases.get(tag, lazy=True)
        with self._errors(f"listing the links of release {tag}"):
            return list(release.links.list(get_all=True, **self._kw()))

    def _sync_links(self, project: Any, tag: str, wanted: list[Link]) -> None:
        import gitlab.exceptions as gexc

        if not wanted:
            return
        release = project.releases.get(tag, lazy=True)
        current = self._list_links(project, tag)
        for link in wanted:
            match = next((c for c in current if c.name == link.name), None)
            if match is None:
                match = next((c for c in current if c.url == link.url), None)
            if match is None:
                with self._errors(f"adding the link {link.name} to release {tag}"):
                    try:
                        release.links.create(
                            {"name": link.name, "url": link.url, "link_type": link.link_type},
                            **self._kw(),
                        )
                        continue
                    except gexc.GitlabCreateError as err:
                        if getattr(err, "response_code", None) != 400 or "taken" not in server_message(err):
                            raise
                # a concurrent job added it meanwhile: update that one instead
                current = self._list_links(project, tag)
                match = next((c for c in current if c.name == link.name or c.url == link.url), None)
                if match is None:
                    raise ForgeError(
                        f"GitLab refused the link {link.name} on release {tag} as a duplicate, "
                        "but no such link exists",
                        hint="check the release's links on GitLab and run again",
                    )
            if (match.name, match.url, getattr(match, "link_type", "other")) == (
                link.name, link.url, link.link_type
            ):
                continue
            with self._errors(f"updating the link {link.name} on release {tag}"):
                release.links.update(
                    match.id,
                    {"name": link.name, "url": link.url, "link_type": link.link_type},
                    **self._kw(),
                )



def _self_url(release: Any) -> str | None:
    """The release's web page from the API answer (``_links.self``)."""
    if release is None:
        return None
    data = release if isinstance(release, dict) else release.asdict()
    return (data.get("_links") or {}).get("self")
