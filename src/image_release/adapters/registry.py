"""A client for the OCI distribution API (``/v2/``) over ``requests``.

What it does and why (see the field notes, "OCI registry"):

- Plain HTTP to loopback registries and ``localhost`` (as Docker does), verified TLS to every other one.
- Auth: the ``WWW-Authenticate`` challenge decides. Bearer: a token from the challenge's realm for the scope of
  the operation (``pull`` for HEAD/GET, ``pull,push`` for PUT, ``delete`` for DELETE), basic credentials sent to
  the token endpoint when given, tokens cached per scope. Basic: the credentials on every request once asked.
- Manifests are read with the full Accept list (OCI index, OCI manifest, Docker manifest list, Docker v2), else
  distribution converts to schema1 and reports another digest; they are written back byte for byte with their
  own media type (never re-serialised), so adding a tag moves no blob.
- DELETE by digest removes every tag on that digest. ``delete_tag`` removes one tag alone: the OCI tag DELETE
  where the registry has it, else a unique throwaway manifest (same blobs, one extra annotation) is put on the
  tag and that digest deleted.
- Every HTTP call goes through ``send_with_retry``; ``stats`` counts requests and bytes for the benchmarks.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

from image_release.adapters.http_retry import RetryPolicy, send_with_retry
from image_release.adapters.registry_auth import Credentials
from image_release.core.image_ref import (
    is_digest,
    is_plain_http,
    validate_digest,
    validate_registry_host,
    validate_repository,
    validate_tag,
)
from image_release.errors import AuthError, DeleteRefused, RegistryError, RegistryUnreachable

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_MEDIA_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2)
MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)

THROWAWAY_ANNOTATION = "org.image-release.tag-delete"

# Tag delete results (what ``delete_tag`` did).
TAG_DELETED = "tag-delete"  # the registry deleted the tag itself (OCI tag DELETE)
TAG_THROWAWAY = "throwaway"  # a throwaway manifest was put on the tag and deleted
TAG_MANIFEST = "manifest"  # siblings_ok=True: the manifest was deleted by digest
TAG_ABSENT = "absent"  # the tag did not exist


@dataclass(frozen=True)
class ManifestInfo:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry holds it: ``raw`` bytes are what the digest is computed over."""

    raw: bytes = field(repr=False)
    media_type: str
    digest: str

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str) -> "Manifest":
        return cls(raw=raw, media_type=media_type, digest=sha256_digest(raw))

    @property
    def size(self) -> int:
        return len(self.raw)

    def json(self) -> dict:
        return json.loads(self.raw)

    @property
    def is_index(self) -> bool:
        return self.media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST)


@dataclass
class RequestStats:
    """Counts of what the client sent: every HTTP request (retries and token fetches included)."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    by_kind: Counter = field(default_factory=Counter)  # "HEAD manifests", "PUT manifests", "GET token", ...

    def count(self, method: str, kind: str, sent: int, received: int) -> None:
        self.requests += 1
        self.bytes_sent += sent
        self.bytes_received += received
        self.by_kind[f"{method} {kind}"] += 1

    def of(self, kind: str) -> int:
        """Requests whose path kind is ``kind`` ("manifests", "blobs", "tags", "token", "ping"), any method."""
        return sum(n for key, n in self.by_kind.items() if key.split(" ", 1)[1] == kind)

    def snapshot(self) -> dict:
        return {
            "requests": self.requests,
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "by_kind": dict(self.by_kind),
        }

    def reset(self) -> None:
        self.requests = self.bytes_sent = self.bytes_received = 0
        self.by_kind.clear()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


_KIND_RE = re.compile(r"^/v2/.+/(manifests|blobs|tags)/(?:[^/]+|uploads/.*)$")
_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def parse_www_authenticate(header: str | None) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="...",scope="..."`` -> ("bearer", {realm, service, scope}).

    Returns ("", {}) for an empty header. Only the first challenge is read (registries send one).
    """
    if not header:
        return "", {}
    header = header.strip()
    scheme, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _CHALLENGE_PARAM.match(rest, pos)
        if not m or m.end() == pos:
            break
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        pos = m.end()
    return scheme.lower(), params


def _error_detail(resp: Any) -> tuple[str, str]:
    """(first error code, readable text) from a registry error body ``{"errors": [{"code", "message"}]}``."""
    try:
        body = resp.json()
        errors = body.get("errors") or []
        if errors:
            first = errors[0]
            code = str(first.get("code") or "")
            text = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)
            return code, text
    except Exception:  # noqa: BLE001 - not JSON: fall back to the status line
        pass
    return "", f"HTTP {resp.status_code} {getattr(resp, 'reason', '') or ''}".strip()


def _classify_connection_error(exc: BaseException) -> str:
    text = str(exc)
    low = text.lower()
    if "refused" in low:
        return "connection refused"
    if "name or service not known" in low or "nodename nor servname" in low or "failed to resolve" in low or (
        "temporary failure in name resolution" in low
    ):
        return "host name not found"
    if "timed out" in low or "timeout" in type(exc).__name__.lower():
        return "timed out"
    if "certificate" in low or "ssl" in low:
        return "TLS error: " + (text[:200])
    if "reset" in low:
        return "connection reset"
    return text[:200] or type(exc).__name__


class RegistryClient:
    """One registry host. Thread-safe enough for concurrent reads (token cache and stats are locked)."""

    def __init__(
        self,
        host: str,
        credentials: Credentials | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30,
        session: Any = None,
        log: Any = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.host = validate_registry_host(host)
        api_host = "registry-1.docker.io" if self.host == "docker.io" else self.host
        self.scheme = "http" if is_plain_http(self.host) else "https"
        self.base = f"{self.scheme}://{api_host}"
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.log = log
        self._sleep = sleep
        if session is None:
            import requests

            session = requests.Session()
            # A no-op session auth keeps requests from adding ~/.netrc credentials on its own.
            session.auth = lambda r: r
        self.session = session
        self.stats = RequestStats()
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._basic = False  # the registry asked for Basic auth: send it on every request

    def __repr__(self) -> str:
        return f"RegistryClient({self.host!r}, credentials={self.credentials!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "RegistryClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low level -----------------------------------------------------------------------------------------

    @staticmethod
    def _kind(url: str) -> str:
        path = urlsplit(url).path
        if path.rstrip("/") == "/v2":
            return "ping"
        m = _KIND_RE.search(path)
        return m.group(1) if m else "other"

    def _send(self, method: str, url: str, *, headers: dict | None = None, data: bytes | None = None,
              params: Any = None, auth: Any = None, what: str, kind: str | None = None) -> Any:
        """One HTTP call with retries. Connection failures after the last attempt -> RegistryUnreachable."""
        import requests

        kind = kind or self._kind(url)

        def attempt():
            try:
                resp = self.session.request(
                    method, url, headers=headers, data=data, params=params, auth=auth,
                    timeout=self.timeout, allow_redirects=True,
                )
            except Exception:
                with self._lock:
                    self.stats.count(method, kind, len(data or b""), 0)
                raise
            with self._lock:
                self.stats.count(method, kind, len(data or b""), len(resp.content or b""))
            return resp

        try:
            return send_with_retry(attempt, self.retry, log=self.log, what=what, sleep=self._sleep)
        except (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError,
                requests.exceptions.ChunkedEncodingError) as exc:
            where = urlsplit(url).netloc
            raise RegistryUnreachable(
                f"cannot reach registry {where} ({_classify_connection_error(exc)}) "
                f"after {self.retry.attempts} attempt(s): {what}",
                hint=f"is the registry running, and is the host {self.host!r} right? "
                f"Check with: curl {self.base}/v2/",
            ) from None

    def _scope(self, repo: str | None, actions: tuple[str, ...]) -> str | None:
        if not repo or not actions:
            return None
        return f"repository:{repo}:{','.join(actions)}"

    def _auth_header(self, scope: str | None) -> dict:
        if self._basic and self.credentials is not None:
            return {"Authorization": _basic_header(self.credentials)}
        if scope is not None:
            with self._lock:
                cached = self._tokens.get(scope)
            if cached and cached[1] > time.monotonic():
                return {"Authorization": f"Bearer {cached[0]}"}
        return {}

    def _call(self, method: str, path_or_url: str, *, repo: str | None = None, actions: tuple[str, ...] = (),
              headers: dict | None = None, data: bytes | None = None, what: str) -> Any:
        """An authenticated call: answers a 401 challenge once (Bearer or Basic), maps 401/403 to AuthError."""
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        scope = self._scope(repo, actions)
        base_headers = dict(headers or {})
        resp = self._send(method, url, headers={**base_headers, **self._auth_header(scope)}, data=data, what=what)
        if resp.status_code == 401:
            scheme, challenge = parse_www_authenticate(resp.headers.get("WWW-Authenticate"))
            if scheme == "basic":
                if self.credentials is None:
                    raise self._auth_error(what, 401)
                self._basic = True
                auth = {"Authorization": _basic_header(self.credentials)}
            elif scheme == "bearer" and challenge.get("realm"):
                token = self._fetch_token(challenge, scope, what)
                auth = {"Authorization": f"Bearer {token}"}
            else:
                raise self._auth_error(what, 401)
            resp = self._send(method, url, headers={**base_headers, **auth}, data=data, what=what)
        if resp.status_code in (401, 403):
            status = resp.status_code
            _scheme, again = parse_www_authenticate(resp.headers.get("WWW-Authenticate"))
            if status == 401 and again.get("error") == "insufficient_scope" and self.credentials is not None:
                status = 403  # authenticated, but the token lacks the rights: a permission problem
            raise self._auth_error(what, status, resp)
        return resp

    def _auth_error(self, what: str, status: int, resp: Any = None) -> AuthError:
        detail = ""
        if resp is not None:
            code, text = _error_detail(resp)
            if code:
                detail = f" ({text})"
        if self.credentials is None:
            who = "anonymous access"
            hint = (f"log in to {self.host}: `docker login {self.host}` (use --password-stdin), or set the "
                    "registry credential variables named in the settings")
        else:
            source = f" from {self.credentials.source}" if self.credentials.source else ""
            who = f"the credentials of user {self.credentials.username!r}{source}"
            if status == 403:
                hint = (f"the account may lack permission for this repository on {self.host} (push/delete rights, "
                        "or a token scope such as write:packages / write_registry)")
            else:
                hint = f"check the user and password or token, then `docker login {self.host}` again"
        verb = "refused" if status == 401 else "denied"
        return AuthError(f"registry {self.host} {verb} {who} for {what}{detail}", hint=hint)

    def _fetch_token(self, challenge: dict[str, str], scope: str | None, what: str) -> str:
        realm = challenge["realm"]
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https"):
            raise RegistryError(f"registry {self.host} names an unusable token realm {realm!r}",
                                hint="check the registry's auth.token.realm setting")
        if parts.scheme == "http" and self.credentials is not None and not is_plain_http(parts.netloc):
            raise AuthError(
                f"registry {self.host} asks for credentials over plain HTTP at {parts.netloc}; refused",
                hint="configure the registry's token realm with https://",
            )
        scopes = [scope] if scope else []
        asked = challenge.get("scope")
        if asked and not any(_same_scope(asked, s) for s in scopes):
            scopes.append(asked)
        creds = self.credentials
        if creds is not None and creds.is_identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.password, "client_id": "image-release"}
            if challenge.get("service"):
                form["service"] = challenge["service"]
            if scopes:
                form["scope"] = " ".join(scopes)
            body = "&".join(f"{k}={_quote(v)}" for k, v in form.items()).encode()
            resp = self._send("POST", realm, headers={"Content-Type": "application/x-www-form-urlencoded"},
                              data=body, what=f"token for {what}", kind="token")
        else:
            params = []
            if challenge.get("service"):
                params.append(("service", challenge["service"]))
            params.extend(("scope", s) for s in scopes)
            if creds is not None:
                params.append(("account", creds.username))
            auth = (creds.username, creds.password) if creds is not None else None
            resp = self._send("GET", realm, params=params, auth=auth, what=f"token for {what}", kind="token")
        if resp.status_code in (401, 403):
            raise self._auth_error(f"a token ({', '.join(scopes) or 'no scope'})", 401, resp)
        if resp.status_code != 200:
            _code, text = _error_detail(resp)
            raise RegistryError(f"token endpoint of {self.host} failed for {what}: {text}",
                                hint="try again later; if it persists, check the registry's auth service",
                                status=resp.status_code)
        try:
            body = resp.json()
            token = body.get("token") or body.get("access_token")
            expires_in = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token, expires_in = None, 0
        if not token:
            raise RegistryError(f"token endpoint of {self.host} answered without a token for {what}",
                                hint="check the registry's auth service")
        if scope is not None:
            with self._lock:
                self._tokens[scope] = (token, time.monotonic() + max(0.0, expires_in - 10))
        return token

    def _fail(self, resp: Any, what: str, hint: str | None = None) -> RegistryError:
        code, text = _error_detail(resp)
        return RegistryError(f"registry {self.host} refused {what}: {text}",
                             hint=hint or "check the repository and reference; re-run to retry",
                             status=resp.status_code)

    # -- API -----------------------------------------------------------------------------------------------

    def ping(self) -> str:
        """Check the registry answers the v2 API. Returns the auth scheme it asks for ("none", "basic",
        "bearer"). With credentials they are checked (Basic: on /v2/; Bearer: a token without scope)."""
        url = self.base + "/v2/"
        resp = self._send("GET", url, headers=self._auth_header(None), what=f"ping {self.host}")
        if resp.status_code == 200:
            return "basic" if self._basic else "none"
        if resp.status_code == 401:
            scheme, challenge = parse_www_authenticate(resp.headers.get("WWW-Authenticate"))
            if self.credentials is None:
                return scheme or "unknown"
            if scheme == "basic":
                self._basic = True
                resp = self._send("GET", url, headers=self._auth_header(None), what=f"ping {self.host}")
                if resp.status_code != 200:
                    raise self._auth_error(f"ping {self.host}", resp.status_code, resp)
                return "basic"
            if scheme == "bearer" and challenge.get("realm"):
                self._fetch_token(challenge, None, f"ping {self.host}")
                return "bearer"
            raise self._auth_error(f"ping {self.host}", 401, resp)
        raise RegistryError(
            f"{self.base}/v2/ answered HTTP {resp.status_code}: not an OCI distribution registry",
            hint=f"check the registry host {self.host!r}",
            status=resp.status_code,
        )

    def list_tags(self, repo: str) -> list[str]:
        """All tags of ``repo``, following ``Link`` pagination. An unknown or emptied repository gives []."""
        validate_repository(repo)
        url: str | None = f"{self.base}/v2/{repo}/tags/list"
        tags: list[str] = []
        seen: set[str] = set()
        while url:
            if url in seen:
                break
            seen.add(url)
            resp = self._call("GET", url, repo=repo, actions=("pull",), what=f"list tags of {self.host}/{repo}")
            if resp.status_code == 404:
                code, _ = _error_detail(resp)
                if code in ("NAME_UNKNOWN", ""):
                    return []
                raise self._fail(resp, f"list tags of {repo}")
            if resp.status_code != 200:
                raise self._fail(resp, f"list tags of {repo}")
            try:
                tags.extend(resp.json().get("tags") or [])  # distribution: {"tags": null} once emptied
            except (ValueError, AttributeError) as exc:
                raise RegistryError(f"registry {self.host} sent an unreadable tag list for {repo}: {exc}",
                                    status=resp.status_code) from None
            next_url = (getattr(resp, "links", None) or {}).get("next", {}).get("url")
            if next_url:
                next_url = urljoin(url, next_url)
                if urlsplit(next_url).netloc != urlsplit(self.base).netloc:
                    raise RegistryError(
                        f"registry {self.host} paginates its tag list to another host ({urlsplit(next_url).netloc})",
                        hint="refusing to follow it; check the registry's configuration",
                    )
            url = next_url
        return list(dict.fromkeys(tags))

    def _read_manifest(self, method: str, repo: str, ref: str):
        """HEAD or GET ``repo:ref`` with the full manifest Accept list: (response, what it was)."""
        validate_repository(repo)
        self._check_ref(ref)
        what = f"{method} {self.host}/{repo}{_sep(ref)}{ref}"
        resp = self._call(method, f"/v2/{repo}/manifests/{ref}", repo=repo, actions=("pull",),
                          headers={"Accept": MANIFEST_ACCEPT}, what=what)
        return resp, what

    def head_manifest(self, repo: str, ref: str) -> ManifestInfo | None:
        """Digest, media type and size of ``repo:ref`` (tag or digest), or None when it does not exist."""
        resp, what = self._read_manifest("HEAD", repo, ref)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._fail(resp, what)
        digest = resp.headers.get("Docker-Content-Digest")
        media_type = _media_type(resp.headers.get("Content-Type"))
        if not digest or media_type not in MANIFEST_MEDIA_TYPES:
            m = self.get_manifest(repo, ref)
            return ManifestInfo(m.digest, m.media_type, m.size)
        size = int(resp.headers.get("Content-Length") or 0)
        return ManifestInfo(digest, media_type, size)

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """The manifest of ``repo:ref`` byte for byte. Raises RegistryError (status 404) when absent."""
        resp, what = self._read_manifest("GET", repo, ref)
        if resp.status_code == 404:
            raise RegistryError(f"manifest {self.host}/{repo}{_sep(ref)}{ref} not found",
                                hint="check the repository and tag (list them with `invoke clean --dry-run`)",
                                status=404)
        if resp.status_code != 200:
            raise self._fail(resp, what)
        raw = resp.content
        media_type = _media_type(resp.headers.get("Content-Type"))
        if media_type not in MANIFEST_MEDIA_TYPES:
            try:
                media_type = json.loads(raw).get("mediaType") or media_type
            except (ValueError, AttributeError):
                pass
        digest = sha256_digest(raw)
        header = resp.headers.get("Docker-Content-Digest")
        expected = ref if is_digest(ref) else header
        if expected and expected.startswith("sha256:") and expected != digest:
            raise RegistryError(
                f"manifest {self.host}/{repo}{_sep(ref)}{ref} does not match its digest "
                f"(got {digest}, expected {expected})",
                hint="the registry or a proxy altered the manifest; retry, and check any proxy in between",
            )
        return Manifest(raw=raw, media_type=media_type, digest=digest)

    def put_manifest(self, repo: str, tag: str, manifest: Manifest) -> str:
        """Put ``manifest`` (its exact bytes and media type) under ``repo:tag``. Returns the digest."""
        validate_repository(repo)
        self._check_ref(tag)
        what = f"PUT {self.host}/{repo}{_sep(tag)}{tag}"
        resp = self._call("PUT", f"/v2/{repo}/manifests/{tag}", repo=repo, actions=("pull", "push"),
                          headers={"Content-Type": manifest.media_type}, data=manifest.raw, what=what)
        if resp.status_code not in (200, 201, 202):
            code, _ = _error_detail(resp)
            hint = None
            if code in ("MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN", "MANIFEST_UNKNOWN"):
                hint = f"the image's layers must already be in {repo}: push the image there first"
            raise self._fail(resp, what, hint)
        digest = resp.headers.get("Docker-Content-Digest") or manifest.digest
        if digest != manifest.digest:
            raise RegistryError(
                f"registry {self.host} stored {repo}:{tag} as {digest}, not as the manifest's digest {manifest.digest}",
                hint="the registry rewrote the manifest; check its media type support",
            )
        return digest

    def delete_manifest(self, repo: str, digest: str) -> bool:
        """Delete a manifest by digest; every tag on it goes too. False when it was already gone.

        Raises DeleteRefused where the registry does not delete (405 / UNSUPPORTED)."""
        validate_repository(repo)
        validate_digest(digest)
        what = f"DELETE {self.host}/{repo}@{digest}"
        resp = self._call("DELETE", f"/v2/{repo}/manifests/{digest}", repo=repo, actions=("delete",), what=what)
        if resp.status_code in (200, 202, 204):
            return True
        code, text = _error_detail(resp)
        if resp.status_code == 405 or code == "UNSUPPORTED":
            raise self._refused(f"manifest {repo}@{digest}", text, resp.status_code)
        if resp.status_code == 404:
            return False
        raise self._fail(resp, what)

    def _refused(self, subject: str, text: str, status: int) -> DeleteRefused:
        return DeleteRefused(
            f"registry {self.host} refuses to delete {subject}: {text}",
            hint="enable deletion on the registry (distribution: storage.delete.enabled: true); "
            "ghcr.io deletes through the GitHub Packages API and GitLab through its registry API; "
            "Docker Hub only in its web UI",
            status=status,
        )

    def delete_tag(self, repo: str, tag: str, *, siblings_ok: bool = False) -> str:
        """Remove the one tag ``repo:tag``; other tags on the same digest stay.

        Tries the OCI tag DELETE; where it is refused (400/405, as on distribution 2.8) a unique throwaway
        manifest (same blobs, one extra annotation) is put on the tag and its digest deleted. If the registry
        refuses that delete too, the original manifest is put back on the tag and DeleteRefused raised.

        ``siblings_ok=True``: the caller accepts that other tags on the same digest go as well; the manifest is
        deleted by digest straight away (one request fewer, and the manifest itself is gone).

        Returns what was done: "tag-delete", "throwaway", "manifest" or "absent".
        """
        validate_repository(repo)
        validate_tag(tag)
        info = self.head_manifest(repo, tag)
        if info is None:
            return TAG_ABSENT
        if siblings_ok:
            self.delete_manifest(repo, info.digest)
            return TAG_MANIFEST
        what = f"DELETE {self.host}/{repo}:{tag}"
        resp = self._call("DELETE", f"/v2/{repo}/manifests/{tag}", repo=repo, actions=("delete",), what=what)
        if resp.status_code in (200, 202, 204):
            return TAG_DELETED
        if resp.status_code == 404 and self.head_manifest(repo, tag) is None:
            return TAG_ABSENT
        if resp.status_code not in (400, 404, 405):
            code, _ = _error_detail(resp)
            if code != "UNSUPPORTED":
                raise self._fail(resp, what)
        original = self.get_manifest(repo, tag)
        throwaway = make_throwaway(original)
        self.put_manifest(repo, tag, throwaway)
        try:
            self.delete_manifest(repo, throwaway.digest)
        except DeleteRefused as exc:
            self.put_manifest(repo, tag, original)  # put the tag back where it was
            detail = exc.message.split(": ", 1)[-1]
            refused = self._refused(f"tag {repo}:{tag} (the tag is left as it was)", detail, exc.status or 405)
            raise refused from None
        return TAG_THROWAWAY

    def tags_by_digest(self, repo: str) -> dict[str, list[str]]:
        """Every tag of ``repo`` grouped by the manifest digest it points at (tags sorted)."""
        result: dict[str, list[str]] = {}
        for tag in self.list_tags(repo):
            info = self.head_manifest(repo, tag)
            if info is None:  # deleted meanwhile
                continue
            result.setdefault(info.digest, []).append(tag)
        return {digest: sorted(tags) for digest, tags in result.items()}

    def _check_ref(self, ref: str) -> None:
        if isinstance(ref, str) and "@" not in ref and ":" in ref:
            validate_digest(ref)
        else:
            validate_tag(ref)


def make_throwaway(manifest: Manifest) -> Manifest:
    """A unique manifest with the same blobs as ``manifest`` (one extra annotation), same media type."""
    doc = manifest.json()
    annotations = dict(doc.get("annotations") or {})
    annotations[THROWAWAY_ANNOTATION] = uuid.uuid4().hex
    doc["annotations"] = annotations
    raw = json.dumps(doc, indent=3, sort_keys=False).encode()
    return Manifest.from_bytes(raw, manifest.media_type)


def _same_scope(a: str, b: str) -> bool:
    """``repository:x:push,pull`` and ``repository:x:pull,push`` are the same scope (registries vary the order)."""
    ta, _, aa = a.rpartition(":")
    tb, _, ab = b.rpartition(":")
    return ta == tb and set(aa.split(",")) == set(ab.split(","))


def _sep(ref: str) -> str:
    return "@" if is_digest(ref) else ":"


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip()


def _basic_header(creds: Credentials) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")
