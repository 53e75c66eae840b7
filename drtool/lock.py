"""The repository's exclusive lock, for the operations that must run alone (prune, forget).

Backups never take it: content-addressed objects and per-host manifests never collide. The lock
is a conditional write (`If-None-Match: *`, or the version order where a server ignores that);
a lock older than ``stale_after`` is taken to belong to a crashed process and is taken over.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta

from drtool.errors import ObjectExists, ObjectMissing, RepositoryLocked
from drtool.store import Store
from drtool.timeutil import iso, parse_iso, utc_now

log = logging.getLogger(__name__)

LOCK_NAME = "locks/exclusive"
STALE_AFTER = timedelta(hours=1)


@contextmanager
def exclusive_lock(
    store: Store,
    purpose: str,
    host: str,
    stale_after: timedelta = STALE_AFTER,
    clock: Callable[[], datetime] = utc_now,
) -> Iterator[None]:
    """Hold the exclusive lock for the duration of the ``with``; raise RepositoryLocked."""
    holder = {"purpose": purpose, "host": host, "pid": os.getpid(), "created": iso(clock())}
    body = json.dumps(holder).encode()
    try:
        store.put_new(LOCK_NAME, body)
    except ObjectExists:
        _take_over_if_stale(store, body, stale_after, clock)
    try:
        yield
    finally:
        store.delete(LOCK_NAME)


def _take_over_if_stale(
    store: Store, body: bytes, stale_after: timedelta, clock: Callable[[], datetime]
) -> None:
    try:
        current = json.loads(store.get(LOCK_NAME))
        created = parse_iso(current["created"])
        owner = f"{current['purpose']} on {current['host']} (pid {current['pid']})"
    except ObjectMissing:
        # The holder just left, or a racing writer was withdrawing its losing version: nothing
        # is stale, and deleting the lock now could delete a winner's. Try once more.
        try:
            store.put_new(LOCK_NAME, body)
        except ObjectExists:
            raise RepositoryLocked("another process took the lock first; try again") from None
        return
    except (ValueError, KeyError, TypeError):
        created, owner = clock() - stale_after, "an unreadable lock"
    age = clock() - created
    if age < stale_after:
        raise RepositoryLocked(
            f"the repository is locked by {owner} since {iso(created)[:19]}Z; "
            f"try again later (a lock older than {stale_after} is taken over)"
        )
    log.warning("taking over a stale lock held by %s for %s", owner, age)
    store.delete(LOCK_NAME)
    try:
        store.put_new(LOCK_NAME, body)
    except ObjectExists:
        raise RepositoryLocked("another process took the stale lock first; try again") from None


@contextmanager
def waiting_lock(
    store: Store,
    purpose: str,
    host: str,
    retry_for: timedelta,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """``exclusive_lock``, retried for up to ``retry_for`` while another holder has it
    (restic's ``--retry-lock``): nightly jobs of many hosts meet at the same minute."""
    deadline = time.monotonic() + retry_for.total_seconds()
    delay = 1.0
    with ExitStack() as stack:
        while True:
            try:
                stack.enter_context(exclusive_lock(store, purpose, host))
                break
            except RepositoryLocked as locked:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                log.info("%s; retrying in %.0f s", locked, min(delay, remaining))
                sleep(min(delay, remaining))
                delay = min(delay * 2, 30.0)
        yield
