"""A bounded number of requests in flight: latency, not bandwidth, is what a fleet's thousands
of small objects cost, and a stream of a million items must stay a stream."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

READERS = 16

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(
    function: Callable[[T], R], items: Iterable[T], workers: int = READERS
) -> Iterator[R]:
    """``map(function, items)`` on ``workers`` threads, in order; at most ``2 * workers`` items
    are taken from ``items`` ahead of what has been yielded."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(function, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
