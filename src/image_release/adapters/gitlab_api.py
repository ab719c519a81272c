"""python-gitlab plumbing shared by the GitLab adapters (releases and container registry).

``GitLabApi`` holds what ``GitLabForge`` and ``GitLabRegistry`` both need: the server URL,
project and token (one of a private token or a CI job token), the timeout and retry policy, a
``__repr__`` that never shows a token, the lazily built client, the per-request retry
keyword and the translation of python-gitlab and network errors into typed errors. What the
two adapters say differently (the error classes and the hints) are class attributes each
adapter sets; a status only one of them knows is handled in its ``_status_error`` hook.

python-gitlab is imported lazily (inside functions) so that ``invoke --list`` stays fast.
Every client has a timeout, and retries with the run's ``RetryPolicy``
(``image_release.adapters.http_retry``): python-gitlab's own retry loop is switched off (its
waits ignore the policy and its ``Retry-After`` has no cap) and the policy runs as a urllib3
``Retry`` on the client's requests session instead: connection errors, timeouts, 408, 429 and
5xx, ``Retry-After`` honoured up to ``max_delay``, each retry logged on one line.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar, Iterator

from image_release.adapters.http_retry import RetryPolicy, urllib3_retry
from image_release.adapters.scrub import scrub
from image_release.errors import AuthError, ConfigError, ForgeError, ReleaseError

AUTH_HINT = (
    "in a GitLab CI job pass CI_JOB_TOKEN as the job token; elsewhere use a personal, project "
    "or group access token with the `api` scope (and at least the Developer role)"
)


def base_url(url: str) -> str:
    """GitLab's root URL: CI_SERVER_URL as is, or CI_API_V4_URL without its ``/api/v4``."""
    url = url.strip().rstrip("/")
    return url[: -len("/api/v4")] if url.endswith("/api/v4") else url


def connect(url: str, token: str | None, job_token: str | None, timeout: float,
            retry: RetryPolicy | None = None, log: Any = None) -> Any:
    """A python-gitlab client with ``retry`` (see the module docstring) and a timeout. Raises AuthError
    without a token."""
    if token and job_token:
        raise ConfigError(
            "Both a GitLab token and a job token were given",
            hint="give one: the job token (CI_JOB_TOKEN) in CI, or a personal/project access token",
        )
    if not token and not job_token:
        raise AuthError("No GitLab token is configured", hint=AUTH_HINT)
    import gitlab  # lazy: keep `invoke --list` fast
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(max_retries=urllib3_retry(retry or RetryPolicy(), log=log, describe=_describe))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return gitlab.Gitlab(
        url,
        private_token=token or None,
        job_token=job_token or None,
        timeout=timeout,
        retry_transient_errors=False,  # the session's Retry does it, with the policy
        session=session,
    )


def _describe(method: str, path: str, reason: str) -> str:
    """A retry's subject: ``after GitLab answered HTTP 502 to POST /api/v4/...``, or for a connection
    error ``GET /api/v4/...: ConnectionError: ...``."""
    if reason.startswith("HTTP"):
        return f"after GitLab answered {reason} to {method} {path}"
    return f"{method} {path}: {reason}"


def server_message(err: Any) -> str:
    """The message GitLab sent with an error, short and on one line (never a token)."""
    msg = getattr(err, "error_message", None) or str(err)
    text = str(msg).replace("\n", " ").strip()
    return text[:300] + ("..." if len(text) > 300 else "")


def is_insufficient_scope(err: Any) -> bool:
    body = getattr(err, "response_body", b"") or b""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return "insufficient_scope" in str(body) or "insufficient_scope" in server_message(err)


class GitLabApi:
    """One GitLab project reached through python-gitlab: the plumbing of a GitLab adapter.

    A subclass keeps its own constructor signature, calls ``GitLabApi.__init__`` and sets the
    wording below. Message and hint templates are ``str.format``-ed with ``action``,
    ``detail``, ``project``, ``url`` and ``attempts``.
    """

    #: the class of a refusal or failure reported by GitLab
    error_class: ClassVar[type[ReleaseError]] = ForgeError
    #: the class of "GitLab cannot be reached"
    unreachable_class: ClassVar[type[ReleaseError]] = ForgeError
    auth_hint: ClassVar[str] = AUTH_HINT
    scope_hint: ClassVar[str] = "create the token with the `api` scope"
    forbidden_hint: ClassVar[str] = "the token's user needs at least the Developer role on the project"
    not_found_message: ClassVar[str] = "GitLab answered 404 while {action} ({detail})"
    not_found_hint: ClassVar[str] = "check the project path or ID and the GitLab URL"
    rate_limited_message: ClassVar[str] = "GitLab kept rate-limiting the requests (429) while {action}"
    rate_limited_hint: ClassVar[str] = "wait for the rate limit to reset (see Retry-After) and run again"
    server_error_hint: ClassVar[str] = "GitLab is having trouble; run again later"
    refused_hint: ClassVar[str] = "see the GitLab message; the request was refused as sent"
    unreachable_hint: ClassVar[str] = "check the GitLab URL (CI_SERVER_URL in CI) and the network"

    def __init__(
        self,
        url: str,
        project: str | int,
        token: str | None = None,
        job_token: str | None = None,
        timeout: float = 30,
        retry: RetryPolicy | None = None,
        *,
        log: Any = None,
    ) -> None:
        self.url = base_url(url)
        self.project = project
        self._token = token
        self._job_token = job_token
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        #: a callable taking one line (the session's warning) or a Logger: each retry is logged
        self.log = log
        self._client: Any = None

    def __repr__(self) -> str:  # never show a token
        kind = "job token" if self._job_token else ("token" if self._token else "no token")
        return f"{type(self).__name__}(url={self.url!r}, project={self.project!r}, auth={kind})"

    def _gl(self) -> Any:
        if self._client is None:
            self._client = connect(self.url, self._token, self._job_token, self.timeout, self.retry, self.log)
        return self._client

    def _kw(self) -> dict[str, Any]:
        """Keywords for every python-gitlab call: no retries of its own (the session's Retry has them)."""
        return {"max_retries": 0, "obey_rate_limit": False}

    def _project(self) -> Any:
        # lazy: GET /projects/:id is forbidden to the job token, and not needed otherwise
        return self._gl().projects.get(self.project, lazy=True)

    def _status_error(self, status: int | None, action: str, detail: str) -> ReleaseError | None:
        """The error for a status only this adapter words its own way, or None for the shared one."""
        return None

    @contextlib.contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn python-gitlab and network errors into the project's typed errors naming ``action``."""
        import gitlab.exceptions as gexc
        import requests

        def text(template: str, detail: str = "") -> str:
            return template.format(
                action=action, detail=detail, project=self.project, url=self.url, attempts=self.retry.attempts
            )

        try:
            yield
        except ReleaseError:
            raise
        except gexc.GitlabAuthenticationError as err:
            raise AuthError(
                f"GitLab at {self.url} refused the token (401) while {action}", hint=text(self.auth_hint)
            ) from err
        except gexc.GitlabError as err:
            status = getattr(err, "response_code", None)
            # what GitLab (or a proxy) sent back may echo the token: raw, URL-encoded or base64
            detail = scrub(server_message(err), [self._token, self._job_token])
            if status == 403 and is_insufficient_scope(err):
                raise AuthError(
                    f"The GitLab token lacks the `api` scope (403 insufficient_scope) while {action}",
                    hint=text(self.scope_hint),
                ) from err
            if status == 403:
                raise self.error_class(
                    f"GitLab forbids {action} on project {self.project} (403: {detail})",
                    hint=text(self.forbidden_hint),
                    status=403,
                ) from err
            own = self._status_error(status, action, detail)
            if own is not None:
                raise own from err
            if status == 404:
                raise self.error_class(
                    text(self.not_found_message, detail), hint=text(self.not_found_hint), status=404
                ) from err
            if status == 429:
                raise self.error_class(
                    text(self.rate_limited_message), hint=text(self.rate_limited_hint), status=429
                ) from err
            if status is not None and status >= 500:
                raise self.error_class(
                    f"GitLab failed with {status} while {action}, also after {self.retry.attempts} attempts ({detail})",
                    hint=text(self.server_error_hint),
                    status=status,
                ) from err
            raise self.error_class(
                f"GitLab answered {status} while {action}: {detail}",
                hint=text(self.refused_hint),
                status=status,
            ) from err
        except (requests.ConnectionError, requests.Timeout) as err:
            raise self.unreachable_class(
                f"Cannot reach GitLab at {self.url} while {action} ({type(err).__name__})",
                hint=text(self.unreachable_hint),
            ) from err
