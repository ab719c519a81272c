"""Bounded concurrency for the appliers: one way to run several registry writes at once.

``run_bounded`` starts the calls in order, at most ``width`` at a time, and starts no more once an outcome
says to stop (the ones already started finish); the caller reports the outcomes in the order of its
actions, whatever order they finished in. Used by the deletions (pipeline.deletions), the extra tags of
one image (pipeline.apply_tags.put_tags) and the images of one release on different registries
(pipeline.steps.publishing). The registry clients are safe for concurrent calls; output is written by
the caller once the calls are done, never from the worker threads.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence


def run_bounded(fn: Callable[[Any], Any], items: Sequence, start: int, end: int, width: int, outcomes: dict,
                stops: Callable[[Any], bool], name: str = "image-release") -> None:
    """``outcomes[i] = fn(items[i])`` for ``start <= i < end``, at most ``width`` at once, started in
    order; none starts once ``stops(outcome)`` holds for an outcome, the ones already started finish.
    ``fn`` returns its outcome (errors included) rather than raising."""
    if width <= 1 or end - start <= 1:
        for i in range(start, end):
            outcomes[i] = fn(items[i])
            if stops(outcomes[i]):
                return
        return
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    running: dict = {}
    nxt, stopped = start, False
    with ThreadPoolExecutor(min(width, end - start), thread_name_prefix=name) as pool:
        while running or (nxt < end and not stopped):
            while not stopped and nxt < end and len(running) < width:
                running[pool.submit(fn, items[nxt])] = nxt
                nxt += 1
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                i = running.pop(future)
                outcomes[i] = future.result()
                stopped = stopped or stops(outcomes[i])


def first_alone_then_bounded(fn: Callable[[Any], Any], items: Sequence, width: int, stops: Callable[[Any], bool],
                             name: str = "image-release") -> dict:
    """The outcomes of ``fn`` over ``items``: the first alone (a registry that refuses the write, or the
    credentials, is asked once), then the rest as :func:`run_bounded` runs them."""
    outcomes: dict = {}
    if items:
        outcomes[0] = fn(items[0])
        if not stops(outcomes[0]):
            run_bounded(fn, items, 1, len(items), width, outcomes, stops, name)
    return outcomes
