"""Deleting images on GitHub Container Registry through the GitHub Packages REST API.

ghcr.io answers the OCI ``DELETE /v2/<name>/manifests/<digest>`` with 405, so an image version
is removed as a *package version*: ``DELETE /orgs/{org}/packages/container/{package}/versions/{id}``
or ``/users/{user}/...``. Each package version is one manifest digest (``name``) with the tags
that point at it (``metadata.container.tags``); deleting it removes every one of those tags.

HTTP goes through PyGithub's requester (``Github(...).requester.requestJsonAndCheck``) rather than
plain ``requests``: it brings the same token handling, GitHub Enterprise base URLs, ``Retry-After``
and rate-limit aware retries (``GithubRetry`` driven by the run's ``RetryPolicy``), write throttling and
URL checks as the release adapter, with one set of knobs: the client and the error translation are
``image_release.adapters.github_api.GitHubApi``'s, and this module sets the package wording of
the errors. PyGithub is imported lazily.

Package names containing slashes (``ghcr.io/owner/a/b`` is package ``a/b``) are URL-encoded
(``a%2Fb``). The owner may be an organisation or a user: the org path is tried first and, on 404,
the user path; the answer is remembered per owner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from image_release.adapters.github_api import GitHubApi
from image_release.errors import AuthError, DeleteRefused, RegistryError, RegistryUnreachable, ReleaseError

MAX_PAGES = 1000  # of per_page versions each: a listing that never ends is an error, not a hang

SCOPE_HINT = (
    "a classic token needs the read:packages and delete:packages scopes; in GitHub Actions give the job "
    "`permissions: packages: write` and grant this repository the Admin role on the package (package settings, "
    "'Manage Actions access')"
)


@dataclass(frozen=True)
class PackageVersion:
    """One version of a container package: a manifest digest and the tags on it."""

    id: int
    name: str  # the manifest digest, e.g. "sha256:..."
    tags: tuple[str, ...] = ()


class GhcrPackages(GitHubApi):
    """Container package versions of users and organisations on GitHub (ghcr.io)."""

    # how the shared error translation (GitHubApi._api) words a refused or failed package request
    api_name = "GitHub Packages API"
    error_class = RegistryError
    unreachable_class = RegistryUnreachable
    message_codes = False
    token_hint = "set GITHUB_TOKEN to a valid token; " + SCOPE_HINT
    rate_limit_hint = "wait for the limit to reset (see the Retry-After header) and re-run the cleanup"
    failed_hint = "re-run the cleanup later"
    gave_up_hint = "GitHub may be degraded or rate limiting: re-run the cleanup later"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """GitHubApi's arguments (token, api_url, timeout, retry, seconds_between_requests/writes, per_page, log)."""
        super().__init__(*args, **kwargs)
        self._kinds: dict[str, str] = {}  # owner (lower case) -> "orgs" | "users"

    def __repr__(self) -> str:
        return f"GhcrPackages(api_url={self.api_url!r})"

    # -- plumbing (GitHubApi's, worded for packages) -----------------------------------------
    def _no_token(self) -> AuthError:
        return AuthError("no GitHub token to manage ghcr.io packages", hint="set GITHUB_TOKEN; " + SCOPE_HINT)

    def _req(self) -> Any:
        return self._github().requester

    def _status_error(self, status: int | None, message: str, where: str) -> ReleaseError | None:
        what = f"({status} {message}) {where}"
        if status == 403:
            return AuthError(f"GitHub refused access to the package {what}", hint=SCOPE_HINT)
        if status == 404:
            return RegistryError(
                f"package or version not found {what}",
                hint="check the owner and the package name (the image path after ghcr.io/OWNER/); the token must "
                "be able to see the package (read:packages), GitHub answers 404 when it cannot",
                status=status,
            )
        if status == 405:
            return DeleteRefused(
                f"GitHub does not allow this deletion {what}",
                hint="delete the version in the package settings on GitHub, or leave it and set the cleanup to "
                "warn only",
                status=status,
            )
        if status in (400, 409, 422):
            return DeleteRefused(
                f"GitHub refused to delete the package version {what}",
                hint="GitHub keeps public versions with more than 5,000 downloads and the last tagged version of a "
                "package; delete the whole package in its settings if it must go",
                status=status,
            )
        return None

    @staticmethod
    def _path(kind: str, owner: str, package: str) -> str:
        return f"/{kind}/{quote(owner, safe='')}/packages/container/{quote(package, safe='')}/versions"

    def _call(self, owner: str, package: str, action: str, fn: Any) -> Any:
        """Run ``fn(base_path)`` for the owner's kind: org first, user on 404; remember what worked."""
        from github import GithubException

        key = owner.lower()
        kinds = [self._kinds[key]] if key in self._kinds else ["orgs", "users"]
        with self._api(action):
            for i, kind in enumerate(kinds):
                try:
                    result = fn(self._path(kind, owner, package))
                except GithubException as exc:
                    if exc.status == 404 and i + 1 < len(kinds):
                        continue
                    raise
                self._kinds[key] = kind
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    # -- API ---------------------------------------------------------------------------------
    def list_versions(self, owner: str, package: str) -> list[PackageVersion]:
        """Every version of ``ghcr.io/{owner}/{package}``, newest first, with its tags."""
        req = self._req()

        def fetch(base: str) -> list[PackageVersion]:
            out: list[PackageVersion] = []
            url: str | None = base
            params: dict[str, Any] | None = {"per_page": self.per_page}
            for _page in range(MAX_PAGES):
                if not url:
                    return out
                headers, data = req.requestJsonAndCheck("GET", url, parameters=params)
                for item in data or ():
                    tags = ((item.get("metadata") or {}).get("container") or {}).get("tags") or ()
                    out.append(PackageVersion(id=int(item["id"]), name=str(item["name"]), tags=tuple(tags)))
                url, params = _next_link(headers), None
            if not url:
                return out
            raise RegistryError(
                f"the version list of ghcr.io/{owner}/{package} did not end within {MAX_PAGES} pages",
                hint="GitHub keeps sending further pages (Link: rel=next); re-run the cleanup later")

        return self._call(owner, package, f"listing versions of ghcr.io/{owner}/{package}", fetch)

    def delete_version(self, owner: str, package: str, version_id: int) -> None:
        """Delete one package version (its manifest and every tag on it)."""
        req = self._req()
        self._call(
            owner,
            package,
            f"deleting version {version_id} of ghcr.io/{owner}/{package}",
            lambda base: req.requestJsonAndCheck("DELETE", f"{base}/{int(version_id)}"),
        )


def _next_link(headers: dict[str, Any]) -> str | None:
    """The rel="next" URL of a GitHub ``Link`` header, if any."""
    for part in str(headers.get("link") or "").split(","):
        section = part.split(";")
        if len(section) >= 2 and any(s.strip() == 'rel="next"' for s in section[1:]):
            return section[0].strip().strip("<>")
    return None
