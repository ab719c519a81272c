"""GitHub releases through PyGithub: create or update the release for a tag.

PyGithub is imported lazily (inside methods) so that ``invoke --list`` stays fast.

Behaviour (see the field notes for why):

* One release per tag. ``publish_release`` finds the existing release by tag *including
  drafts* (``GET /releases/tags/{tag}`` never returns drafts, so it falls back to listing),
  and updates it; re-running never makes a second release.
* A new release with assets is created as a draft, the assets are uploaded, then it is
  published (``draft=False``) with ``prerelease`` and ``make_latest``. Without assets it is
  created published in one request.
* ``GitRelease.update_release`` resets what it is not given (draft, prerelease): every call
  here passes all of them.
* ``make_latest`` is sent as the string "true"/"false"; a prerelease is never made latest.
* Concurrent runs: GitHub allows several drafts per tag but only one published release,
  so a race shows up as 422 ``already_exists`` when creating or publishing. The loser
  re-finds the winner's release, updates it and deletes its own draft. After creating a
  draft the adapter also looks for an older release of the same tag and joins it.
* Assets: a same-named asset is replaced only when ``spec.replace_assets``; the new file is
  uploaded under a temporary name, the old one deleted and the new one renamed, so a
  published release never lacks the asset. Otherwise the existing asset is kept and
  reported in ``ReleaseResult.kept_assets``. A broken asset (upload never finished) is
  always re-uploaded.
* ``spec.links`` are a GitLab feature; GitHub has no release links and ignores them.
* Retries: the run's ``RetryPolicy`` (``retry``; ``attempts`` counts the first try) as
  PyGithub's ``GithubRetry``: connection errors, 408, 429 and 5xx (honouring ``Retry-After``),
  and 403 rate-limit answers; each retry is logged on one line through ``log``. A retried
  create that had in fact succeeded answers 422 ``already_exists`` and is handled like a
  concurrent run.

The client, its retries and the error translation are
``image_release.adapters.github_api.GitHubApi``'s, shared with the ghcr.io packages adapter;
this module sets the release wording of the errors. The token is kept in a private
attribute, never in reprs, messages or logs.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from image_release.adapters.github_api import GitHubApi
from image_release.core.release_spec import Asset, ReleaseResult, ReleaseSpec
from image_release.errors import AuthError, ConfigError, ForgeError, ReleaseError

if TYPE_CHECKING:  # pragma: no cover
    from github.GitRelease import GitRelease
    from github.GitReleaseAsset import GitReleaseAsset
    from github.Repository import Repository

GITHUB_BODY_LIMIT = 125_000

TOKEN_HINT = (
    "set GITHUB_TOKEN to a valid token: in GitHub Actions pass `${{ secrets.GITHUB_TOKEN }}` and give the job "
    "`permissions: contents: write`; elsewhere use a fine-grained token with 'Contents: Read and write' on this "
    "repository (or a classic token with the `repo` scope)"
)
WRITE_HINT = (
    "the token may read but not write this repository: in GitHub Actions add `permissions: contents: write` to "
    "the job (or workflow); for a fine-grained token grant 'Contents: Read and write' on this repository; for a "
    "classic token use the `repo` (or `public_repo`) scope and push access to the repository"
)
UPLOAD_SUFFIX = ".uploading"


def _already_exists(exc: Any) -> bool:
    data = getattr(exc, "data", None)
    if getattr(exc, "status", None) != 422 or not isinstance(data, dict):
        return False
    return any(isinstance(e, dict) and e.get("code") == "already_exists" for e in data.get("errors") or ())


class GitHubForge(GitHubApi):
    """Releases of one GitHub repository (``owner/name``) at ``api_url``.

    ``api_url`` is the REST root: ``https://api.github.com``, or for GitHub Enterprise Server
    ``https://HOST/api/v3`` (GitHub Actions gives it in ``GITHUB_API_URL``).
    """

    # how the shared error translation (GitHubApi._api) words a refused or failed release request
    error_class = ForgeError
    unreachable_class = ForgeError
    token_hint = TOKEN_HINT
    rate_limit_hint = (
        "wait for the limit to reset and re-run (the release is updated, not duplicated); "
        "authenticated tokens get higher limits"
    )
    failed_hint = "GitHub may be degraded: re-run later; the release is updated, not duplicated"
    gave_up_hint = "GitHub may be degraded or rate limiting: re-run later; the release is updated, not duplicated"
    unreachable_hint = "check the network and the API URL (GITHUB_API_URL; for GitHub Enterprise it ends in /api/v3)"

    def __init__(self, repository: str, token: str, *args: Any, **kwargs: Any) -> None:
        """The repository (owner/name), then GitHubApi's arguments (token, api_url, timeout, retry,
        seconds_between_requests/writes, per_page, log)."""
        owner, _, name = (repository or "").strip().partition("/")
        if not owner or not name or "/" in name:
            raise ConfigError(
                f"GitHub repository {repository!r} is not of the form owner/name",
                hint="set the repository as owner/name, e.g. the value of GITHUB_REPOSITORY",
            )
        self.repository = f"{owner}/{name}"
        super().__init__(token, *args, **kwargs)

    def __repr__(self) -> str:
        return f"GitHubForge(repository={self.repository!r}, api_url={self.api_url!r})"

    # -- client and errors (GitHubApi's, worded for releases) --------------------------------
    def _no_token(self) -> AuthError:
        return AuthError(f"no GitHub token to publish the release on {self.repository}", hint=TOKEN_HINT)

    def _while(self, action: str) -> str:
        return f"while {action} on {self.repository}"

    def _repo(self) -> "Repository":
        return self._github().get_repo(self.repository)

    def _status_error(self, status: int | None, message: str, where: str) -> ReleaseError | None:
        lower = message.lower()
        if status == 403 and "archived" in lower:
            return ForgeError(
                f"the repository is archived and read-only (403 {message}) {where}",
                hint="unarchive the repository in its settings, or publish somewhere else",
                status=status,
            )
        if status == 403:
            return AuthError(f"GitHub refused the request (403 {message}) {where}", hint=WRITE_HINT)
        if status == 404:
            return ForgeError(
                f"GitHub answered 404 ({message}) {where}",
                hint=f"check that the repository is {self.repository!r} (GITHUB_REPOSITORY) and the API URL "
                f"{self.api_url!r}, and that the token can see it: GitHub answers 404 rather than 403 for a "
                "private repository the token has no access to",
                status=status,
            )
        if status == 422:
            return ForgeError(
                f"GitHub refused the request as invalid (422 {message}) {where}",
                hint="check the release settings (tag, target commit, asset names)",
                status=status,
            )
        return None

    # -- preflight ---------------------------------------------------------------------------
    def preflight(self) -> None:
        """Check, before anything is built, that the token can create releases here.

        ``GET /repos/{owner}/{repo}`` must succeed (401: bad token; 404: wrong name or no
        access). When GitHub reports ``permissions`` (user tokens: classic and fine-grained
        PATs, OAuth) one of ``push``/``maintain``/``admin`` must be true. A GitHub App or
        Actions token (``GITHUB_TOKEN``) gets no ``permissions`` block and GitHub offers no
        read-only way to ask what it may write, so preflight accepts it (creating a probe
        release would be a side effect); if it lacks ``contents: write`` the first write
        fails with a 403 that names the fix. A fine-grained PAT reports the *user's*
        permissions, not the token's, with the same consequence.
        """
        with self._api("checking access to the repository"):
            raw = dict(self._repo().raw_data)
        if raw.get("archived"):
            raise ForgeError(
                f"the GitHub repository {self.repository} is archived: releases cannot be created",
                hint="unarchive the repository in its settings, or publish somewhere else",
            )
        permissions = raw.get("permissions")
        if isinstance(permissions, dict) and not any(
            permissions.get(key) for key in ("push", "maintain", "admin")
        ):
            raise AuthError(
                f"the GitHub token can read {self.repository} but has no push access, so it cannot create releases",
                hint=WRITE_HINT,
            )

    # -- finding -----------------------------------------------------------------------------
    def _find(self, repo: "Repository", tag: str, exclude: int | None = None) -> "GitRelease | None":
        """The release for ``tag``: the published one, else the oldest draft (lowest id)."""
        from github import UnknownObjectException

        if exclude is None:
            try:
                return repo.get_release(tag)
            except UnknownObjectException:
                pass  # no published release: look for drafts, which /releases/tags/ never returns
        matches = [r for r in repo.get_releases() if r.tag_name == tag and r.id != exclude]
        if not matches:
            return None
        matches.sort(key=lambda r: (r.draft, r.id))
        return matches[0]

    # -- publishing --------------------------------------------------------------------------
    def publish_release(self, spec: ReleaseSpec) -> ReleaseResult:
        """Create or update the release for ``spec.tag``; see the module docstring."""
        if len(spec.body) > GITHUB_BODY_LIMIT:
            raise ForgeError(
                f"release notes for {spec.tag} are {len(spec.body)} characters; GitHub accepts {GITHUB_BODY_LIMIT}",
                hint="shorten the notes template (the notes module cuts the body to the forge limit)",
            )
        with self._api(f"publishing the release for {spec.tag}"):
            repo = self._repo()
            release = self._find(repo, spec.tag)
            created = False
            if release is None:
                release, created = self._create(repo, spec)
            attached, kept = self._sync_assets(release, spec)
            if not (created and not release.draft):  # a release just created published needs no update
                release = self._finish(repo, release, spec)
            if release is None:  # a concurrent run published first: we joined its release
                release = self._find(repo, spec.tag)
                assert release is not None
                created = False
                attached, kept = self._sync_assets(release, spec)
                release = self._finish(repo, release, spec, joined=True)
                assert release is not None
        return ReleaseResult(
            url=release.html_url,
            id=str(release.id),
            created=created,
            assets=attached,
            kept_assets=kept,
        )

    def _make_latest(self, spec: ReleaseSpec) -> str:
        return "true" if spec.make_latest and not spec.prerelease else "false"

    def _create(self, repo: "Repository", spec: ReleaseSpec) -> "tuple[GitRelease, bool]":
        """Create the release: a draft when assets follow, else published. Returns (release, created)."""
        from github import GithubException

        draft = bool(spec.assets)
        kwargs: dict[str, Any] = {}
        if spec.target_commitish:
            kwargs["target_commitish"] = spec.target_commitish
        try:
            release = repo.create_git_release(
                spec.tag,
                name=spec.name,
                message=spec.body,
                draft=draft,
                prerelease=spec.prerelease,
                make_latest="false" if draft else self._make_latest(spec),
                **kwargs,
            )
        except GithubException as exc:
            if not _already_exists(exc):
                raise
            # a concurrent run (or our own retried request) published it just before us
            existing = self._find(repo, spec.tag)
            if existing is None:
                raise
            return existing, False
        if draft:
            # several drafts may share a tag: if another run got there first, join its release
            other = self._find(repo, spec.tag, exclude=release.id)
            if other is not None and (not other.draft or other.id < release.id):
                release.delete_release()
                return other, False
        return release, True

    def _finish(
        self, repo: "Repository", release: "GitRelease", spec: ReleaseSpec, joined: bool = False
    ) -> "GitRelease | None":
        """The final update with every field (PyGithub resets what it is not given).

        Returns None when publishing our draft lost a race (422 already_exists): the draft is
        deleted and the caller joins the published release.
        """
        from github import GithubException

        kwargs: dict[str, Any] = {}
        if spec.target_commitish:
            kwargs["target_commitish"] = spec.target_commitish
        try:
            return release.update_release(
                name=spec.name,
                message=spec.body,
                draft=False,
                prerelease=spec.prerelease,
                tag_name=spec.tag,
                make_latest=self._make_latest(spec),
                **kwargs,
            )
        except GithubException as exc:
            if joined or not release.draft or not _already_exists(exc):
                raise
            release.delete_release()
            return None

    # -- assets ------------------------------------------------------------------------------
    def _sync_assets(self, release: "GitRelease", spec: ReleaseSpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Upload ``spec.assets``; returns (names attached, names kept unchanged)."""
        if not spec.assets:
            return (), ()
        existing = {a.name: a for a in release.get_assets()}
        kept: list[str] = []
        for asset in spec.assets:
            old = existing.get(asset.name)
            if old is None:
                self._upload(release, asset, asset.name)
            elif old.state != "uploaded":  # a broken upload from an earlier run: never worth keeping
                old.delete_asset()
                self._upload(release, asset, asset.name)
            elif not spec.replace_assets:
                kept.append(asset.name)
            else:
                temp_name = asset.name + UPLOAD_SUFFIX
                if temp_name in existing:  # left over by an interrupted run
                    existing[temp_name].delete_asset()
                new = self._upload(release, asset, temp_name)
                old.delete_asset()
                new.update_asset(asset.name, label=new.label or "")
        return tuple(a.name for a in spec.assets), tuple(kept)

    def _upload(self, release: "GitRelease", asset: Asset, name: str) -> "GitReleaseAsset":
        from github import GithubException

        try:
            return release.upload_asset_from_memory(
                io.BytesIO(asset.content), len(asset.content), name=name, content_type=asset.content_type
            )
        except GithubException as exc:
            if not _already_exists(exc):
                raise
            # a retried upload whose first attempt had in fact succeeded
            for current in release.get_assets():
                if current.name == name and current.state == "uploaded" and current.size == len(asset.content):
                    return current
            raise
