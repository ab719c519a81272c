"""Reads started ahead of the step that needs them, in the background (issue 17: the plan's reads overlap).

A read is started with :func:`start` under a key and collected with :func:`result`, which waits for it and
returns its value or raises what it raised, at the point where the read would have been made: the order in
which a run reports its errors stays the order of its checks. A read never started is made then and there.
Only reads go through here (a registry's tag list or ping, the forge's preflight); they are kept in
``run.cache``, so a run's reads are never shared with another run.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any, Callable

_KEY = "prefetch"
_LOCK = threading.Lock()


def _pending(run) -> dict[Any, Future]:
    with _LOCK:
        return run.cache.setdefault(_KEY, {})


def start(run, key: Any, fn: Callable[[], Any]) -> None:
    """Run ``fn()`` in a background thread, once per key and run."""
    pending = _pending(run)
    with _LOCK:
        if key in pending:
            return
        future: Future = Future()
        pending[key] = future

    def work() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever collects the read
            future.set_exception(exc)

    threading.Thread(target=work, name=f"image-release-read-{key[0] if isinstance(key, tuple) else key}",
                     daemon=True).start()


def started(run, key: Any) -> bool:
    return key in _pending(run)


def result(run, key: Any, fn: Callable[[], Any]) -> Any:
    """The value of the read started under ``key`` (waiting for it; its exception raised here), else
    ``fn()`` now. A read is collected once: a second call makes it again."""
    with _LOCK:
        future = run.cache.get(_KEY, {}).pop(key, None)
    if future is None:
        return fn()
    return future.result()
