"""GitLab Container Registry through python-gitlab's project registry API.

GitLab's registry answers the OCI ``DELETE`` of the distribution API with an error for
users; deletion goes through the project API instead:

- ``delete_tag`` removes exactly one tag (``DELETE .../tags/:tag_name``); other tags on the
  same digest stay, unlike a manifest delete by digest.
- ``bulk_delete`` schedules GitLab's asynchronous cleanup (``DELETE .../tags`` with
  ``name_regex_delete``, ``keep_n``, ``name_regex_keep``, ``older_than``). GitLab runs it in
  the background, at most once an hour per repository, and never deletes ``latest``. This
  adapter returns a message saying so and does not wait.

Errors become typed errors with hints: 401 AuthError, 403 RegistryError (or AuthError for a
token without the ``api`` scope), 404 RegistryError, 405 DeleteRefused, 429 (after the
retries of the run's ``RetryPolicy``, honouring ``Retry-After``) RegistryError. The client and the
error translation are ``image_release.adapters.gitlab_api.GitLabApi``'s, shared with the
release adapter; this module sets the registry wording.
"""

from __future__ import annotations

from typing import Any

from image_release.adapters.gitlab_api import GitLabApi, server_message
from image_release.errors import DeleteRefused, RegistryError, RegistryUnreachable, ReleaseError

_AUTH_HINT = (
    "in a GitLab CI job pass CI_JOB_TOKEN as the job token (it reaches only its own project's "
    "registry); elsewhere use an access token with the `api` scope"
)


def _split_image(image: str) -> tuple[str | None, str]:
    """``registry.example.com:5000/group/proj/sub[:tag|@digest]`` -> (host, "group/proj/sub")."""
    ref = image.strip()
    if "://" in ref:
        ref = ref.split("://", 1)[1]
    ref = ref.split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    ref = f"{head}/{last}" if head else last
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest.strip("/")
    return None, ref.strip("/")


class GitLabRegistry(GitLabApi):
    """One GitLab project's container registry."""

    # how the shared error translation (GitLabApi._errors) words a refused or failed registry
    # request; 405 is worded in _status_error
    error_class = RegistryError
    unreachable_class = RegistryUnreachable
    auth_hint = _AUTH_HINT
    scope_hint = "create the token with the `api` scope; `read_api` cannot delete"
    forbidden_hint = (
        "deleting registry tags needs at least the Developer role (a job token acts "
        "as the pipeline's user), and protected container tags cannot be deleted "
        "this way: change the protection rule or keep the tag"
    )
    not_found_hint = (
        "check the project ({project}), the repository and the tag; a job "
        "token reaches only the registry of its own project"
    )
    rate_limited_message = (
        "GitLab kept rate-limiting the requests (429) while {action}, also after {attempts} attempts"
    )
    rate_limited_hint = "wait for the rate limit to reset (Retry-After) and run the cleanup again"
    server_error_hint = "GitLab or its registry is having trouble; run again later"

    def _status_error(self, status: int | None, action: str, detail: str) -> ReleaseError | None:
        if status == 405:
            return DeleteRefused(
                f"GitLab refuses {action} (405 Method Not Allowed)",
                hint=(
                    "this GitLab or its registry does not allow deleting through the API "
                    "(registry deletion disabled); delete in the GitLab UI or ask an administrator"
                ),
                status=405,
            )
        return None

    def _repo(self, repo: int | str) -> Any:
        # The project's repository manager only lists; build the shallow object ourselves
        # (no request, like ``lazy=True``) to reach its tags manager.
        from gitlab.v4.objects import ProjectRegistryRepository

        return ProjectRegistryRepository(self._project().repositories, {"id": int(repo)}, lazy=True)

    # ------------------------------------------------------------------ reads
    def find_repository(self, path: str) -> int:
        """The id of the registry repository for an image such as
        ``registry.example.com/group/proj/sub`` (a tag or digest suffix is ignored)."""
        host, wanted = _split_image(path)
        with self._errors("listing registry repositories"):
            repos = self._project().repositories.list(get_all=True, **self._kw())
        for repo in repos:
            location = str(getattr(repo, "location", "") or "")
            if host is not None and location == f"{host}/{wanted}":
                return int(repo.id)
        for repo in repos:
            if str(getattr(repo, "path", "") or "") == wanted:
                return int(repo.id)
        known = ", ".join(sorted(str(getattr(r, "location", "") or r.path) for r in repos)) or "none"
        raise RegistryError(
            f"No container repository {path} in GitLab project {self.project}",
            hint=f"the project's repositories are: {known}; push the image first or fix the image name",
            status=404,
        )

    def list_tags(self, repo: int | str) -> list[str]:
        """All tag names of a registry repository (every page)."""
        with self._errors(f"listing the tags of registry repository {repo}"):
            tags = self._repo(repo).tags.list(get_all=True, **self._kw())
        return sorted(str(t.name) for t in tags)

    def tag_digest(self, repo: int | str, tag: str) -> str | None:
        """The manifest digest a tag points at (None if the tag does not exist)."""
        import gitlab.exceptions as gexc

        with self._errors(f"reading the tag {tag}"):
            try:
                detail = self._repo(repo).tags.get(tag, **self._kw())
            except gexc.GitlabGetError as err:
                if getattr(err, "response_code", None) == 404:
                    return None
                raise
        return getattr(detail, "digest", None)

    # ---------------------------------------------------------------- deletes
    def delete_tag(self, repo: int | str, tag: str) -> None:
        """Remove exactly this tag; other tags on the same digest are left untouched."""
        with self._errors(f"deleting the tag {tag} from registry repository {repo}"):
            self._repo(repo).tags.delete(tag, **self._kw())

    def bulk_delete(
        self,
        repo: int | str,
        name_regex_delete: str,
        keep_n: int | None = None,
        name_regex_keep: str | None = None,
        older_than: str | None = None,
    ) -> str:
        """Schedule GitLab's asynchronous bulk tag cleanup and say what that means.

        Does not wait: GitLab runs the cleanup in the background, at most once an hour per
        repository, and never deletes ``latest``.
        """
        import gitlab.exceptions as gexc

        if not name_regex_delete:
            raise RegistryError(
                "A bulk delete needs a name_regex_delete",
                hint="give a regular expression for the tags to delete ('.*' for all)",
            )
        if keep_n is not None and keep_n < 0:
            raise RegistryError("keep_n must be 0 or more", hint="give how many newest tags to keep")
        options: dict[str, Any] = {}
        if keep_n is not None:
            options["keep_n"] = int(keep_n)
        if name_regex_keep:
            options["name_regex_keep"] = name_regex_keep
        if older_than:
            options["older_than"] = older_than
        with self._errors(f"scheduling the bulk delete on registry repository {repo}"):
            try:
                self._repo(repo).tags.delete_in_bulk(name_regex_delete, **options, **self._kw())
            except gexc.GitlabDeleteError as err:
                if getattr(err, "response_code", None) == 400 and "once an hour" in server_message(err):
                    raise RegistryError(
                        f"GitLab already ran a bulk delete on registry repository {repo} within the "
                        "last hour and refuses another",
                        hint="GitLab allows one bulk delete per repository per hour; run the cleanup "
                        "again later (nothing was scheduled this time)",
                        status=400,
                    ) from err
                raise
        parts = [f"tags matching {name_regex_delete!r}"]
        if name_regex_keep:
            parts.append(f"except those matching {name_regex_keep!r}")
        if keep_n is not None:
            parts.append(f"keeping the {keep_n} newest")
        if older_than:
            parts.append(f"only those older than {older_than}")
        return (
            f"GitLab scheduled the deletion of {', '.join(parts)} in registry repository {repo}. "
            "It runs asynchronously in the background, so the tags may still be listed for a "
            "while; GitLab allows it at most once an hour per repository and never deletes "
            "the tag 'latest'."
        )
