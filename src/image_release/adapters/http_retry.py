"""Retries for HTTP calls: bounded exponential backoff with jitter, ``Retry-After`` honoured.

Retried: connection errors (refused, reset, DNS), timeouts, 5xx, 408 and 429. Never retried: any other 4xx
(a wrong token or a missing tag does not get better by asking again). Each retry is logged on one line.

``send_with_retry`` is generic: ``fn`` returns a response-like object with ``status_code`` and ``headers``
(``requests.Response``), or raises. After the last attempt a retryable status is returned to the caller (who maps
it to a typed error) and a retryable exception is re-raised.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from image_release.errors import ConfigError

R = TypeVar("R")

RETRY_STATUSES = frozenset({408, 429}) | frozenset(range(500, 600))

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
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(
                    f"retry {name} must be a number of seconds >= 0, got {value!r}",
                    hint=f"set retry.{name} to e.g. {getattr(RetryPolicy, name)}",
                )

    @classmethod
    def from_mapping(cls, data: dict | None) -> "RetryPolicy":
        """Build a policy from settings (``{"attempts": 5, "base_delay": 0.5, ...}``); unknown keys are errors."""
        data = dict(data or {})
        known = {"attempts", "base_delay", "max_delay", "jitter"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"unknown retry setting(s): {', '.join(unknown)}",
                hint="retry settings are attempts, base_delay, max_delay, jitter",
            )
        return cls(**data)

    def backoff(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Delay before retry ``retry_number`` (1-based): base * 2^(n-1), capped at max_delay; with jitter a
        uniformly random value between half of that and all of it."""
        delay = min(self.max_delay, self.base_delay * (2 ** (retry_number - 1)))
        if self.jitter:
            delay = delay * (0.5 + 0.5 * rand())
        return delay


NO_RETRY = RetryPolicy(attempts=1, base_delay=0.0, jitter=False)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
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


def _emit(log: Any, line: str) -> None:
    if log is None:
        _logger.warning(line)
    elif hasattr(log, "warning"):
        log.warning(line)
    else:
        log(line)


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
    """Call ``fn`` until it gives a non-retryable answer or ``policy.attempts`` are used up.

    ``log``: a callable taking one line, or a ``logging.Logger``; default: the ``image_release.retry`` logger.
    ``what`` names the call in the log line (e.g. ``"HEAD 127.0.0.1:5000/app:1.2.3"``); never put secrets in it.
    ``sleep`` and ``rand`` are injectable so tests do not wait.
    """
    policy = policy or RetryPolicy()
    retryable = default_retryable_exceptions() if retryable is None else retryable
    attempt = 0
    while True:
        attempt += 1
        try:
            result = fn()
        except retryable as exc:
            if attempt >= policy.attempts:
                raise
            wait = policy.backoff(attempt, rand)
            reason = _describe_exception(exc)
        else:
            status = getattr(result, "status_code", None)
            if status not in retry_statuses or attempt >= policy.attempts:
                return result
            wait = policy.backoff(attempt, rand)
            headers = getattr(result, "headers", None) or {}
            after = parse_retry_after(headers.get("Retry-After")) if status in (429, 503) else None
            if after is not None:
                wait = min(policy.max_delay, after)
            reason = f"HTTP {status}" + (f" (Retry-After {headers.get('Retry-After')})" if after is not None else "")
            close = getattr(result, "close", None)
            if callable(close):
                close()
        _emit(log, f"retry {what}: {reason}; attempt {attempt + 1}/{policy.attempts} in {wait:.2f}s")
        sleep(wait)


def _describe_exception(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc)
    # requests' messages nest urllib3's; keep the line short and readable.
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{name}: {text}" if text else name
