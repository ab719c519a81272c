"""PyGithub plumbing shared by the GitHub adapters (releases and ghcr.io packages).

``GitHubApi`` holds what ``GitHubForge`` and ``GhcrPackages`` both need: the token (in a
private attribute, never in reprs, messages or logs), the API root, the timeout, retry and
throttling knobs, the lazily built PyGithub client, and the translation of PyGithub and
transport failures into typed errors. What the two adapters say differently (the error
classes, the API's name, the hints) are class attributes each adapter sets; the statuses
each words its own way (403, 404, 405, 422, ...) go through its ``_status_error`` hook.

Retries: the run's ``RetryPolicy`` (``image_release.adapters.http_retry``) as PyGithub's ``GithubRetry``
(a urllib3 ``Retry``): connection errors, timeouts, 408, 429 and 5xx, and 403 rate-limit answers, with the
policy's attempts and backoff, ``Retry-After`` honoured up to ``max_delay``; a primary rate limit that resets
later than ``max_delay`` fails at once with the rate-limit hint instead of waiting. POST and PATCH are
retried too (a repeated create answers 422 ``already_exists``, which the release adapter handles, and every
update sends all fields). The last answer surfaces as a ``GithubException`` with its status; when urllib3
gives up first it is a ``requests`` ``RetryError``. Each retry is logged on one line through ``log``.

PyGithub is imported lazily (inside functions) so that ``invoke --list`` stays fast.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, ClassVar, Iterator

from image_release.adapters.http_retry import RetryPolicy, urllib3_retry
from image_release.adapters.scrub import scrub
from image_release.errors import AuthError, ForgeError, ReleaseError

def github_retry(policy: RetryPolicy, log: Any = None) -> Any:
    """PyGithub's ``GithubRetry`` driven by ``policy``; ``log`` gets one line per retry."""
    from github import GithubRetry

    return urllib3_retry(
        policy,
        log=log,
        base=GithubRetry,
        # GitHub's secondary rate limit asks for a minute; the policy caps every wait at max_delay
        secondary_rate_wait=policy.max_delay,
        max_rate_limit_wait=policy.max_delay,
    )


def server_message(exc: Any, codes: bool = True) -> str:
    """GitHub's ``message`` of an error answer, with its ``errors[].code (field)`` when ``codes``."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        message = str(data.get("message") or "").strip()
        found = [
            "{}{}".format(e.get("code", ""), f" ({e['field']})" if e.get("field") else "")
            for e in data.get("errors") or ()
            if isinstance(e, dict)
        ] if codes else []
        if found:
            message = f"{message}: {', '.join(found)}" if message else ", ".join(found)
        if message:
            return message
    return "no message"


class GitHubApi:
    """A GitHub REST API at ``api_url`` reached through PyGithub: the plumbing of a GitHub adapter.

    A subclass keeps its own constructor signature, calls ``GitHubApi.__init__``, sets the
    wording below and defines ``_no_token``. Errors read ``<what> (<status> <message>) while
    <action>[ on <where>]``.
    """

    #: the API's name in "... kept failing" and "... failed" messages
    api_name: ClassVar[str] = "GitHub API"
    #: the class of a refusal or failure reported by GitHub
    error_class: ClassVar[type[ReleaseError]] = ForgeError
    #: the class of "the API cannot be reached"
    unreachable_class: ClassVar[type[ReleaseError]] = ForgeError
    #: whether messages list GitHub's ``errors[].code`` after its ``message``
    message_codes: ClassVar[bool] = True
    token_hint: ClassVar[str] = "set GITHUB_TOKEN to a valid token"
    rate_limit_hint: ClassVar[str] = "wait for the limit to reset and re-run"
    failed_hint: ClassVar[str] = "GitHub may be degraded: re-run later"
    gave_up_hint: ClassVar[str] = "GitHub may be degraded or rate limiting: re-run later"
    unreachable_hint: ClassVar[str] = "check the network and the API URL (GITHUB_API_URL)"

    def __init__(
        self,
        token: str,
        api_url: str = "https://api.github.com",
        timeout: float = 30,
        retry: RetryPolicy | None = None,
        *,
        seconds_between_requests: float | None = 0.25,
        seconds_between_writes: float | None = 1.0,
        per_page: int = 100,
        log: Any = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.seconds_between_requests = seconds_between_requests
        self.seconds_between_writes = seconds_between_writes
        self.per_page = per_page
        self.log = log  # a callable taking one line (or a Logger): each retry is logged (no secrets in it)
        self.__token = token or ""
        self._gh: Any = None

    # -- hooks -------------------------------------------------------------------------------
    def _no_token(self) -> ReleaseError:
        """The error for a call without a token (raised before any request)."""
        raise NotImplementedError

    def _while(self, action: str) -> str:
        """Where a failure happened, as errors say it: ``while <action>``."""
        return f"while {action}"

    def _status_error(self, status: int | None, message: str, where: str) -> ReleaseError | None:
        """The error for a status this adapter words its own way, or None for the shared one."""
        return None

    # -- client ------------------------------------------------------------------------------
    def _github(self) -> Any:
        """The PyGithub client, built on first use (no request is made to build it)."""
        if not self.__token:
            raise self._no_token()
        if self._gh is None:
            from github import Auth, Github

            self._gh = Github(
                auth=Auth.Token(self.__token),
                base_url=self.api_url,
                timeout=self.timeout,  # type: ignore[arg-type]
                retry=github_retry(self.retry, self.log),
                per_page=self.per_page,
                seconds_between_requests=self.seconds_between_requests,
                seconds_between_writes=self.seconds_between_writes,
                lazy=True,
            )
        return self._gh

    # -- errors ------------------------------------------------------------------------------
    @contextmanager
    def _api(self, action: str) -> Iterator[None]:
        """Turn PyGithub and transport failures into typed errors naming ``action``."""
        import requests
        from github import GithubException

        try:
            yield
        except GithubException as exc:
            raise self._error(exc, action) from exc
        except requests.exceptions.RetryError as exc:
            raise self.error_class(
                f"{self.api_name} kept failing {self._while(action)} (gave up after {self.retry.attempts} attempts)",
                hint=self.gave_up_hint,
            ) from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise self.unreachable_class(
                f"cannot reach the GitHub API at {self.api_url} while {action}: {type(exc).__name__}",
                hint=self.unreachable_hint,
            ) from exc

    def _error(self, exc: Any, action: str) -> ReleaseError:
        status = getattr(exc, "status", None)
        # what GitHub (or a proxy) sent back may echo the token: raw, URL-encoded or base64
        message = scrub(server_message(exc, codes=self.message_codes), [self.__token])
        where = self._while(action)
        what = f"({status} {message}) {where}"
        if status == 401:
            return AuthError(f"GitHub rejected the token {what}", hint=self.token_hint)
        if status == 429 or (status == 403 and "rate limit" in message.lower()):
            return self.error_class(f"GitHub rate limit hit {what}", hint=self.rate_limit_hint, status=status)
        own = self._status_error(status, message, where)
        if own is not None:
            return own
        return self.error_class(f"{self.api_name} failed {what}", hint=self.failed_hint, status=status)
