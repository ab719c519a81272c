"""A stateful HTTP fake of the parts of the GitLab REST API v4 that image-release uses.

Runs a ``ThreadingHTTPServer`` on 127.0.0.1 (random port) in a thread, so the real
python-gitlab client talks to it over loopback. Request and response shapes follow
GitLab's API documentation:

- Releases API (``/projects/:id/releases``), Release links API
  (``/projects/:id/releases/:tag_name/assets/links``);
- Container registry API (``/projects/:id/registry/repositories`` and its ``tags``);
- Generic packages upload (``PUT /projects/:id/packages/generic/:name/:version/:file``);
- ``GET /projects/:id`` (with ``permissions``), ``GET /personal_access_tokens/self``.

Authentication as GitLab does it: ``PRIVATE-TOKEN`` (or ``Authorization: Bearer``) and
``JOB-TOKEN``. A job token is accepted only by the endpoints GitLab lets it use (releases,
release links, container registry, generic packages) and only for its own project; on
``GET /projects/:id`` it is not a credential at all, so a private project answers
``404 Project Not Found`` (which is why clients use ``projects.get(id, lazy=True)``).
A private token with only ``read_api`` gets GitLab's ``403 insufficient_scope`` on writes.

Projects are addressed by numeric id or URL-encoded path (``group%2Fproject``). Lists are
paginated with ``page``/``per_page`` and answer with ``X-Page``, ``X-Per-Page``, ``X-Total``,
``X-Total-Pages``, ``X-Next-Page``, ``X-Prev-Page`` and ``Link`` headers.

Error injection: ``fake.inject(method, path_regex, status, times=1, body=None, headers=None)``
answers the next ``times`` matching requests with that status (e.g. 500 once then OK,
429 with ``Retry-After``, 409 ``Release already exists`` from a "concurrent" run).
``fake.before(method, path_regex, callback)`` runs a callback (with the fake) just before a
matching request is handled, to simulate another job acting at that moment.

Every request is recorded in ``fake.requests`` (method, path, query, auth kind, JSON body);
tokens are never recorded.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tests.fakes.loopback import LoopbackServer

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50

RELEASE_ALREADY_EXISTS = "Release already exists"
BULK_LEASE_MESSAGE = (
    "This request has already been made. You can run this at most once an hour for a given "
    "container repository"
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _parse_iso(value: str) -> datetime:
    value = value.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


class HttpError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _not_found(what: str = "Not Found") -> HttpError:
    return HttpError(404, {"message": f"404 {what}"})


FORBIDDEN = {"message": "403 Forbidden"}
UNAUTHORIZED = {"message": "401 Unauthorized"}
INSUFFICIENT_SCOPE = {
    "error": "insufficient_scope",
    "error_description": "The request requires higher privileges than provided by the access token.",
    "scope": "api",
}


@dataclass
class Principal:
    kind: str  # "private" | "job"
    user_id: int
    username: str
    scopes: tuple[str, ...] = ("api",)
    access: dict[int, int] = field(default_factory=dict)  # project id -> access level
    job_project: int | None = None  # job tokens: the only project it may touch


@dataclass
class Tag:
    name: str
    created_at: datetime
    digest: str
    protected: bool = False


@dataclass
class Repository:
    id: int
    project_id: int
    name: str
    path: str
    location: str
    created_at: datetime
    tags: dict[str, Tag] = field(default_factory=dict)
    lease_taken: bool = False
    scheduled: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Project:
    id: int
    path_with_namespace: str
    git_tags: dict[str, str] = field(default_factory=dict)  # tag -> commit sha
    default_branch: str = "main"
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)
    repositories: dict[int, Repository] = field(default_factory=dict)
    packages: list[dict[str, Any]] = field(default_factory=list)
    public: bool = False


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    auth: str | None  # "private", "job", "bearer" or None: never the token itself
    body: Any


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    body: Any
    headers: dict[str, str]


class FakeGitLab(LoopbackServer):
    """The fake server and its state. Use as a context manager or call start()/stop()."""

    registry_host = "registry.example.com"
    thread_name = "fake-gitlab"

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.RLock()
        self.projects: dict[int, Project] = {}
        self.tokens: dict[str, Principal] = {}
        self.requests: list[Recorded] = []
        self._injections: list[_Injection] = []
        self._hooks: list[tuple[str, re.Pattern[str], Callable[["FakeGitLab"], None]]] = []
        self._next_id = 100
        self.clock: Callable[[], datetime] = _now

    # --------------------------------------------------------------- lifecycle
    def handler_class(self):
        return type("Handler", (_Handler,), {"fake": self})

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    # ------------------------------------------------------------------- setup
    def new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def add_project(
        self, path_with_namespace: str, *, project_id: int | None = None,
        git_tags: dict[str, str] | None = None, public: bool = False,
    ) -> Project:
        pid = project_id if project_id is not None else self.new_id()
        project = Project(pid, path_with_namespace, dict(git_tags or {}), public=public)
        self.projects[pid] = project
        return project

    def add_private_token(
        self, token: str, *, access: dict[int, int], scopes: tuple[str, ...] = ("api",),
        username: str = "releaser",
    ) -> Principal:
        principal = Principal("private", self.new_id(), username, tuple(scopes), dict(access))
        self.tokens[token] = principal
        return principal

    def add_job_token(self, token: str, *, project: Project, access: int = DEVELOPER) -> Principal:
        principal = Principal("job", self.new_id(), "ci-user", ("api",), {project.id: access}, project.id)
        self.tokens[token] = principal
        return principal

    def add_repository(self, project: Project, name: str = "") -> Repository:
        path = project.path_with_namespace + (f"/{name}" if name else "")
        repo = Repository(
            self.new_id(), project.id, name, path, f"{self.registry_host}/{path}", self.clock()
        )
        project.repositories[repo.id] = repo
        return repo

    def add_registry_tag(
        self, repo: Repository, name: str, *, digest: str | None = None,
        created_at: datetime | None = None, protected: bool = False,
    ) -> Tag:
        digest = digest or "sha256:" + format(abs(hash((repo.id, name))), "x").rjust(64, "0")[:64]
        tag = Tag(name, created_at or self.clock(), digest, protected)
        repo.tags[name] = tag
        return tag

    def inject(
        self, method: str, path_regex: str, status: int, *, times: int = 1,
        body: Any = None, headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests matching method and path with ``status``."""
        if body is None:
            body = {"message": _default_message(status)}
        with self.lock:
            self._injections.append(
                _Injection(method.upper(), re.compile(path_regex), status, times, body, dict(headers or {}))
            )

    def before(self, method: str, path_regex: str, callback: Callable[["FakeGitLab"], None]) -> None:
        """Run ``callback(fake)`` once, just before the next matching request is handled."""
        with self.lock:
            self._hooks.append((method.upper(), re.compile(path_regex), callback))

    def calls(self, method: str | None = None, path_regex: str | None = None) -> list[Recorded]:
        with self.lock:
            return [
                r for r in self.requests
                if (method is None or r.method == method.upper())
                and (path_regex is None or re.search(path_regex, r.path))
            ]

    # ------------------------------------------------ simulated background work
    def run_scheduled_cleanups(self) -> None:
        """Do what GitLab's CleanupContainerRepositoryWorker does, for every scheduled bulk delete."""
        with self.lock:
            for project in self.projects.values():
                for repo in project.repositories.values():
                    for params in repo.scheduled:
                        _apply_cleanup(repo, params, self.clock())
                    repo.scheduled.clear()

    def expire_cleanup_leases(self) -> None:
        """Pretend an hour has passed: bulk delete may run again."""
        with self.lock:
            for project in self.projects.values():
                for repo in project.repositories.values():
                    repo.lease_taken = False

    # ------------------------------------------------------------- internals
    def _take_injection(self, method: str, path: str) -> _Injection | None:
        with self.lock:
            for inj in self._injections:
                if inj.method in (method, "*") and inj.pattern.search(path):
                    inj.times -= 1
                    if inj.times <= 0:
                        self._injections.remove(inj)
                    return inj
        return None

    def _run_hooks(self, method: str, path: str) -> None:
        with self.lock:
            due = [h for h in self._hooks if h[0] in (method, "*") and h[1].search(path)]
            for h in due:
                self._hooks.remove(h)
        for _, _, callback in due:
            callback(self)


def _default_message(status: int) -> str:
    return {
        400: "400 Bad request",
        401: "401 Unauthorized",
        403: "403 Forbidden",
        404: "404 Not Found",
        405: "405 Method Not Allowed",
        409: RELEASE_ALREADY_EXISTS,
        422: "422 Unprocessable Entity",
        429: "Retry later",
        500: "500 Internal Server Error",
        502: "502 Bad Gateway",
        503: "503 Service Unavailable",
    }.get(status, f"{status}")


_DURATION = re.compile(r"^(\d+)\s*(months?|month|d|h|m|s|w)$")


def _parse_older_than(value: str) -> timedelta:
    match = _DURATION.match(value.strip())
    if not match:
        raise HttpError(400, {"error": "older_than is invalid"})
    n, unit = int(match.group(1)), match.group(2)
    if unit.startswith("month"):
        return timedelta(days=30 * n)
    return {"w": timedelta(weeks=n), "d": timedelta(days=n), "h": timedelta(hours=n),
            "m": timedelta(minutes=n), "s": timedelta(seconds=n)}[unit]


def _apply_cleanup(repo: Repository, params: dict[str, Any], now: datetime) -> None:
    """GitLab's documented bulk-delete rules (Container registry API)."""
    delete_re = re.compile(params.get("name_regex_delete") or params.get("name_regex") or "(?!)")
    keep_re = re.compile(params["name_regex_keep"]) if params.get("name_regex_keep") else None
    candidates = sorted(repo.tags.values(), key=lambda t: t.created_at, reverse=True)
    candidates = [
        t for t in candidates
        if t.name != "latest"
        and not t.protected
        and delete_re.fullmatch(t.name)
        and not (keep_re and keep_re.fullmatch(t.name))
    ]
    if params.get("keep_n") is not None:
        candidates = candidates[int(params["keep_n"]):]
    if params.get("older_than"):
        limit = now - _parse_older_than(params["older_than"])
        candidates = [t for t in candidates if t.created_at < limit]
    for tag in candidates:
        del repo.tags[tag.name]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeGitLab
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per response: no Nagle/delayed-ACK stalls on keep-alive

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # ------------------------------------------------------------------ core
    def _handle(self, method: str) -> None:
        fake = self.fake
        split = urlsplit(self.path)
        raw_path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        body: Any = None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if raw_body and ctype == "application/json":
            try:
                body = json.loads(raw_body)
            except ValueError:
                self._send(400, {"error": "invalid JSON"})
                return
        elif raw_body and ctype == "application/x-www-form-urlencoded":
            body = {k: v[-1] for k, v in parse_qs(raw_body.decode()).items()}
        if self.headers.get("PRIVATE-TOKEN"):
            auth_kind = "private"
        elif self.headers.get("JOB-TOKEN"):
            auth_kind = "job"
        elif (self.headers.get("Authorization") or "").startswith("Bearer "):
            auth_kind = "bearer"
        else:
            auth_kind = None
        with fake.lock:
            fake.requests.append(
                Recorded(method, raw_path, query, auth_kind, body if body is not None else (
                    {"_bytes": len(raw_body)} if raw_body else None))
            )
        fake._run_hooks(method, raw_path)
        injected = fake._take_injection(method, raw_path)
        if injected is not None:
            self._send(injected.status, injected.body, injected.headers)
            return
        try:
            status, payload, headers = self._route(method, raw_path, query, body, raw_body)
        except HttpError as err:
            self._send(err.status, err.body, err.headers)
            return
        except Exception as err:  # a bug in the fake: make it visible
            self._send(500, {"message": f"fake error: {type(err).__name__}: {err}"})
            raise
        self._send(status, payload, headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _principal(self) -> Principal:
        token = (
            self.headers.get("PRIVATE-TOKEN")
            or self.headers.get("JOB-TOKEN")
            or (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        )
        if not token:
            raise HttpError(401, UNAUTHORIZED)
        principal = self.fake.tokens.get(token)
        if principal is None:
            raise HttpError(401, UNAUTHORIZED)
        if self.headers.get("JOB-TOKEN") and principal.kind != "job":
            raise HttpError(401, UNAUTHORIZED)
        if not self.headers.get("JOB-TOKEN") and principal.kind == "job":
            raise HttpError(401, UNAUTHORIZED)
        return principal

    def _project(self, ident: str, principal: Principal, *, job_allowed: bool) -> Project:
        fake = self.fake
        project: Project | None = None
        if ident.isdigit():
            project = fake.projects.get(int(ident))
        else:
            for p in fake.projects.values():
                if p.path_with_namespace == ident:
                    project = p
        if project is None:
            raise _not_found("Project Not Found")
        if principal.kind == "job":
            # Not a credential here (job_allowed False) or another project: GitLab acts as
            # if the caller were anonymous, and a private project does not exist for them.
            if not job_allowed or principal.job_project != project.id:
                raise _not_found("Project Not Found")
        elif principal.access.get(project.id, 0) < GUEST and not project.public:
            raise _not_found("Project Not Found")
        return project

    def _require(self, principal: Principal, project: Project, level: int, *, write: bool) -> None:
        if write and principal.kind != "job" and "api" not in principal.scopes:
            raise HttpError(403, INSUFFICIENT_SCOPE)
        if principal.access.get(project.id, 0) < level:
            raise HttpError(403, FORBIDDEN)

    # ---------------------------------------------------------------- router
    def _route(
        self, method: str, raw_path: str, query: dict[str, list[str]], body: Any, raw_body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        if not raw_path.startswith("/api/v4/"):
            raise _not_found()
        segs = [unquote(s) for s in raw_path[len("/api/v4/"):].split("/")]
        fake = self.fake
        with fake.lock:
            if segs == ["personal_access_tokens", "self"] and method == "GET":
                principal = self._principal()
                if principal.kind == "job":
                    raise HttpError(401, UNAUTHORIZED)
                return 200, {
                    "id": principal.user_id, "name": "release token", "revoked": False,
                    "created_at": _iso(fake.clock()), "scopes": list(principal.scopes),
                    "user_id": principal.user_id, "active": True, "expires_at": None,
                }, {}
            if len(segs) >= 2 and segs[0] == "projects":
                principal = self._principal()
                rest = segs[2:]
                if not rest:
                    if method != "GET":
                        raise _not_found()
                    project = self._project(segs[1], principal, job_allowed=False)
                    return 200, self._project_json(project, principal), {}
                project = self._project(segs[1], principal, job_allowed=True)
                if rest[0] == "releases":
                    return self._releases(method, project, principal, rest[1:], query, body)
                if rest[:2] == ["registry", "repositories"]:
                    return self._registry(method, project, principal, rest[2:], query, body)
                if rest[:2] == ["packages", "generic"] and len(rest) == 5 and method == "PUT":
                    self._require(principal, project, DEVELOPER, write=True)
                    project.packages.append({
                        "package_name": rest[2], "package_version": rest[3],
                        "file_name": rest[4], "content": raw_body,
                    })
                    return 201, {"message": "201 Created"}, {}
            raise _not_found()

    # ----------------------------------------------------------- pagination
    def _paginate(
        self, items: list[Any], query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        def q(name: str, default: int) -> int:
            try:
                return max(1, int(query.get(name, [str(default)])[-1]))
            except ValueError:
                return default

        per_page = min(q("per_page", 20), 100)
        page = q("page", 1)
        total = len(items)
        total_pages = max(1, -(-total // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        base = f"http://{self.headers.get('Host')}{urlsplit(self.path).path}"
        other = {k: v[-1] for k, v in query.items() if k not in ("page", "per_page")}

        def link(p: int) -> str:
            return base + "?" + urlencode({**other, "page": p, "per_page": per_page})

        links = [f'<{link(1)}>; rel="first"', f'<{link(total_pages)}>; rel="last"']
        headers = {
            "X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(total),
            "X-Total-Pages": str(total_pages),
            "X-Next-Page": str(page + 1) if page < total_pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
        }
        if page < total_pages:
            links.insert(0, f'<{link(page + 1)}>; rel="next"')
        if page > 1:
            links.insert(0, f'<{link(page - 1)}>; rel="prev"')
        headers["Link"] = ", ".join(links)
        return 200, chunk, headers

    # -------------------------------------------------------------- projects
    def _web_base(self) -> str:
        return f"http://{self.headers.get('Host')}"

    def _project_json(self, project: Project, principal: Principal) -> dict[str, Any]:
        web_url = f"{self._web_base()}/{project.path_with_namespace}"
        level = principal.access.get(project.id)
        return {
            "id": project.id,
            "name": project.path_with_namespace.rsplit("/", 1)[-1],
            "path": project.path_with_namespace.rsplit("/", 1)[-1],
            "path_with_namespace": project.path_with_namespace,
            "default_branch": project.default_branch,
            "visibility": "public" if project.public else "private",
            "web_url": web_url,
            "container_registry_image_prefix": f"{self.fake.registry_host}/{project.path_with_namespace}",
            "releases_access_level": "enabled",
            "permissions": {
                "project_access": (
                    {"access_level": level, "notification_level": 3} if level else None
                ),
                "group_access": None,
            },
        }

    # -------------------------------------------------------------- releases
    def _release_json(self, project: Project, rel: dict[str, Any]) -> dict[str, Any]:
        web_url = f"{self._web_base()}/{project.path_with_namespace}"
        tag = rel["tag_name"]
        now = self.fake.clock()
        sha = project.git_tags.get(tag, "0" * 40)
        return {
            "tag_name": tag,
            "description": rel["description"],
            "name": rel["name"],
            "created_at": _iso(rel["created_at"]),
            "released_at": _iso(rel["released_at"]),
            "upcoming_release": rel["released_at"] > now,
            "historical_release": rel["released_at"] < rel["created_at"],
            "author": {"id": rel["author_id"], "username": rel["author"], "name": rel["author"],
                       "state": "active", "web_url": f"{self._web_base()}/{rel['author']}"},
            "commit": {"id": sha, "short_id": sha[:8], "title": "commit", "parent_ids": []},
            "milestones": [],
            "commit_path": f"/{project.path_with_namespace}/-/commit/{sha}",
            "tag_path": f"/{project.path_with_namespace}/-/tags/{quote(tag, safe='')}",
            "assets": {
                "count": len(rel["links"]) + 4,
                "sources": [
                    {"format": fmt, "url": f"{web_url}/-/archive/{tag}/{project.path_with_namespace.rsplit('/', 1)[-1]}-{tag}.{fmt}"}
                    for fmt in ("zip", "tar.gz", "tar.bz2", "tar")
                ],
                "links": [self._link_json(project, tag, link) for link in rel["links"]],
            },
            "evidences": [],
            "_links": {
                "self": f"{web_url}/-/releases/{quote(tag, safe='')}",
                "edit_url": f"{web_url}/-/releases/{quote(tag, safe='')}/edit",
            },
        }

    def _link_json(self, project: Project, tag: str, link: dict[str, Any]) -> dict[str, Any]:
        out = {"id": link["id"], "name": link["name"], "url": link["url"],
               "direct_asset_url": link["url"], "link_type": link["link_type"]}
        if link.get("direct_asset_path"):
            out["direct_asset_url"] = (
                f"{self._web_base()}/{project.path_with_namespace}/-/releases/"
                f"{quote(tag, safe='')}/downloads{link['direct_asset_path']}"
            )
        return out

    def _validate_link(self, rel: dict[str, Any], data: dict[str, Any], skip_id: int | None = None) -> None:
        errors: dict[str, list[str]] = {}
        url = data.get("url")
        if url is not None and not re.match(r"^(https?|ftp)://", str(url)):
            errors.setdefault("url", []).append("is blocked: Only allowed schemes are http, https, ftp")
        if data.get("link_type") is not None and data["link_type"] not in ("other", "runbook", "image", "package"):
            raise HttpError(400, {"error": "link_type does not have a valid value"})
        for other in rel["links"]:
            if other["id"] == skip_id:
                continue
            if data.get("name") is not None and other["name"] == data["name"]:
                errors.setdefault("name", []).append("has already been taken")
            if url is not None and other["url"] == url:
                errors.setdefault("url", []).append("has already been taken")
        if errors:
            raise HttpError(400, {"message": errors})

    def _releases(
        self, method: str, project: Project, principal: Principal, rest: list[str],
        query: dict[str, list[str]], body: Any,
    ) -> tuple[int, Any, dict[str, str]]:
        fake = self.fake
        body = body or {}
        if not rest:
            if method == "GET":
                self._require(principal, project, REPORTER, write=False)
                order = query.get("order_by", ["released_at"])[-1]
                sort = query.get("sort", ["desc"])[-1]
                rels = sorted(project.releases.values(), key=lambda r: r[order],
                              reverse=(sort == "desc"))
                status, page, headers = self._paginate(rels, query)
                return status, [self._release_json(project, r) for r in page], headers
            if method == "POST":
                self._require(principal, project, DEVELOPER, write=True)
                tag = body.get("tag_name")
                if not tag:
                    raise HttpError(400, {"error": "tag_name is missing"})
                if tag in project.releases:
                    raise HttpError(409, {"message": RELEASE_ALREADY_EXISTS})
                if tag not in project.git_tags:
                    if not body.get("ref"):
                        raise HttpError(422, {"message": "Ref is not specified"})
                    project.git_tags[tag] = format(abs(hash((tag, body["ref"]))), "x").rjust(40, "0")[:40]
                now = fake.clock()
                released_at = _parse_iso(body["released_at"]) if body.get("released_at") else now
                rel = {
                    "tag_name": tag, "name": body.get("name") or tag,
                    "description": body.get("description") or "",
                    "created_at": now, "released_at": released_at, "links": [],
                    "author": principal.username, "author_id": principal.user_id,
                }
                for link in (body.get("assets") or {}).get("links") or []:
                    self._validate_link(rel, link)
                    rel["links"].append({
                        "id": fake.new_id(), "name": link["name"], "url": link["url"],
                        # GitLab before 13.x ignored link_type here; current versions keep it.
                        "link_type": link.get("link_type") or "other",
                        "direct_asset_path": link.get("direct_asset_path") or link.get("filepath"),
                    })
                project.releases[tag] = rel
                return 201, self._release_json(project, rel), {}
            raise _not_found()
        tag = rest[0]
        rel = project.releases.get(tag)
        if len(rest) == 1:
            if method == "GET":
                self._require(principal, project, REPORTER, write=False)
                if rel is None:
                    raise _not_found()
                return 200, self._release_json(project, rel), {}
            if method == "PUT":
                self._require(principal, project, DEVELOPER, write=True)
                if rel is None:
                    raise _not_found()
                for key in ("name", "description"):
                    if key in body and body[key] is not None:
                        rel[key] = body[key]
                if body.get("released_at"):
                    rel["released_at"] = _parse_iso(body["released_at"])
                return 200, self._release_json(project, rel), {}
            if method == "DELETE":
                self._require(principal, project, MAINTAINER, write=True)
                if rel is None:
                    raise _not_found()
                del project.releases[tag]
                return 200, self._release_json(project, rel), {}
            raise _not_found()
        if rest[1:3] == ["assets", "links"]:
            if rel is None:
                raise _not_found()
            if len(rest) == 3:
                if method == "GET":
                    self._require(principal, project, REPORTER, write=False)
                    status, page, headers = self._paginate(
                        sorted(rel["links"], key=lambda l: l["id"], reverse=True), query)
                    return status, [self._link_json(project, tag, l) for l in page], headers
                if method == "POST":
                    self._require(principal, project, DEVELOPER, write=True)
                    for required in ("name", "url"):
                        if not body.get(required):
                            raise HttpError(400, {"error": f"{required} is missing"})
                    self._validate_link(rel, body)
                    link = {
                        "id": fake.new_id(), "name": body["name"], "url": body["url"],
                        "link_type": body.get("link_type") or "other",
                        "direct_asset_path": body.get("direct_asset_path") or body.get("filepath"),
                    }
                    rel["links"].append(link)
                    return 201, self._link_json(project, tag, link), {}
                raise _not_found()
            if len(rest) == 4 and rest[3].isdigit():
                link = next((l for l in rel["links"] if l["id"] == int(rest[3])), None)
                if link is None:
                    raise _not_found()
                if method == "GET":
                    self._require(principal, project, REPORTER, write=False)
                    return 200, self._link_json(project, tag, link), {}
                if method == "PUT":
                    self._require(principal, project, DEVELOPER, write=True)
                    if body.get("name") is None and body.get("url") is None:
                        raise HttpError(400, {"error": "name, url are missing, at least one parameter must be provided"})
                    self._validate_link(rel, body, skip_id=link["id"])
                    for key in ("name", "url", "link_type", "direct_asset_path"):
                        if body.get(key) is not None:
                            link[key] = body[key]
                    return 200, self._link_json(project, tag, link), {}
                if method == "DELETE":
                    self._require(principal, project, DEVELOPER, write=True)
                    rel["links"].remove(link)
                    return 200, self._link_json(project, tag, link), {}
        raise _not_found()

    # -------------------------------------------------------------- registry
    def _repo_json(self, repo: Repository, with_tags: bool, with_count: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": repo.id, "name": repo.name, "path": repo.path, "project_id": repo.project_id,
            "location": repo.location, "created_at": _iso(repo.created_at),
            "cleanup_policy_started_at": None, "status": None,
        }
        if with_tags:
            out["tags"] = [self._tag_json(repo, t) for t in sorted(repo.tags.values(), key=lambda t: t.name)]
        if with_count:
            out["tags_count"] = len(repo.tags)
        return out

    @staticmethod
    def _tag_json(repo: Repository, tag: Tag, detail: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": tag.name, "path": f"{repo.path}:{tag.name}", "location": f"{repo.location}:{tag.name}",
        }
        if detail:
            out.update({
                "revision": tag.digest.split(":", 1)[-1], "short_revision": tag.digest.split(":", 1)[-1][:9],
                "digest": tag.digest, "created_at": _iso(tag.created_at), "total_size": 1234,
            })
        return out

    def _registry(
        self, method: str, project: Project, principal: Principal, rest: list[str],
        query: dict[str, list[str]], body: Any,
    ) -> tuple[int, Any, dict[str, str]]:
        def flag(name: str) -> bool:
            return query.get(name, ["false"])[-1].lower() in ("true", "1")

        if not rest:
            if method != "GET":
                raise _not_found()
            self._require(principal, project, REPORTER, write=False)
            repos = sorted(project.repositories.values(), key=lambda r: r.id)
            status, page, headers = self._paginate(repos, query)
            return status, [self._repo_json(r, flag("tags"), flag("tags_count")) for r in page], headers
        if not rest[0].isdigit():
            raise _not_found()
        repo = project.repositories.get(int(rest[0]))
        if repo is None:
            raise _not_found()
        if len(rest) == 1 and method == "DELETE":
            self._require(principal, project, DEVELOPER, write=True)
            del project.repositories[repo.id]
            return 202, None, {}
        if len(rest) >= 2 and rest[1] == "tags":
            if len(rest) == 2:
                if method == "GET":
                    self._require(principal, project, REPORTER, write=False)
                    tags = sorted(repo.tags.values(), key=lambda t: t.name)
                    status, page, headers = self._paginate(tags, query)
                    return status, [self._tag_json(repo, t) for t in page], headers
                if method == "DELETE":
                    self._require(principal, project, DEVELOPER, write=True)
                    params = {k: v[-1] for k, v in query.items()}
                    if isinstance(body, dict):
                        params.update({k: str(v) for k, v in body.items()})
                    if not params.get("name_regex_delete") and not params.get("name_regex"):
                        raise HttpError(400, {"error": "name_regex, name_regex_delete are missing, at least one parameter must be provided"})
                    for key in ("name_regex_delete", "name_regex", "name_regex_keep"):
                        if params.get(key):
                            try:
                                re.compile(params[key])
                            except re.error:
                                raise HttpError(400, {"error": f"{key} is an invalid regexp"}) from None
                    if params.get("keep_n") is not None:
                        if not str(params["keep_n"]).isdigit():
                            raise HttpError(400, {"error": "keep_n is invalid"})
                        params["keep_n"] = int(params["keep_n"])
                    if params.get("older_than"):
                        _parse_older_than(params["older_than"])
                    if repo.lease_taken:
                        raise HttpError(400, {"message": BULK_LEASE_MESSAGE})
                    repo.lease_taken = True
                    repo.scheduled.append(params)
                    return 202, None, {}
                raise _not_found()
            if len(rest) == 3:
                tag = repo.tags.get(rest[2])
                if tag is None:
                    raise _not_found()
                if method == "GET":
                    self._require(principal, project, REPORTER, write=False)
                    return 200, self._tag_json(repo, tag, detail=True), {}
                if method == "DELETE":
                    self._require(principal, project, DEVELOPER, write=True)
                    if tag.protected:
                        raise HttpError(403, FORBIDDEN)
                    del repo.tags[tag.name]
                    return 200, None, {}
        raise _not_found()
