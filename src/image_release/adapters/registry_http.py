"""The transport under ``RegistryClient``: one registry host over ``requests``, with auth, retries and bounds.

- Plain HTTP to loopback registries and ``localhost`` (as Docker does), verified TLS to every other one.
- Auth: the ``WWW-Authenticate`` challenge decides. Bearer: a token from the challenge's realm for the scope of
  the operation (``pull`` for HEAD/GET, ``pull,push`` for PUT, ``delete`` for DELETE), basic credentials sent to
  the token endpoint when given, tokens cached per scope. Once the realm is known, a token for a new scope is
  fetched before the request (no 401 round trip), once even when several threads need it. Basic: the
  credentials on every request once asked.
- Every request goes through ``send_with_retry`` (the run's ``RetryPolicy``); ``stats`` counts each one sent.
- Every answer is read in full within bounds: a size (``ANSWER_LIMIT``, or the caller's, e.g. 4 MiB for a
  manifest) and a time (``read_seconds``, or the caller's deadline). Beyond them: a RegistryError, not a hang.
- Redirects are followed only on the registry's own host (and only when the method survives them); a redirect
  to another host is not followed: its answer carries ``foreign_redirect`` and ``call`` refuses it unless the
  caller handles it (the manifest PUT verifies on this registry instead). Credentials never leave the host.
- Thread-safe for concurrent calls: the token cache, the stats and the session's connection pool
  (``max_connections``) are shared safely; the session keeps no cookies (as Docker's client).
- Texts a registry sends back go into messages only scrubbed of the credentials, in any form it may echo
  them (``adapters.scrub``).
"""

from __future__ import annotations

import math
import re
import threading
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

from image_release.adapters.http_retry import RetryPolicy, describe_connection_error, send_with_retry
from image_release.adapters.registry_auth import Credentials
from image_release.adapters.registry_wire import (
    ANSWER_LIMIT,
    Answer,
    RequestStats,
    basic_header,
    error_detail,
    form_quote,
    parse_www_authenticate,
    read_bounded,
    same_origin,
    same_scope,
)
from image_release.adapters.scrub import scrub
from image_release.core.image_ref import is_plain_http, validate_registry_host
from image_release.errors import AuthError, ConfigError, RegistryError, RegistryUnreachable

_REDIRECTS = (301, 302, 303, 307, 308)
_MAX_HOPS = 5


_KIND_RE = re.compile(r"^/v2/.+/(manifests|blobs|tags)/(?:[^/]+|uploads/.*)$")


def _kind(url: str) -> str:
    """What a request is about, for ``RequestStats``: "ping", "manifests", "blobs", "tags" or "other"."""
    path = urlsplit(url).path
    if path.rstrip("/") == "/v2":
        return "ping"
    m = _KIND_RE.search(path)
    return m.group(1) if m else "other"


def _check_timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) \
            or timeout <= 0:
        raise ConfigError(f"registry timeout must be a finite number of seconds above 0, got {timeout!r}",
                          hint="set registry.timeout to e.g. 30")
    return float(timeout)


def _new_session(max_connections: int) -> Any:
    import http.cookiejar

    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    # A no-op session auth keeps requests from adding ~/.netrc credentials on its own.
    session.auth = lambda r: r
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))  # keep no cookies
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max_connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class RegistryHttp:
    """One registry host: requests with auth, retries, bounds and counts. See the module docstring."""

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
        max_connections: int = 16,
        on_secret: Callable[[str], None] | None = None,
    ):
        self.host = validate_registry_host(host)
        self.on_secret = on_secret  # told every token fetched, so the run never prints one
        api_host = "registry-1.docker.io" if self.host == "docker.io" else self.host
        self.scheme = "http" if is_plain_http(self.host) else "https"
        self.base = f"{self.scheme}://{api_host}"
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        self.timeout = _check_timeout(timeout)
        #: time allowed for reading one answer's body (``timeout`` bounds each socket read)
        self.read_seconds = max(60.0, 4 * self.timeout)
        self.log = log
        self._sleep = sleep
        self.session = session if session is not None else _new_session(max_connections)
        self.stats = RequestStats()
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._scope_locks: dict[str, threading.Lock] = {}
        self._realm: dict[str, str] | None = None  # the Bearer challenge, once the registry sent one
        self._basic = False  # the registry asked for Basic auth: send it on every request

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.host!r}, credentials={self.credentials!r})"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "RegistryHttp":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _scrub(self, text: str) -> str:
        """``text`` without the credentials or any bearer token this client holds, in any echoed form."""
        creds = self.credentials
        with self._lock:
            tokens = [token for token, _expiry in self._tokens.values()]
        return scrub(text, tokens + ([creds.password] if creds is not None else []))

    # -- one request -------------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, headers: dict | None = None, data: bytes | Path | None = None,
              params: Any = None, auth: Any = None, what: str, kind: str | None = None,
              limit: int = ANSWER_LIMIT, deadline: float | None = None) -> Answer:
        """One request with retries, then its same-host redirects. Connection failures after the last attempt
        -> RegistryUnreachable."""
        for _hop in range(_MAX_HOPS):
            answer = self._send_once(method, url, headers=headers, data=data, params=params, auth=auth,
                                     what=what, kind=kind, limit=limit, deadline=deadline)
            location = answer.headers.get("Location")
            if answer.status_code not in _REDIRECTS or not location:
                return answer
            target = urljoin(answer.url, location)
            if not same_origin(target, url):
                answer.foreign_redirect = urlsplit(target).netloc or "?"
                return answer
            if answer.status_code in (301, 302, 303) and method not in ("GET", "HEAD"):
                return answer  # the method would not survive it: the caller sees the redirect
            url, params = target, None
        raise RegistryError(f"registry {self.host} redirected {what} more than {_MAX_HOPS} times",
                            hint="check the registry's configuration and any proxy in between")

    def _send_once(self, method: str, url: str, *, headers: dict | None, data: bytes | Path | None, params: Any,
                   auth: Any, what: str, kind: str | None, limit: int, deadline: float | None) -> Answer:
        import requests

        kind = kind or _kind(url)
        size = data.stat().st_size if isinstance(data, Path) else len(data or b"")

        def attempt() -> Answer:
            body = data.open("rb") if isinstance(data, Path) else data
            try:
                resp = self.session.request(method, url, headers=headers, data=body, params=params, auth=auth,
                                            timeout=self.timeout, allow_redirects=False, stream=True)
                try:
                    until = time.monotonic() + self.read_seconds
                    until = until if deadline is None else min(until, deadline)
                    content = b"" if method == "HEAD" else read_bounded(resp, limit, until, what, self.host)
                except BaseException:
                    resp.close()  # drop the connection: its answer was not read to the end
                    raise
                getattr(resp.raw, "release_conn", resp.close)()  # read in full: the connection is reused
            except BaseException:
                self.stats.count(method, kind, size, 0)
                raise
            finally:
                if hasattr(body, "close"):
                    body.close()
            self.stats.count(method, kind, size, len(content))
            return Answer(resp.status_code, resp.headers, content, resp.url, resp.reason or "")

        try:
            return send_with_retry(attempt, self.retry, log=self.log, what=what, sleep=self._sleep)
        except (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError,
                requests.exceptions.ChunkedEncodingError) as exc:
            where = urlsplit(url).netloc
            raise RegistryUnreachable(
                f"cannot reach registry {where} ({self._scrub(describe_connection_error(exc))}) "
                f"after {self.retry.attempts} attempt(s): {what}",
                hint=f"is the registry running, and is the host {self.host!r} right? "
                f"Check with: curl {self.base}/v2/",
            ) from None

    # -- auth --------------------------------------------------------------------------------------------------

    @staticmethod
    def _scope(repo: str | None, actions: tuple[str, ...], also: tuple[str, ...] = ()) -> str | None:
        """The token scope(s) of a call, space-separated: ``repository:<repo>:<actions>`` and ``also``."""
        if not repo or not actions:
            return None
        return " ".join((f"repository:{repo}:{','.join(actions)}",) + also)

    def _cached(self, scope: str | None) -> str | None:
        if scope is None:
            return None
        with self._lock:
            cached = self._tokens.get(scope)
        return cached[0] if cached and cached[1] > time.monotonic() else None

    def _auth_header(self, scope: str | None) -> dict:
        if self._basic and self.credentials is not None:
            return {"Authorization": basic_header(self.credentials.username, self.credentials.password)}
        token = self._cached(scope)
        if token is None and scope is not None and self._realm is not None:
            token = self._token(self._realm, scope, f"scope {scope}", stale=None)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _token(self, challenge: dict[str, str], scope: str | None, what: str, stale: str | None) -> str:
        """A token for ``scope``: the cached one unless it is ``stale`` (the one the registry just refused),
        else fetched; one thread fetches while the others wait for its token."""
        if scope is None:
            return self._fetch_token(challenge, None, what)
        with self._lock:
            lock = self._scope_locks.setdefault(scope, threading.Lock())
        with lock:
            cached = self._cached(scope)
            if cached is not None and cached != stale:
                return cached
            return self._fetch_token(challenge, scope, what)

    def _call(self, method: str, path_or_url: str, *, repo: str | None = None, actions: tuple[str, ...] = (),
             also: tuple[str, ...] = (), headers: dict | None = None, data: bytes | Path | None = None,
             what: str, limit: int = ANSWER_LIMIT, deadline: float | None = None,
             foreign_redirect_ok: bool = False) -> Answer:
        """An authenticated call: answers a 401 challenge once (Bearer or Basic), maps 401/403 to AuthError and
        a redirect to another host to RegistryError (unless ``foreign_redirect_ok``)."""
        url = path_or_url if "://" in path_or_url else self.base + path_or_url
        scope = self._scope(repo, actions, also)
        base_headers = dict(headers or {})
        sent = self._auth_header(scope)
        kw = dict(data=data, what=what, limit=limit, deadline=deadline)
        resp = self._send(method, url, headers={**base_headers, **sent}, **kw)
        if resp.status_code == 401:
            auth = self._answer_challenge(resp, scope, what, sent)
            resp = self._send(method, url, headers={**base_headers, **auth}, **kw)
        if resp.status_code in (401, 403):
            status = resp.status_code
            _scheme, again = parse_www_authenticate(resp.headers.get("WWW-Authenticate"))
            if status == 401 and again.get("error") == "insufficient_scope" and self.credentials is not None:
                status = 403  # authenticated, but the token lacks the rights: a permission problem
            raise self._auth_error(what, status, resp)
        if resp.foreign_redirect and not foreign_redirect_ok:
            raise RegistryError(
                f"registry {self.host} redirected {what} to another host ({resp.foreign_redirect}); not followed",
                hint="only the registry written to is trusted: check the registry's configuration and any proxy",
                status=resp.status_code)
        return resp

    def _answer_challenge(self, resp: Answer, scope: str | None, what: str, sent: dict) -> dict:
        scheme, challenge = parse_www_authenticate(resp.headers.get("WWW-Authenticate"))
        if scheme == "basic":
            if self.credentials is None:
                raise self._auth_error(what, 401)
            self._basic = True
            return {"Authorization": basic_header(self.credentials.username, self.credentials.password)}
        if scheme == "bearer" and challenge.get("realm"):
            self._realm = {k: v for k, v in challenge.items() if k in ("realm", "service")}
            stale = (sent.get("Authorization") or "").removeprefix("Bearer ") or None
            return {"Authorization": f"Bearer {self._token(challenge, scope, what, stale)}"}
        raise self._auth_error(what, 401)

    def _auth_error(self, what: str, status: int, resp: Any = None) -> AuthError:
        detail = ""
        if resp is not None:
            code, text = error_detail(resp)
            if code:
                detail = f" ({self._scrub(text)})"
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
        realm = self._check_realm(challenge["realm"])
        scopes = scope.split(" ") if scope else []
        asked = challenge.get("scope")
        if asked and not any(same_scope(asked, s) for s in scopes):
            scopes.append(asked)
        resp = self._token_request(realm, challenge.get("service"), scopes, what)
        if resp.status_code in (401, 403):
            raise self._auth_error(f"a token ({', '.join(scopes) or 'no scope'})", 401, resp)
        if resp.status_code != 200:
            _code, text = error_detail(resp)
            raise RegistryError(f"token endpoint of {self.host} failed for {what}: {self._scrub(text)}",
                                hint="try again later; if it persists, check the registry's auth service",
                                status=resp.status_code)
        try:
            body = resp.json()
            token = body.get("token") or body.get("access_token")
            expires_in = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token, expires_in = None, 0
        if not token or not isinstance(token, str) or not math.isfinite(expires_in):
            raise RegistryError(f"token endpoint of {self.host} answered without a token for {what}",
                                hint="check the registry's auth service")
        if scope is not None:
            with self._lock:
                self._tokens[scope] = (token, time.monotonic() + max(0.0, min(expires_in, 86400.0) - 10))
        if self.on_secret is not None and token:
            self.on_secret(token)
        return token

    def _check_realm(self, realm: str) -> str:
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https"):
            raise RegistryError(f"registry {self.host} names an unusable token realm {self._scrub(realm)!r}",
                                hint="check the registry's auth.token.realm setting")
        if parts.scheme == "http" and self.credentials is not None and not is_plain_http(parts.netloc):
            raise AuthError(
                f"registry {self.host} asks for credentials over plain HTTP at {parts.netloc}; refused",
                hint="configure the registry's token realm with https://",
            )
        return realm

    def _token_request(self, realm: str, service: str | None, scopes: list[str], what: str) -> Answer:
        creds = self.credentials
        if creds is not None and creds.is_identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.password, "client_id": "image-release"}
            if service:
                form["service"] = service
            if scopes:
                form["scope"] = " ".join(scopes)
            body = "&".join(f"{k}={form_quote(v)}" for k, v in form.items()).encode()
            return self._send("POST", realm, headers={"Content-Type": "application/x-www-form-urlencoded"},
                              data=body, what=f"token for {what}", kind="token")
        params = [("service", service)] if service else []
        params.extend(("scope", s) for s in scopes)
        if creds is not None:
            params.append(("account", creds.username))
        auth = (creds.username, creds.password) if creds is not None else None
        return self._send("GET", realm, params=params, auth=auth, what=f"token for {what}", kind="token")

    def _fail(self, resp: Any, what: str, hint: str | None = None) -> RegistryError:
        _code, text = error_detail(resp)
        return RegistryError(f"registry {self.host} refused {what}: {self._scrub(text)}",
                             hint=hint or "check the repository and reference; re-run to retry",
                             status=resp.status_code)
