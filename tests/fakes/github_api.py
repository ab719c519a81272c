"""A stateful HTTP fake of the parts of the GitHub REST API that image-release uses.

Runs on 127.0.0.1 on a random port in a background thread (``ThreadingHTTPServer``), so the
real PyGithub talks to it over real HTTP. Request and response shapes follow GitHub's
official OpenAPI description (npm ``@octokit/openapi``); ``github_openapi/github-subset.json``
holds the schemas of the operations served here and ``tests/test_github_fake_schema.py``
checks recorded requests and answers against them.

Behaviour modelled on the real service (see the field notes):

* Releases: drafts are listed only to tokens with push access, are never returned by
  ``/releases/tags/{tag}``, and several drafts may share one tag; a *published* release is
  unique per tag: creating or publishing a second one answers 422 ``already_exists``.
  ``PATCH`` changes only the fields it is given. ``make_latest`` ("true"/"false"/"legacy")
  decides which release ``/releases/latest`` returns; drafts and prereleases never become latest.
* Assets: uploaded to the ``upload_url`` the release names (here the same server), 422
  ``already_exists`` on a duplicate name, renamed with ``PATCH``.
* Packages (GHCR): container package versions of users and organisations; the org path
  answers 404 for a user and vice versa.
* Tokens: ``Authorization: token X`` or ``Bearer X``. A ``user`` token sees
  ``permissions`` on the repository, an ``app`` token (GitHub Actions ``GITHUB_TOKEN``) does not.

Faults: :meth:`FakeGitHub.fail` answers a status (401, 403, 404, 405, 429 with Retry-After,
5xx...) for the next N matching requests; :meth:`FakeGitHub.before` runs a callback before a
matching request is handled (e.g. a concurrent run creating the release just before ours).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.fakes.loopback import LoopbackServer

DOCS = "https://docs.github.com/rest"

_REASONS = {
    400: "Bad Request",
    401: "Bad credentials",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Validation Failed",
    429: "Too Many Requests",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Token:
    """What a token may do. ``contents``: None, "read", "write" or "admin";
    ``packages``: None, "read", "write" or "delete"."""

    login: str
    kind: str = "user"  # "user" (PAT/OAuth: repo JSON has ``permissions``) or "app" (GITHUB_TOKEN)
    contents: str | None = "write"
    packages: str | None = "delete"


@dataclass
class Repo:
    owner: str
    name: str
    owner_type: str = "User"  # or "Organization"
    private: bool = False
    archived: bool = False
    default_branch: str = "main"
    id: int = 0
    latest_release_id: int | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class PackageVersion:
    id: int
    name: str  # the manifest digest
    tags: list[str]
    created_at: str = field(default_factory=_now)


@dataclass
class Package:
    owner: str
    owner_type: str  # "org" or "user"
    name: str
    package_type: str = "container"
    versions: dict[int, PackageVersion] = field(default_factory=dict)


@dataclass
class Fault:
    method: str
    path: re.Pattern
    times: int
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    action: Callable[[], None] | None = None


@dataclass
class Recorded:
    """One exchange, for assertions and for schema validation."""

    method: str
    path: str  # raw path, without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    status: int = 0
    response: Any = None
    operation: tuple[str, str] | None = None  # (OpenAPI path template, method)
    injected: bool = False


class _ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, message: str | None = None) -> _ApiError:
    return _ApiError(status, {"message": message or _REASONS.get(status, "Error"),
                              "documentation_url": DOCS, "status": str(status)})


def _validation(resource: str, code: str, field_name: str) -> _ApiError:
    return _ApiError(422, {"message": "Validation Failed", "documentation_url": DOCS,
                           "errors": [{"resource": resource, "code": code, "field": field_name}]})


# (method, regex, handler name, OpenAPI template)
_SEG = r"([^/]+)"
_ROUTES: list[tuple[str, re.Pattern, str, str]] = [
    (m, re.compile("^" + rx + "$"), h, t)
    for m, rx, h, t in [
        ("GET", f"/repos/{_SEG}/{_SEG}", "get_repo", "/repos/{owner}/{repo}"),
        ("GET", f"/repos/{_SEG}/{_SEG}/releases", "list_releases", "/repos/{owner}/{repo}/releases"),
        ("POST", f"/repos/{_SEG}/{_SEG}/releases", "create_release", "/repos/{owner}/{repo}/releases"),
        ("GET", f"/repos/{_SEG}/{_SEG}/releases/latest", "latest_release",
         "/repos/{owner}/{repo}/releases/latest"),
        ("GET", f"/repos/{_SEG}/{_SEG}/releases/tags/{_SEG}", "release_by_tag",
         "/repos/{owner}/{repo}/releases/tags/{tag}"),
        ("GET", f"/repos/{_SEG}/{_SEG}/releases/assets/(\\d+)", "get_asset",
         "/repos/{owner}/{repo}/releases/assets/{asset_id}"),
        ("PATCH", f"/repos/{_SEG}/{_SEG}/releases/assets/(\\d+)", "update_asset",
         "/repos/{owner}/{repo}/releases/assets/{asset_id}"),
        ("DELETE", f"/repos/{_SEG}/{_SEG}/releases/assets/(\\d+)", "delete_asset",
         "/repos/{owner}/{repo}/releases/assets/{asset_id}"),
        ("GET", f"/repos/{_SEG}/{_SEG}/releases/(\\d+)", "get_release",
         "/repos/{owner}/{repo}/releases/{release_id}"),
        ("PATCH", f"/repos/{_SEG}/{_SEG}/releases/(\\d+)", "update_release",
         "/repos/{owner}/{repo}/releases/{release_id}"),
        ("DELETE", f"/repos/{_SEG}/{_SEG}/releases/(\\d+)", "delete_release",
         "/repos/{owner}/{repo}/releases/{release_id}"),
        ("GET", f"/repos/{_SEG}/{_SEG}/releases/(\\d+)/assets", "list_assets",
         "/repos/{owner}/{repo}/releases/{release_id}/assets"),
        ("POST", f"/repos/{_SEG}/{_SEG}/releases/(\\d+)/assets", "upload_asset",
         "/repos/{owner}/{repo}/releases/{release_id}/assets"),
        ("GET", f"/(orgs|users)/{_SEG}/packages/{_SEG}/{_SEG}/versions", "list_versions",
         "/{kind}/{owner}/packages/{package_type}/{package_name}/versions"),
        ("DELETE", f"/(orgs|users)/{_SEG}/packages/{_SEG}/{_SEG}/versions/(\\d+)", "delete_version",
         "/{kind}/{owner}/packages/{package_type}/{package_name}/versions/{package_version_id}"),
    ]
]


def _template(template: str, groups: tuple[str, ...]) -> str:
    if template.startswith("/{kind}"):
        kind = groups[0]
        return template.replace("/{kind}/{owner}", "/orgs/{org}" if kind == "orgs" else "/users/{username}")
    return template


class FakeGitHub(LoopbackServer):
    """Start with ``with FakeGitHub() as gh:`` (or ``start()``/``stop()``); ``gh.url`` is the API root."""

    thread_name = "fake-github"

    def __init__(self, prefix: str = "") -> None:
        """``prefix`` serves the API under a path, as GitHub Enterprise Server does (``/api/v3``)."""
        super().__init__()
        self.prefix = prefix.rstrip("/")
        self.lock = threading.RLock()
        self.tokens: dict[str, Token] = {}
        self.repos: dict[str, Repo] = {}
        self.releases: dict[int, dict[str, Any]] = {}
        self.assets: dict[int, dict[str, Any]] = {}
        self.packages: dict[tuple[str, str], Package] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self._ids = itertools.count(1001)

    # -- lifecycle -------------------------------------------------------------------------
    def handler_class(self):
        return type("Handler", (_Handler,), {"owner": self})

    @property
    def url(self) -> str:
        return f"http://{self.address}{self.prefix}"

    # -- setup -----------------------------------------------------------------------------
    def add_token(self, token: str, login: str = "octocat", **kw: Any) -> Token:
        with self.lock:
            self.tokens[token] = Token(login=login, **kw)
            return self.tokens[token]

    def add_repo(self, full_name: str, **kw: Any) -> Repo:
        owner, name = full_name.split("/")
        with self.lock:
            repo = Repo(owner=owner, name=name, id=next(self._ids), **kw)
            self.repos[full_name.lower()] = repo
            return repo

    def add_package(self, owner: str, name: str, owner_type: str = "user",
                    versions: list[tuple[str, list[str]]] = ()) -> Package:
        with self.lock:
            pkg = Package(owner=owner, owner_type=owner_type, name=name)
            for digest, tags in versions:
                vid = next(self._ids)
                pkg.versions[vid] = PackageVersion(id=vid, name=digest, tags=list(tags))
            self.packages[(owner.lower(), name)] = pkg
            return pkg

    def add_release(self, full_name: str, tag: str, *, draft: bool = False, prerelease: bool = False,
                    name: str | None = None, body: str | None = "", target_commitish: str | None = None,
                    make_latest: str = "true", author: str = "someone-else") -> dict[str, Any]:
        """Create a release directly in the state (what another run or a person did)."""
        with self.lock:
            repo = self.repos[full_name.lower()]
            payload = {"tag_name": tag, "draft": draft, "prerelease": prerelease, "name": name, "body": body,
                       "make_latest": make_latest}
            if target_commitish is not None:
                payload["target_commitish"] = target_commitish
            return self._create_release(repo, payload, author)

    # -- faults ----------------------------------------------------------------------------
    def fail(self, method: str, path: str, status: int, *, times: int = 1, body: Any = None,
             headers: dict[str, str] | None = None, action: Callable[[], None] | None = None) -> None:
        """Answer ``status`` to the next ``times`` requests matching ``method`` ('*' for any) and the
        regex ``path`` (searched in the raw path). ``body`` defaults to GitHub's basic-error shape.
        ``action`` runs first: e.g. do the work, then answer 502 (a write that succeeded but whose
        answer was lost)."""
        if body is None:
            body = _error(status).body
        with self.lock:
            self.faults.append(Fault(method.upper(), re.compile(path), times, status, body, dict(headers or {}),
                                     action))

    def before(self, method: str, path: str, action: Callable[[], None], *, times: int = 1) -> None:
        """Run ``action`` just before the next ``times`` matching requests are handled normally."""
        with self.lock:
            self.faults.append(Fault(method.upper(), re.compile(path), times, action=action))

    # -- inspection ------------------------------------------------------------------------
    def releases_for(self, full_name: str, tag: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [r for r in self.releases.values()
                    if r["repo"] == full_name.lower() and (tag is None or r["tag_name"] == tag)]

    def latest_release(self, full_name: str) -> dict[str, Any] | None:
        with self.lock:
            rid = self.repos[full_name.lower()].latest_release_id
            return self.releases.get(rid) if rid else None

    def add_asset(self, release_id: int, name: str, data: bytes, state: str = "uploaded",
                  content_type: str = "application/octet-stream") -> dict[str, Any]:
        """Attach an asset directly in the state (an upload done by another run, or a broken one)."""
        with self.lock:
            rel = self.releases[release_id]
            now = _now()
            asset = {
                "id": next(self._ids), "repo": rel["repo"], "repo_full_name": rel["repo_full_name"],
                "release_id": release_id, "name": name, "label": None, "content_type": content_type,
                "data": data, "state": state, "created_at": now, "updated_at": now, "uploader": rel["author"],
            }
            self.assets[asset["id"]] = asset
            rel["assets"].append(asset["id"])
            return asset

    def asset_files(self, release_id: int) -> dict[str, bytes]:
        with self.lock:
            return {self.assets[a]["name"]: self.assets[a]["data"] for a in self.releases[release_id]["assets"]}

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method.upper()) and (path is None or re.search(path, r.path))]

    # -- JSON shapes -----------------------------------------------------------------------
    def _user(self, login: str, kind: str = "User") -> dict[str, Any]:
        base, uid = self.url, abs(hash(login)) % 10_000_000
        return {
            "login": login, "id": uid, "node_id": f"U_{uid}", "avatar_url": f"{base}/avatars/{login}",
            "gravatar_id": "", "url": f"{base}/users/{login}", "html_url": f"{base}/{login}",
            "followers_url": f"{base}/users/{login}/followers",
            "following_url": f"{base}/users/{login}/following{{/other_user}}",
            "gists_url": f"{base}/users/{login}/gists{{/gist_id}}",
            "starred_url": f"{base}/users/{login}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{base}/users/{login}/subscriptions",
            "organizations_url": f"{base}/users/{login}/orgs", "repos_url": f"{base}/users/{login}/repos",
            "events_url": f"{base}/users/{login}/events{{/privacy}}",
            "received_events_url": f"{base}/users/{login}/received_events",
            "type": kind, "site_admin": False,
        }

    def _repo_json(self, repo: Repo, token: Token) -> dict[str, Any]:
        base = self.url
        api = f"{base}/repos/{repo.full_name}"
        now = _now()
        data: dict[str, Any] = {
            "id": repo.id, "node_id": f"R_{repo.id}", "name": repo.name, "full_name": repo.full_name,
            "owner": self._user(repo.owner, repo.owner_type), "private": repo.private,
            "html_url": f"{base}/{repo.full_name}", "description": None, "fork": False, "url": api,
            "archive_url": api + "/{archive_format}{/ref}", "assignees_url": api + "/assignees{/user}",
            "blobs_url": api + "/git/blobs{/sha}", "branches_url": api + "/branches{/branch}",
            "collaborators_url": api + "/collaborators{/collaborator}", "comments_url": api + "/comments{/number}",
            "commits_url": api + "/commits{/sha}", "compare_url": api + "/compare/{base}...{head}",
            "contents_url": api + "/contents/{+path}", "contributors_url": api + "/contributors",
            "deployments_url": api + "/deployments", "downloads_url": api + "/downloads",
            "events_url": api + "/events", "forks_url": api + "/forks",
            "git_commits_url": api + "/git/commits{/sha}", "git_refs_url": api + "/git/refs{/sha}",
            "git_tags_url": api + "/git/tags{/sha}", "git_url": f"git://127.0.0.1/{repo.full_name}.git",
            "hooks_url": api + "/hooks", "issue_comment_url": api + "/issues/comments{/number}",
            "issue_events_url": api + "/issues/events{/number}", "issues_url": api + "/issues{/number}",
            "keys_url": api + "/keys{/key_id}", "labels_url": api + "/labels{/name}",
            "languages_url": api + "/languages", "merges_url": api + "/merges",
            "milestones_url": api + "/milestones{/number}",
            "notifications_url": api + "/notifications{?since,all,participating}",
            "pulls_url": api + "/pulls{/number}", "releases_url": api + "/releases{/id}",
            "ssh_url": f"git@127.0.0.1:{repo.full_name}.git", "stargazers_url": api + "/stargazers",
            "statuses_url": api + "/statuses/{sha}", "subscribers_url": api + "/subscribers",
            "subscription_url": api + "/subscription", "tags_url": api + "/tags",
            "teams_url": api + "/teams", "trees_url": api + "/git/trees{/sha}",
            "clone_url": f"{base}/{repo.full_name}.git", "mirror_url": None, "svn_url": f"{base}/{repo.full_name}",
            "homepage": None, "language": "Python", "forks": 0, "forks_count": 0, "stargazers_count": 0,
            "watchers_count": 0, "watchers": 0, "size": 1, "default_branch": repo.default_branch,
            "open_issues": 0, "open_issues_count": 0, "has_issues": True, "has_projects": True,
            "has_wiki": True, "has_pages": False, "has_discussions": False, "archived": repo.archived,
            "disabled": False, "license": None, "pushed_at": now, "created_at": now, "updated_at": now,
            "network_count": 0, "subscribers_count": 0, "visibility": "private" if repo.private else "public",
        }
        if token.kind == "user":
            level = token.contents
            data["permissions"] = {
                "admin": level == "admin", "maintain": level == "admin", "push": level in ("write", "admin"),
                "triage": level in ("write", "admin"), "pull": level is not None or not repo.private,
            }
        return data

    def _asset_json(self, asset: dict[str, Any]) -> dict[str, Any]:
        repo = asset["repo_full_name"]
        rel = self.releases[asset["release_id"]]
        return {
            "url": f"{self.url}/repos/{repo}/releases/assets/{asset['id']}",
            "browser_download_url": f"{self.url}/{repo}/releases/download/{quote(rel['tag_name'])}/"
                                    f"{quote(asset['name'])}",
            "id": asset["id"], "node_id": f"RA_{asset['id']}", "name": asset["name"], "label": asset["label"],
            "state": asset["state"], "content_type": asset["content_type"], "size": len(asset["data"]),
            "digest": "sha256:" + hashlib.sha256(asset["data"]).hexdigest(), "download_count": 0,
            "created_at": asset["created_at"], "updated_at": asset["updated_at"],
            "uploader": self._user(asset["uploader"], "Bot" if asset["uploader"].endswith("[bot]") else "User"),
        }

    def _release_json(self, rel: dict[str, Any]) -> dict[str, Any]:
        repo = rel["repo_full_name"]
        api = f"{self.url}/repos/{repo}/releases/{rel['id']}"
        tag_part = f"untagged-{rel['id']:020x}" if rel["draft"] else quote(rel["tag_name"], safe="")
        return {
            "url": api, "html_url": f"{self.url}/{repo}/releases/tag/{tag_part}", "assets_url": api + "/assets",
            "upload_url": api + "/assets{?name,label}",
            "tarball_url": None if rel["draft"] else f"{self.url}/repos/{repo}/tarball/{rel['tag_name']}",
            "zipball_url": None if rel["draft"] else f"{self.url}/repos/{repo}/zipball/{rel['tag_name']}",
            "id": rel["id"], "node_id": f"RE_{rel['id']}", "tag_name": rel["tag_name"],
            "target_commitish": rel["target_commitish"], "name": rel["name"], "body": rel["body"],
            "draft": rel["draft"], "prerelease": rel["prerelease"], "immutable": False,
            "created_at": rel["created_at"], "published_at": rel["published_at"], "updated_at": rel["updated_at"],
            "author": self._user(rel["author"], "Bot" if rel["author"].endswith("[bot]") else "User"),
            "assets": [self._asset_json(self.assets[a]) for a in rel["assets"]],
        }

    def _version_json(self, pkg: Package, v: PackageVersion) -> dict[str, Any]:
        kind = "orgs" if pkg.owner_type == "org" else "users"
        enc = quote(pkg.name, safe="")
        return {
            "id": v.id, "name": v.name,
            "url": f"{self.url}/{kind}/{pkg.owner}/packages/{pkg.package_type}/{enc}/versions/{v.id}",
            "package_html_url": f"{self.url}/{kind}/{pkg.owner}/packages/{pkg.package_type}/package/{enc}",
            "html_url": f"{self.url}/{kind}/{pkg.owner}/packages/{pkg.package_type}/{enc}/{v.id}",
            "created_at": v.created_at, "updated_at": v.created_at,
            "metadata": {"package_type": pkg.package_type, "container": {"tags": list(v.tags)}},
        }

    # -- state changes (lock held) ---------------------------------------------------------
    def _published_for(self, repo_key: str, tag: str, exclude: int | None = None) -> list[dict[str, Any]]:
        return [r for r in self.releases.values()
                if r["repo"] == repo_key and r["tag_name"] == tag and not r["draft"] and r["id"] != exclude]

    def _apply_latest(self, repo: Repo, rel: dict[str, Any], make_latest: str | None) -> None:
        if rel["draft"] or rel["prerelease"]:
            if repo.latest_release_id == rel["id"]:
                self._recompute_latest(repo)
            return
        if make_latest in (None, "true", "legacy"):
            repo.latest_release_id = rel["id"]
        elif repo.latest_release_id is None:
            # GitHub always has a latest once a stable release is published
            self._recompute_latest(repo)

    def _recompute_latest(self, repo: Repo) -> None:
        stable = [r for r in self.releases.values()
                  if r["repo"] == repo.full_name.lower() and not r["draft"] and not r["prerelease"]]
        stable.sort(key=lambda r: (r["published_at"] or "", r["id"]))
        repo.latest_release_id = stable[-1]["id"] if stable else None

    def _create_release(self, repo: Repo, payload: dict[str, Any], author: str) -> dict[str, Any]:
        tag = payload.get("tag_name")
        if not isinstance(tag, str) or not tag:
            raise _validation("Release", "missing_field", "tag_name")
        make_latest = payload.get("make_latest")
        if make_latest is not None and make_latest not in ("true", "false", "legacy"):
            raise _validation("Release", "invalid", "make_latest")
        draft = bool(payload.get("draft", False))
        if not draft and self._published_for(repo.full_name.lower(), tag):
            raise _validation("Release", "already_exists", "tag_name")
        now = _now()
        rel = {
            "id": next(self._ids), "repo": repo.full_name.lower(), "repo_full_name": repo.full_name,
            "tag_name": tag, "target_commitish": payload.get("target_commitish") or repo.default_branch,
            "name": payload.get("name"), "body": payload.get("body"), "draft": draft,
            "prerelease": bool(payload.get("prerelease", False)), "created_at": now,
            "published_at": None if draft else now, "updated_at": now, "author": author, "assets": [],
        }
        self.releases[rel["id"]] = rel
        self._apply_latest(repo, rel, make_latest)
        return rel

    # -- request handling ------------------------------------------------------------------
    def handle(self, rec: Recorded) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            if self.prefix:
                if not rec.path.startswith(self.prefix + "/"):
                    self.requests.append(rec)
                    return 404, _error(404).body, {}
                rec.path = rec.path[len(self.prefix):]
            self.requests.append(rec)
            for fault in self.faults:
                if fault.times > 0 and fault.method in ("*", rec.method) and fault.path.search(rec.path):
                    fault.times -= 1
                    if fault.action is not None:
                        fault.action()
                    if fault.status is None:
                        break
                    rec.injected = True
                    return fault.status, fault.body, dict(fault.headers)
            for method, rx, handler, template in _ROUTES:
                m = rx.match(rec.path)
                if m and method == rec.method:
                    groups = tuple(unquote(g) for g in m.groups())
                    rec.operation = (_template(template, groups), method.lower())
                    try:
                        token = self._auth(rec)
                        status, body, headers = getattr(self, "_h_" + handler)(rec, token, *groups)
                    except _ApiError as exc:
                        return exc.status, exc.body, exc.headers
                    return status, body, headers
            return 404, _error(404).body, {}

    def _auth(self, rec: Recorded) -> Token:
        value = rec.headers.get("authorization", "")
        scheme, _, secret = value.partition(" ")
        token = self.tokens.get(secret) if scheme.lower() in ("token", "bearer") else None
        if token is None:
            raise _error(401, "Bad credentials")
        return token

    def _repo(self, token: Token, owner: str, name: str, write: bool = False) -> Repo:
        repo = self.repos.get(f"{owner}/{name}".lower())
        if repo is None or (repo.private and token.contents is None):
            raise _error(404)
        if write:
            if token.contents not in ("write", "admin"):
                who = "integration" if token.kind == "app" else "personal access token"
                raise _error(403, f"Resource not accessible by {who}")
            if repo.archived:
                raise _error(403, "Repository was archived so is read-only.")
        return repo

    def _release(self, repo: Repo, token: Token, release_id: str) -> dict[str, Any]:
        rel = self.releases.get(int(release_id))
        if rel is None or rel["repo"] != repo.full_name.lower():
            raise _error(404)
        if rel["draft"] and token.contents not in ("write", "admin"):
            raise _error(404)
        return rel

    def _asset(self, repo: Repo, asset_id: str) -> dict[str, Any]:
        asset = self.assets.get(int(asset_id))
        if asset is None or asset["repo"] != repo.full_name.lower():
            raise _error(404)
        return asset

    @staticmethod
    def _json_body(rec: Recorded) -> dict[str, Any]:
        if not rec.body:
            return {}
        try:
            data = json.loads(rec.body)
        except ValueError:
            raise _ApiError(400, {"message": "Problems parsing JSON", "documentation_url": DOCS}) from None
        if not isinstance(data, dict):
            raise _ApiError(400, {"message": "Body should be a JSON object", "documentation_url": DOCS})
        return data

    def _page(self, rec: Recorded, items: list[Any]) -> tuple[list[Any], dict[str, str]]:
        per_page = int(rec.query.get("per_page", ["30"])[0])
        page = int(rec.query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(items):
            query = {k: v[0] for k, v in rec.query.items()}
            query.update(per_page=str(per_page), page=str(page + 1))
            q = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
            headers["Link"] = f'<{self.url}{rec.path}?{q}>; rel="next"'
        return chunk, headers

    # handlers: return (status, body, headers)
    def _h_get_repo(self, rec, token, owner, name):
        return 200, self._repo_json(self._repo(token, owner, name), token), {}

    def _h_list_releases(self, rec, token, owner, name):
        repo = self._repo(token, owner, name)
        rels = [r for r in self.releases.values() if r["repo"] == repo.full_name.lower()]
        if token.contents not in ("write", "admin"):
            rels = [r for r in rels if not r["draft"]]
        rels.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        chunk, headers = self._page(rec, [self._release_json(r) for r in rels])
        return 200, chunk, headers

    def _h_create_release(self, rec, token, owner, name):
        repo = self._repo(token, owner, name, write=True)
        rel = self._create_release(repo, self._json_body(rec), token.login)
        body = self._release_json(rel)
        return 201, body, {"Location": body["url"]}

    def _h_latest_release(self, rec, token, owner, name):
        repo = self._repo(token, owner, name)
        rel = self.releases.get(repo.latest_release_id or -1)
        if rel is None:
            raise _error(404)
        return 200, self._release_json(rel), {}

    def _h_release_by_tag(self, rec, token, owner, name, tag):
        repo = self._repo(token, owner, name)
        published = self._published_for(repo.full_name.lower(), tag)
        if not published:
            raise _error(404)
        return 200, self._release_json(published[0]), {}

    def _h_get_release(self, rec, token, owner, name, release_id):
        repo = self._repo(token, owner, name)
        return 200, self._release_json(self._release(repo, token, release_id)), {}

    def _h_update_release(self, rec, token, owner, name, release_id):
        repo = self._repo(token, owner, name, write=True)
        rel = self._release(repo, token, release_id)
        payload = self._json_body(rec)
        make_latest = payload.get("make_latest")
        if make_latest is not None and make_latest not in ("true", "false", "legacy"):
            raise _validation("Release", "invalid", "make_latest")
        tag = payload.get("tag_name", rel["tag_name"])
        draft = bool(payload.get("draft", rel["draft"]))
        if not draft and self._published_for(repo.full_name.lower(), tag, exclude=rel["id"]):
            raise _validation("Release", "already_exists", "tag_name")
        for key in ("name", "body", "target_commitish", "prerelease"):
            if key in payload:
                rel[key] = payload[key]
        rel["tag_name"] = tag
        newly_published = rel["draft"] and not draft
        if newly_published:
            rel["published_at"] = _now()
        rel["draft"] = draft
        rel["updated_at"] = _now()
        if make_latest is None:  # GitHub's default: "true" for a newly published release, else unchanged
            make_latest = "true" if newly_published else "false"
        self._apply_latest(repo, rel, make_latest)
        return 200, self._release_json(rel), {}

    def _h_delete_release(self, rec, token, owner, name, release_id):
        repo = self._repo(token, owner, name, write=True)
        rel = self._release(repo, token, release_id)
        for aid in rel["assets"]:
            self.assets.pop(aid, None)
        del self.releases[rel["id"]]
        if repo.latest_release_id == rel["id"]:
            self._recompute_latest(repo)
        return 204, None, {}

    def _h_list_assets(self, rec, token, owner, name, release_id):
        repo = self._repo(token, owner, name)
        rel = self._release(repo, token, release_id)
        chunk, headers = self._page(rec, [self._asset_json(self.assets[a]) for a in rel["assets"]])
        return 200, chunk, headers

    def _h_upload_asset(self, rec, token, owner, name, release_id):
        repo = self._repo(token, owner, name, write=True)
        rel = self._release(repo, token, release_id)
        asset_name = rec.query.get("name", [""])[0]
        if not asset_name:
            raise _validation("ReleaseAsset", "missing_field", "name")
        if any(self.assets[a]["name"] == asset_name for a in rel["assets"]):
            raise _validation("ReleaseAsset", "already_exists", "name")
        now = _now()
        asset = {
            "id": next(self._ids), "repo": repo.full_name.lower(), "repo_full_name": repo.full_name,
            "release_id": rel["id"], "name": asset_name, "label": rec.query.get("label", [""])[0] or None,
            "content_type": rec.headers.get("content-type", "application/octet-stream"), "data": rec.body,
            "state": "uploaded", "created_at": now, "updated_at": now, "uploader": token.login,
        }
        self.assets[asset["id"]] = asset
        rel["assets"].append(asset["id"])
        return 201, self._asset_json(asset), {}

    def _h_get_asset(self, rec, token, owner, name, asset_id):
        repo = self._repo(token, owner, name)
        return 200, self._asset_json(self._asset(repo, asset_id)), {}

    def _h_update_asset(self, rec, token, owner, name, asset_id):
        repo = self._repo(token, owner, name, write=True)
        asset = self._asset(repo, asset_id)
        payload = self._json_body(rec)
        new_name = payload.get("name", asset["name"])
        rel = self.releases[asset["release_id"]]
        if any(self.assets[a]["name"] == new_name and a != asset["id"] for a in rel["assets"]):
            raise _validation("ReleaseAsset", "already_exists", "name")
        asset["name"] = new_name
        if "label" in payload:
            asset["label"] = payload["label"] or None
        asset["updated_at"] = _now()
        return 200, self._asset_json(asset), {}

    def _h_delete_asset(self, rec, token, owner, name, asset_id):
        repo = self._repo(token, owner, name, write=True)
        asset = self._asset(repo, asset_id)
        self.releases[asset["release_id"]]["assets"].remove(asset["id"])
        del self.assets[asset["id"]]
        return 204, None, {}

    def _package(self, token: Token, kind: str, owner: str, package_type: str, package_name: str) -> Package:
        if token.packages is None:
            raise _error(403, "Permission denied: the token lacks the read:packages scope")
        pkg = self.packages.get((owner.lower(), package_name))
        if pkg is None or package_type != pkg.package_type:
            raise _error(404, "Package not found.")
        if (kind == "orgs") != (pkg.owner_type == "org"):
            raise _error(404)
        return pkg

    def _h_list_versions(self, rec, token, kind, owner, package_type, package_name):
        pkg = self._package(token, kind, owner, package_type, package_name)
        versions = sorted(pkg.versions.values(), key=lambda v: v.id, reverse=True)
        chunk, headers = self._page(rec, [self._version_json(pkg, v) for v in versions])
        return 200, chunk, headers

    def _h_delete_version(self, rec, token, kind, owner, package_type, package_name, version_id):
        pkg = self._package(token, kind, owner, package_type, package_name)
        if token.packages != "delete":
            raise _error(403, "Permission denied: the token lacks the delete:packages scope")
        if pkg.versions.pop(int(version_id), None) is None:
            raise _error(404, "Package version not found.")
        return 204, None, {}


class _Handler(BaseHTTPRequestHandler):
    owner: FakeGitHub
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one segment (no Nagle/delayed-ACK stalls)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        rec = Recorded(method=self.command, path=parts.path, query=parse_qs(parts.query, keep_blank_values=True),
                       headers={k.lower(): v for k, v in self.headers.items()}, body=self._read_body())
        status, body, headers = self.owner.handle(rec)
        rec.status, rec.response = status, body
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _serve
