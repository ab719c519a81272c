"""One retry policy for every call that talks to a registry or a forge.

``RetryPolicy`` says how often and how long: ``attempts`` is the total number of tries, the first one
included (1 = no retries; ``release.retry.attempts`` means exactly this everywhere), with exponential
backoff (``base_delay * 2^(n-1)``, capped at ``max_delay``, jitter between half of that and all of it).
A ``Retry-After`` answer is honoured, capped at ``max_delay`` too. Each retry is logged on one line,
``retry <what>: <why>; attempt <n>/<attempts> in <seconds>s``, through the log the caller gives.

Retried: connection errors (refused, reset, DNS), timeouts, 5xx, 408 and 429. Never retried: any other
4xx (a wrong token or a missing tag does not get better by asking again).

Three ways to apply the same policy, one per kind of caller:

- ``send_with_retry(fn, policy, ...)``: ``fn`` sends one HTTP request and returns a response-like object
  (``status_code``, ``headers``) or raises. Used by ``RegistryClient``, which counts every request it sends.
  After the last attempt a retryable status is returned (the caller maps it to a typed error) and a
  retryable exception is re-raised.
- ``call_with_retry(fn, policy, transient=...)``: any call whose failures are exceptions, retried while
  ``transient(exc)`` says so (``transient_release_error`` by default).
- ``urllib3_retry(policy, ...)``: the same policy as a ``urllib3`` ``Retry`` for the HTTP libraries that
  take one (PyGithub's requester, python-gitlab's requests session).

The first two run on tenacity (its loop, stop and hooks; the wait is this policy's), imported lazily.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

from image_release.errors import ConfigError

R = TypeVar("R")

RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))
#: every method: a repeated POST/PATCH is handled by the callers (a create answers "already exists",
#: every update sends all fields)
RETRY_METHODS = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PUT", "TRACE", "POST", "PATCH"})

_logger = logging.getLogger("image_release.retry")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry. ``attempts`` counts the first try (1 = no retries)."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or isinstance(self.attempts, bool) or self.attempts < 1:
            raise ConfigError(
                f"retry attempts must be a whole number of at least 1, got {self.attempts!r}",
                hint="set retry.attempts to e.g. 5 (1 means no retries)",
            )
        for name in ("base_delay", "max_delay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ConfigError(
                    f"retry {name} must be a number of seconds >= 0, got {value!r}",
                    hint=f"set retry.{name} to e.g. {getattr(RetryPolicy, name)}",
                )

    @classmethod
    def from_settings(cls, settings: Any) -> "RetryPolicy":
        """The policy of a parsed ``Settings`` (``release.retry``: attempts, base_delay, max_delay)."""
        return cls(attempts=settings.retry_attempts, base_delay=settings.retry_base_delay,
                   max_delay=settings.retry_max_delay)

    def backoff(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Delay before retry ``retry_number`` (1-based): base * 2^(n-1), capped at max_delay; with jitter a
        uniformly random value between half of that and all of it."""
        delay = min(self.max_delay, self.base_delay * (2 ** (retry_number - 1)))
        if self.jitter:
            delay = delay * (0.5 + 0.5 * rand())
        return delay

    def wait(self, retry_number: int, retry_after: float | None = None,
             rand: Callable[[], float] = random.random) -> float:
        """The wait before retry ``retry_number``: the server's ``Retry-After`` if it sent one (capped at
        max_delay), else the backoff."""
        if retry_after is not None:
            return min(self.max_delay, retry_after)
        return self.backoff(retry_number, rand)


NO_RETRY = RetryPolicy(attempts=1, base_delay=0.0, jitter=False)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def default_retryable_exceptions() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "try again": connection problems and timeouts (requests' and the stdlib's)."""
    import requests

    return (
        requests.ConnectionError,  # refused, reset, DNS; includes ConnectTimeout
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,  # connection dropped mid-body
        ConnectionError,
        TimeoutError,
    )


def transient_release_error(exc: BaseException) -> bool:
    """A typed error worth another try: the registry unreachable, or it answered 5xx, 408 or 429."""
    from image_release.errors import RegistryError, RegistryUnreachable

    return isinstance(exc, RegistryUnreachable) or (
        isinstance(exc, RegistryError) and getattr(exc, "status", None) in RETRY_STATUSES)


def emit(log: Any, line: str) -> None:
    """Write one line to ``log``: a callable taking one line, a ``logging.Logger``, or None (the
    ``image_release.retry`` logger)."""
    if log is None:
        _logger.warning(line)
    elif hasattr(log, "warning"):
        log.warning(line)
    else:
        log(line)


def retry_line(subject: str, next_attempt: int, policy: RetryPolicy, wait: float) -> str:
    """The one line every retry is logged as: ``retry <subject>; attempt <n>/<attempts> in <s>s``, the subject
    being ``<what>: <why>`` (``"PUT 127.0.0.1:5000/app:1: HTTP 503"``)."""
    return f"retry {subject}; attempt {next_attempt}/{policy.attempts} in {wait:.2f}s"


def _describe_exception(exc: BaseException) -> str:
    from image_release.errors import ReleaseError

    if isinstance(exc, ReleaseError):  # a typed error's message says it all
        return exc.message
    return f"{type(exc).__name__}: {describe_connection_error(exc)}"


def describe_connection_error(exc: BaseException) -> str:
    """What went wrong with a connection, in a few whole words (requests' messages nest urllib3's)."""
    text = str(exc)
    low = text.lower()
    if "refused" in low:
        return "connection refused"
    if any(s in low for s in ("name or service not known", "nodename nor servname", "failed to resolve",
                              "temporary failure in name resolution")):
        return "host name not found"
    if "timed out" in low or "timeout" in type(exc).__name__.lower():
        return "timed out"
    if "certificate" in low or "ssl" in low:
        return "TLS error: " + shorten(text, 200)
    if "reset" in low:
        return "connection reset"
    return shorten(text, 200) or type(exc).__name__


def shorten(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut after a whole word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + " …"


def _run(fn: Callable[[], R], policy: RetryPolicy, *, should_retry: Callable[[Any], bool],
         wait_of: Callable[[Any, int], float], reason_of: Callable[[Any], str], log: Any, what: str,
         sleep: Callable[[float], None], before_retry: Callable[[Any], None] | None = None) -> R:
    """The loop both helpers share, on tenacity: ``should_retry``, ``wait_of`` and ``reason_of`` get the
    attempt's outcome (a ``concurrent.futures.Future``-like with ``failed``, ``exception()``, ``result()``)."""
    import tenacity

    def before_sleep(state: Any) -> None:
        wait = state.upcoming_sleep
        emit(log, retry_line(f"{what}: {reason_of(state.outcome)}", state.attempt_number + 1, policy, wait))
        if before_retry is not None:
            before_retry(state.outcome)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=lambda state: wait_of(state.outcome, state.attempt_number),
        retry=lambda state: should_retry(state.outcome),
        before_sleep=before_sleep,
        sleep=sleep,
        # out of attempts: the last answer is returned, the last exception re-raised
        retry_error_callback=lambda state: state.outcome.result(),
    )
    return retrying(fn)


def call_with_retry(
    fn: Callable[[], R],
    policy: RetryPolicy | None = None,
    *,
    transient: Callable[[BaseException], bool] = transient_release_error,
    log: Any = None,
    what: str = "call",
    give_up: Callable[[BaseException, int], BaseException] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> R:
    """Call ``fn`` until it returns, raises an exception ``transient`` rejects, or ``policy.attempts`` are
    used up; the last exception is re-raised.

    ``give_up(exc, attempts_made)``, when given, turns the exception that ends the calls into the one raised
    (e.g. a ``PublishError`` saying "after 3 attempts"), chained to the original; returning ``exc`` itself
    re-raises it unchanged.
    ``log`` and ``what`` as for ``send_with_retry``; ``sleep`` and ``rand`` are injectable so tests do not wait.
    """
    policy = policy or RetryPolicy()
    made = 0

    def counted() -> R:
        nonlocal made
        made += 1
        return fn()

    try:
        return _run(
            counted, policy,
            should_retry=lambda outcome: outcome.failed and transient(outcome.exception()),
            wait_of=lambda outcome, n: policy.backoff(n, rand),
            reason_of=lambda outcome: _describe_exception(outcome.exception()),
            log=log, what=what, sleep=sleep,
        )
    except Exception as exc:
        replacement = exc if give_up is None else give_up(exc, made)
        if replacement is exc:
            raise
        raise replacement from exc


def send_with_retry(
    fn: Callable[[], R],
    policy: RetryPolicy | None = None,
    *,
    log: Any = None,
    what: str = "request",
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
    retryable: tuple[type[BaseException], ...] | None = None,
    retry_statuses: frozenset[int] = RETRY_STATUSES,
) -> R:
    """Call ``fn`` (one HTTP request) until it gives a non-retryable answer or ``policy.attempts`` are used up.

    ``log``: a callable taking one line, or a ``logging.Logger``; default: the ``image_release.retry`` logger.
    ``what`` names the call in the log line (e.g. ``"HEAD 127.0.0.1:5000/app:1.2.3"``); never put secrets in it.
    ``sleep`` and ``rand`` are injectable so tests do not wait. A retried answer is closed before the retry.
    """
    policy = policy or RetryPolicy()
    retryable = default_retryable_exceptions() if retryable is None else retryable

    def should_retry(outcome: Any) -> bool:
        if outcome.failed:
            return isinstance(outcome.exception(), retryable)
        return getattr(outcome.result(), "status_code", None) in retry_statuses

    def wait_of(outcome: Any, n: int) -> float:
        return policy.wait(n, None if outcome.failed else _retry_after(outcome.result()), rand)

    def reason_of(outcome: Any) -> str:
        if outcome.failed:
            return _describe_exception(outcome.exception())
        resp = outcome.result()
        after = _retry_after(resp)
        header = (getattr(resp, "headers", None) or {}).get("Retry-After")
        return f"HTTP {resp.status_code}" + (f" (Retry-After {header})" if after is not None else "")

    def close(outcome: Any) -> None:
        closer = None if outcome.failed else getattr(outcome.result(), "close", None)
        if callable(closer):
            closer()

    return _run(fn, policy, should_retry=should_retry, wait_of=wait_of, reason_of=reason_of, log=log,
                what=what, sleep=sleep, before_retry=close)


def _retry_after(resp: Any) -> float | None:
    headers = getattr(resp, "headers", None) or {}
    return parse_retry_after(headers.get("Retry-After"))


# -- the same policy for HTTP libraries that take a urllib3 Retry ----------------------------------------------


def _default_describe(method: str, path: str, reason: str) -> str:
    return f"{method} {path}: {reason}"


def urllib3_retry(
    policy: RetryPolicy,
    *,
    log: Any = None,
    describe: Callable[[str, str, str], str] | None = None,
    base: type | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rand: Callable[[], float] = random.random,
    **kwargs: Any,
) -> Any:
    """``policy`` as a ``urllib3`` ``Retry`` (``base``: urllib3's, or a subclass such as PyGithub's
    ``GithubRetry``; ``kwargs`` go to its constructor).

    ``policy.attempts - 1`` retries of any method on connection errors, timeouts and ``RETRY_STATUSES``;
    the wait is the policy's (``Retry-After`` honoured, capped at ``max_delay``); after the last attempt the
    last answer is returned (``raise_on_status=False``) and a connection error raised. Each retry is logged
    on one line; ``describe(method, path, reason)`` words its subject (default ``"POST /path: HTTP 502"``).
    Only the URL's path is logged, never its query or any header.
    """
    if base is None:
        from urllib3.util.retry import Retry as base  # noqa: N806 - a class
    cls = _policy_retry_class(base)
    retry = cls(
        total=policy.attempts - 1,
        status_forcelist=sorted(RETRY_STATUSES),
        allowed_methods=RETRY_METHODS,
        respect_retry_after_header=True,
        raise_on_status=False,
        backoff_factor=policy.base_delay,
        backoff_max=policy.max_delay,
        **kwargs,
    )
    retry.policy_settings = (policy, log, describe or _default_describe, sleep, rand)
    return retry


_CLASSES: dict[type, type] = {}


def _policy_retry_class(base: type) -> type:
    """A subclass of ``base`` whose waits, sleeps and log lines are the policy's (made once per base)."""
    if base in _CLASSES:
        return _CLASSES[base]

    class PolicyRetry(base):  # type: ignore[misc, valid-type]
        policy_settings: tuple = (NO_RETRY, None, _default_describe, time.sleep, random.random)

        def new(self, **kw: Any) -> Any:
            made = super().new(**kw)
            made.policy_settings = self.policy_settings
            return made

        def get_backoff_time(self) -> float:
            policy, _log, _describe, _sleep, rand = self.policy_settings
            return policy.backoff(max(1, len(self.history)), rand)

        def sleep(self, response: Any = None) -> None:
            policy, log, describe, sleep, _rand = self.policy_settings
            header = response.headers.get("Retry-After") if response is not None else None
            after = parse_retry_after(header) if self.respect_retry_after_header else None
            # GithubRetry replaces get_backoff_time on the instance for rate limits: ask it, not the policy
            wait = policy.wait(len(self.history), after) if after is not None else min(
                policy.max_delay, self.get_backoff_time())
            if self.history:
                last = self.history[-1]
                reason = _history_reason(last) + (f" (Retry-After {header})" if after is not None else "")
                path = urlsplit(last.url or "").path or "/"
                emit(log, retry_line(describe(last.method or "", path, reason), len(self.history) + 1, policy, wait))
            if wait > 0:
                sleep(wait)

    _CLASSES[base] = PolicyRetry
    return PolicyRetry



def _history_reason(entry: Any) -> str:
    """Why a urllib3 attempt failed: its status, or its error."""
    if entry.status:
        return f"HTTP {entry.status}"
    return _describe_exception(entry.error) if entry.error else "no answer"
