"""Deleters: delete manifests and tags on a registry, one interface for three registries.

The decisions (what goes, and when) are core's (``core.retention``, ``core.cleanup``); the carrying
out, with its report of what was deleted and what was left behind, is the pipeline's
(``pipeline.deletions``). A deleter only talks to its registry:

* :class:`OciDeleter` -- a generic OCI distribution registry (``RegistryClient``): a manifest is deleted
  by digest (every tag on it goes with it); one tag alone goes through the OCI tag DELETE or, where the
  registry refuses that (distribution 2.8), a unique throwaway manifest put on the tag and deleted.
* :class:`GhcrDeleter` -- ghcr.io refuses the OCI DELETE; a manifest is deleted as a *package version*
  through the GitHub Packages REST API. A version takes all its tags with it; one tag of a version that
  keeps other tags goes through a throwaway manifest pushed to it (ghcr.io gives it a version of its own,
  which is then deleted), or -- without push access -- is reported as left behind.
* :class:`GitLabDeleter` -- GitLab's project registry API: single tags, and GitLab's asynchronous bulk
  delete (``name_regex_delete``/``keep_n``/``name_regex_keep``/``older_than``), which runs in the
  background at most once an hour per repository and never deletes ``latest``: scheduled and reported,
  never waited for. A manifest goes once its last tag is deleted (GitLab's garbage collection).

A registry that refuses a deletion raises ``DeleteRefused``; a tag or manifest already gone is
"already gone", not an error.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol, Sequence

from image_release.core.image_ref import parse_image
from image_release.core.image_ref import short_digest as _short
from image_release.errors import AuthError, ConfigError, DeleteRefused, RegistryError, ReleaseError

GHCR_HOST = "ghcr.io"


# ---------------------------------------------------------------------------------------------------
# The deleters
# ---------------------------------------------------------------------------------------------------


class Deleter(Protocol):
    kind: str  # "OCI registry", "GitHub Container Registry", "GitLab Container Registry"
    image: str  # registry/repository, for messages
    supports_single_tag: bool
    supports_bulk: bool

    def tags_by_digest(self) -> dict[str, list[str]]: ...

    def delete_digest(self, digest: str, tags: Sequence[str] = ()) -> str: ...

    def delete_tag(self, tag: str) -> str: ...

    def bulk(self, name_regex_delete: str, keep_n: int | None = None, name_regex_keep: str | None = None,
             older_than: str | None = None) -> str: ...


class _NoBulk:
    supports_bulk = False

    def bulk(self, name_regex_delete: str, keep_n: int | None = None, name_regex_keep: str | None = None,
             older_than: str | None = None) -> str:
        raise ConfigError(
            f"{self.kind} has no bulk delete ({self.image})",  # type: ignore[attr-defined]
            hint="bulk delete (name_regex_delete, keep_n, older_than) is GitLab's; use `invoke clean --keep N` here",
        )


class OciDeleter(_NoBulk):
    """A repository on a generic OCI distribution registry."""

    kind = "OCI registry"
    supports_single_tag = True
    concurrency = 8  # deletes at once (pipeline.deletions): the client is safe for concurrent calls

    def __init__(self, client: Any, repo: str) -> None:
        self.client = client
        self.repo = repo
        self.image = f"{client.host}/{repo}"

    def __repr__(self) -> str:
        return f"OciDeleter({self.image!r})"

    def tags_by_digest(self) -> dict[str, list[str]]:
        """Every tag grouped by its manifest: the tag list, then one HEAD per tag, concurrently."""
        return self.client.tags_by_digest(self.repo)

    def delete_digest(self, digest: str, tags: Sequence[str] = ()) -> str:
        if self.client.delete_manifest(self.repo, digest):
            return "manifest deleted" + (f" with its tags {', '.join(tags)}" if tags else "")
        return "already gone"

    def delete_tag(self, tag: str) -> str:
        how = self.client.delete_tag(self.repo, tag)
        return {
            "tag-delete": "tag deleted (OCI tag delete)",
            "throwaway": "tag deleted alone (throwaway manifest put on it and deleted)",
            "manifest": "manifest deleted",
            "absent": "already gone",
        }.get(how, str(how))


class GhcrDeleter(_NoBulk):
    """A container package on ghcr.io, deleted through the GitHub Packages REST API.

    The API deletes whole versions (a manifest with all its tags). With ``client`` (a ``RegistryClient`` for
    ghcr.io that may push), one tag of a version that keeps other tags can still go: a unique throwaway
    manifest (same blobs, one extra annotation) is pushed to that tag -- ghcr.io moves the tag to a new
    version of its own -- and that version is deleted. Without ``client`` such a tag is left behind.
    """

    kind = "GitHub Container Registry"

    def __init__(self, packages: Any, owner: str, package: str, client: Any = None) -> None:
        self.packages = packages
        self.owner = owner
        self.package = package
        self.client = client
        self.image = f"{GHCR_HOST}/{owner}/{package}"
        self._versions: list[Any] | None = None

    @property
    def supports_single_tag(self) -> bool:
        return self.client is not None

    def __repr__(self) -> str:
        return f"GhcrDeleter({self.image!r})"

    def _list(self, fresh: bool = False) -> list[Any]:
        if self._versions is None or fresh:
            self._versions = self.packages.list_versions(self.owner, self.package)
        return self._versions

    def tags_by_digest(self) -> dict[str, list[str]]:
        """Tagged versions only: untagged ones (old builds, platform manifests of a multi-arch index)
        are never candidates."""
        out: dict[str, list[str]] = {}
        for v in self._list(fresh=True):
            if v.tags:
                out.setdefault(v.name, []).extend(v.tags)
        return {d: sorted(set(t)) for d, t in out.items()}

    def _version(self, digest: str) -> Any | None:
        for v in self._list():
            if v.name == digest:
                return v
        for v in self._list(fresh=True):  # published after the last listing (a re-release)
            if v.name == digest:
                return v
        return None

    def _delete(self, version: Any) -> str:
        try:
            self.packages.delete_version(self.owner, self.package, version.id)
        except RegistryError as exc:
            if exc.status == 404:
                return "already gone"
            raise
        if self._versions is not None:
            self._versions = [v for v in self._versions if v.id != version.id]
        tags = f" with its tags {', '.join(version.tags)}" if version.tags else " (untagged)"
        return f"package version {version.id} deleted{tags}"

    def delete_digest(self, digest: str, tags: Sequence[str] = ()) -> str:
        version = self._version(digest)
        if version is None:
            return "already gone"
        unexpected = sorted(set(version.tags) - set(tags))
        if unexpected:
            raise DeleteRefused(
                f"package version {version.id} ({_short(digest)}) of {self.image} now also carries "
                f"{', '.join(unexpected)}; deleting it would remove those tags too",
                hint="run the cleanup again: it plans on the tags as they are then",
            )
        return self._delete(version)

    def delete_tag(self, tag: str) -> str:
        for v in self._list(fresh=True):
            if tag in v.tags:
                if set(v.tags) == {tag}:
                    return self._delete(v)
                others = sorted(set(v.tags) - {tag})
                if self.client is not None:
                    return self._delete_alone(tag, v, others)
                raise DeleteRefused(
                    f"ghcr.io cannot remove the tag {tag} alone: its package version {v.id} ({_short(v.name)}) "
                    f"also carries {', '.join(others)}, and deleting the version would remove those too",
                    hint="the tag stays until its other tags move on; or delete it by hand in the package settings "
                    "(with registry push access the cleanup removes it alone, through a throwaway manifest)",
                )
        return "already gone"

    def _delete_alone(self, tag: str, version: Any, others: Sequence[str]) -> str:
        from image_release.adapters.registry import make_throwaway

        repo = f"{self.owner}/{self.package}"
        original = self.client.get_manifest(repo, version.name)
        throwaway = make_throwaway(original)
        try:
            self.client.put_manifest(repo, tag, throwaway)
        except RegistryError as exc:
            if isinstance(exc, DeleteRefused) or exc.status in (400, 403, 405):
                raise DeleteRefused(
                    f"ghcr.io refused the throwaway manifest that would remove the tag {tag} alone "
                    f"({exc.message}); the tag stays on {_short(version.name)}",
                    hint="give the cleanup push access to the package, or delete the tag by hand",
                    status=None,
                ) from exc
            raise
        moved = next((v for v in self._list(fresh=True) if v.name == throwaway.digest), None)
        try:
            if moved is None:
                raise DeleteRefused(
                    f"ghcr.io shows no package version for the throwaway manifest {_short(throwaway.digest)} "
                    f"of {tag}",
                    hint="run the cleanup again later; the tag now points at a throwaway copy of the same image",
                )
            self.packages.delete_version(self.owner, self.package, moved.id)
        except ReleaseError:
            self.client.put_manifest(repo, tag, original)  # put the tag back where it was
            raise
        return (f"tag deleted alone (throwaway manifest pushed to it and its package version {moved.id} deleted; "
                f"{', '.join(others)} untouched)")


class GitLabDeleter:
    """A repository of a GitLab project's container registry."""

    kind = "GitLab Container Registry"
    supports_single_tag = True
    supports_bulk = True

    def __init__(self, registry: Any, repo_id: int, image: str | None = None) -> None:
        self.registry = registry
        self.repo_id = repo_id
        self.image = image or f"registry repository {repo_id}"

    def __repr__(self) -> str:
        return f"GitLabDeleter({self.image!r}, repo_id={self.repo_id!r})"

    def tags_by_digest(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for tag in self.registry.list_tags(self.repo_id):
            digest = self.registry.tag_digest(self.repo_id, tag)
            if digest is None:  # deleted meanwhile
                continue
            out.setdefault(digest, []).append(tag)
        return {d: sorted(t) for d, t in out.items()}

    def delete_digest(self, digest: str, tags: Sequence[str] = ()) -> str:
        if not tags:
            return ("untagged: GitLab's API deletes tags, not manifests; GitLab's garbage collection "
                    "removes the untagged manifest")
        gone = [t for t in tags if self.delete_tag(t) == "already gone"]
        done = [t for t in tags if t not in gone]
        text = f"its tags {', '.join(done)} deleted" if done else "its tags were already gone"
        if done and gone:
            text += f" ({', '.join(gone)} already gone)"
        return text + "; GitLab's garbage collection removes the untagged manifest"

    def delete_tag(self, tag: str) -> str:
        try:
            self.registry.delete_tag(self.repo_id, tag)
        except DeleteRefused:
            raise
        except RegistryError as exc:
            if exc.status == 404:
                return "already gone"
            if exc.status == 403:  # a protected tag, or a role that may not delete: this tag stays
                raise DeleteRefused(exc.message, hint=exc.hint, status=403) from exc
            raise
        return "tag deleted"

    def bulk(self, name_regex_delete: str, keep_n: int | None = None, name_regex_keep: str | None = None,
             older_than: str | None = None) -> str:
        return self.registry.bulk_delete(self.repo_id, name_regex_delete, keep_n=keep_n,
                                         name_regex_keep=name_regex_keep, older_than=older_than)


# ---------------------------------------------------------------------------------------------------
# Choosing a deleter
# ---------------------------------------------------------------------------------------------------


def deleter_for(
    image: str,
    env: Mapping[str, str],
    *,
    github_token_env: str = "GITHUB_TOKEN",
    github_api_url: str | None = None,
    gitlab_url: str | None = None,
    gitlab_project: str | int | None = None,
    gitlab_token_env: str = "GITLAB_TOKEN",
    gitlab_job_token_env: str = "CI_JOB_TOKEN",
    gitlab_registry_host: str | None = None,
    credentials: Any = None,
    retry: Any = None,
    timeout: float = 30,
    ghcr_single_tags: bool = True,
    log: Any = None,
) -> Deleter:
    """The deleter for ``image`` (``host/repository``, a tag or digest is ignored).

    ``ghcr.io`` -> GitHub Packages API with the release's GitHub token (``env[github_token_env]``, API root
    from ``github_api_url`` or ``GITHUB_API_URL``); the GitLab registry host (``gitlab_registry_host`` or
    ``CI_REGISTRY``) -> GitLab's registry API (URL from ``gitlab_url`` or ``CI_SERVER_URL``, project from
    ``gitlab_project`` or ``CI_PROJECT_ID``, token from ``env[gitlab_token_env]``, else the job token);
    any other host -> the OCI distribution API with ``credentials``. Every client retries by ``retry``
    (the run's one RetryPolicy) and logs each retry through ``log``.

    On ghcr.io, ``ghcr_single_tags`` lets the deleter remove one tag of a version that keeps other tags
    (throwaway manifest pushed with the same token, then its version deleted); off, such tags are left behind.
    """
    name = parse_image(image)
    gitlab_hosts = {h.lower() for h in (gitlab_registry_host, env.get("CI_REGISTRY")) if h}
    if name.registry == GHCR_HOST:
        token = env.get(github_token_env)
        if not token:
            raise AuthError(
                f"deleting images on ghcr.io needs a GitHub token, and {github_token_env} is not set",
                hint=f"set {github_token_env} (in GitHub Actions: the job's GITHUB_TOKEN with "
                "`permissions: packages: write`; elsewhere a token with delete:packages)",
            )
        api = github_api_url or env.get("GITHUB_API_URL") or "https://api.github.com"
        creds = None
        if ghcr_single_tags:
            from image_release.adapters.registry_auth import Credentials

            creds = credentials or Credentials(env.get("GITHUB_ACTOR") or "image-release", token,
                                               source=f"env {github_token_env}")
        return _ghcr_deleter(image, token, api, creds, (retry, log), timeout)
    if name.registry.lower() in gitlab_hosts:
        url = gitlab_url or env.get("CI_SERVER_URL")
        project = gitlab_project or env.get("CI_PROJECT_ID") or env.get("CI_PROJECT_PATH")
        return _gitlab_deleter(image, url, project, (gitlab_token_env, gitlab_job_token_env), env, (retry, log),
                               timeout)
    from image_release.adapters.registry import RegistryClient

    client = RegistryClient(name.registry, credentials=credentials, retry=retry, timeout=timeout, log=log)
    return OciDeleter(client, name.repository)


def _ghcr_deleter(image: str, token: str, api: str, creds: Any, retrying: tuple, timeout: float) -> GhcrDeleter:
    """ghcr.io/OWNER/PACKAGE through the Packages API; with ``creds``, one tag alone through the registry."""
    from image_release.adapters.ghcr_packages import GhcrPackages

    name = parse_image(image)
    owner, _, package = name.repository.partition("/")
    if not package:
        raise ConfigError(f"{image}: a ghcr.io image is ghcr.io/OWNER/PACKAGE", hint="name the image like ghcr.io/acme/app")
    retry, log = retrying
    client = None
    if creds is not None:
        from image_release.adapters.registry import RegistryClient

        client = RegistryClient(name.registry, credentials=creds, retry=retry, timeout=timeout, log=log)
    return GhcrDeleter(GhcrPackages(token, api, timeout=timeout, retry=retry, log=log), owner, package, client=client)


def _gitlab_deleter(image: str, url: str | None, project: Any, token_envs: tuple[str, str], env: Mapping[str, str],
                    retrying: tuple, timeout: float) -> GitLabDeleter:
    """The project's registry repository through GitLab's API, with its token, else the job token."""
    from image_release.adapters.gitlab_registry import GitLabRegistry

    if not url or not project:
        missing = "the GitLab URL (forge.gitlab.url or CI_SERVER_URL)" if not url else \
            "the GitLab project (forge.gitlab.project or CI_PROJECT_ID)"
        raise ConfigError(f"{image} is in GitLab's container registry, but {missing} is not known",
                          hint="set forge.gitlab.url and forge.gitlab.project, or run inside GitLab CI")
    token_env, job_env = token_envs
    token = env.get(token_env) or None
    job_token = None if token else (env.get(job_env) or None)
    if not token and not job_token:
        raise AuthError(
            f"deleting images in GitLab's registry needs a token: neither {token_env} nor {job_env} is set",
            hint="in GitLab CI the job token (CI_JOB_TOKEN) works for the project's own registry; elsewhere "
            f"set {token_env} to an access token with the api scope",
        )
    name = parse_image(image)
    path = f"{name.registry}/{name.repository}"
    retry, log = retrying
    registry = GitLabRegistry(url, project, token=token, job_token=job_token, timeout=timeout, retry=retry, log=log)
    return GitLabDeleter(registry, registry.find_repository(path), image=path)


def deleter_from_settings(image: str, settings: Any, env: Mapping[str, str], credentials: Any = None,
                          gitlab_registry_host: str | None = None, log: Any = None) -> Deleter:
    """:func:`deleter_for` with the forge, registry and retry settings of a parsed ``Settings``."""
    from image_release.adapters.http_retry import RetryPolicy

    forge = settings.forge
    return deleter_for(
        image,
        env,
        github_token_env=forge.github_token_env,
        github_api_url=forge.github_api_url,
        gitlab_url=forge.gitlab_url,
        gitlab_project=forge.gitlab_project,
        gitlab_token_env=forge.gitlab_token_env,
        gitlab_job_token_env=forge.gitlab_job_token_env,
        gitlab_registry_host=gitlab_registry_host,
        credentials=credentials,
        retry=RetryPolicy.from_settings(settings),
        timeout=settings.registry_timeout,
        log=log,
    )
