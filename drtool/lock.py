"""The repository's locks: an exclusive one for the operations that must run alone (prune,
forget), and shared ones that backups hold.

Backups never collide with one another (content-addressed objects, per-host manifests), but a
backup reuses objects already stored: were a prune to delete one between that decision and the
backup's manifest, the new snapshot would reference a missing object. So a backup holds a shared
lock (``locks/shared/<random>``) while it runs, and the exclusive lock is refused while a fresh
one exists; each side writes its own lock first and then looks for the other's, so of two that
race at least one sees the other and withdraws. The exclusive lock is a conditional write
(`If-None-Match: *`, or the version order where a server ignores that). A lock older than
``stale_after`` is taken to belong to a crashed process: taken over, or ignored and removed.

A holder refreshes its lock while it works (``refresh_every``, a heartbeat thread rewriting
``refreshed``), and a lock's age counts from its last refresh: a prune of a whole fleet that
runs for hours is never taken over, while a crashed holder's lock goes stale ``stale_after``
after its last heartbeat.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from datetime import datetime, timedelta

from drtool.errors import DrtoolError, ObjectExists, ObjectMissing, RepositoryLocked
from drtool.store import Store
from drtool.timeutil import iso, parse_iso, utc_now

log = logging.getLogger(__name__)

LOCK_NAME = "locks/exclusive"
SHARED_PREFIX = "locks/shared"
STALE_AFTER = timedelta(hours=1)
REFRESH_EVERY = timedelta(minutes=5)


class Heartbeat:
    """Rewrites the lock ``name`` (as long as it is still the one this holder wrote) with a new
    ``refreshed`` time every ``every``, on a daemon thread, until stopped."""

    def __init__(
        self,
        store: Store,
        name: str,
        body: bytes,
        every: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.name, self.body, self.every, self.clock = store, name, body, every, clock
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat {name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every.total_seconds()):
            try:
                self.beat()
            except DrtoolError as error:  # the next beat tries again; stale_after is far off
                log.warning("could not refresh the lock %s: %s", self.name, error)

    def beat(self) -> None:
        """Refresh the lock once; if another holder's lock is there now, leave it alone and
        remember that ours was lost."""
        if self.lost:
            return
        try:
            current = self.store.get(self.name)
        except ObjectMissing:
            current = b""
        if current != self.body:
            self.lost = True
            log.error("the lock %s was taken over or removed while held", self.name)
            return
        holder = json.loads(self.body)
        holder["refreshed"] = iso(self.clock())
        body = json.dumps(holder).encode()
        self.store.put(self.name, [body])
        self.body = body


@contextmanager
def exclusive_lock(
    store: Store,
    purpose: str,
    host: str,
    stale_after: timedelta = STALE_AFTER,
    clock: Callable[[], datetime] = utc_now,
    refresh_every: timedelta = REFRESH_EVERY,
) -> Iterator[None]:
    """Hold the exclusive lock for the duration of the ``with``; raise RepositoryLocked."""
    body = _holder(purpose, host, clock)
    try:
        store.put_new(LOCK_NAME, body)
    except ObjectExists:
        _take_over_if_stale(store, body, stale_after, clock)
    heartbeat = Heartbeat(store, LOCK_NAME, body, refresh_every, clock)
    try:
        with heartbeat:
            running = _fresh_shared_holders(store, stale_after, clock, host)
            if running:
                raise RepositoryLocked(
                    f"{running[0]} is running; try again when it is done (--retry-lock DURATION)"
                )
            yield
    finally:
        if not heartbeat.lost:
            store.delete(LOCK_NAME)


@contextmanager
def shared_lock(
    store: Store,
    purpose: str,
    host: str,
    stale_after: timedelta = STALE_AFTER,
    clock: Callable[[], datetime] = utc_now,
    refresh_every: timedelta = REFRESH_EVERY,
) -> Iterator[None]:
    """Hold a shared lock (a backup) for the duration of the ``with``; raise RepositoryLocked
    while the exclusive one is held (a prune or forget is running)."""
    name = f"{SHARED_PREFIX}/{secrets.token_hex(8)}"
    body = _holder(purpose, host, clock)
    store.put_new(name, body)
    try:
        with Heartbeat(store, name, body, refresh_every, clock):
            owner = _fresh_holder(store, LOCK_NAME, stale_after, clock, host)
            if owner:
                raise RepositoryLocked(
                    f"the repository is locked by {owner}; try again when it is done "
                    "(--retry-lock DURATION)"
                )
            yield
    finally:
        store.delete(name)


def _holder(purpose: str, host: str, clock: Callable[[], datetime]) -> bytes:
    moment = iso(clock())
    holder = {
        "purpose": purpose,
        "host": host,
        "pid": os.getpid(),
        "created": moment,
        "refreshed": moment,
    }
    return json.dumps(holder).encode()


def _last_sign_of_life(holder: dict[str, object]) -> datetime:
    """When the holder last refreshed its lock (a lock without a refresh: when it was made)."""
    if not isinstance(holder, dict):
        raise TypeError("a lock holds a JSON object")
    return parse_iso(str(holder.get("refreshed") or holder["created"]))


def _fresh_holder(
    store: Store, name: str, stale_after: timedelta, clock: Callable[[], datetime], host: str
) -> str | None:
    """Who holds the lock ``name`` ("backup on web-1 (pid 12)"), or None if nobody does or it
    is stale: older than ``stale_after``, or held by a process of this host that is gone (a
    backup killed mid-way), or unreadable (a lock only ever holds what _holder wrote)."""
    try:
        current = json.loads(store.get(name))
        created = _last_sign_of_life(current)
        owner = f"{current['purpose']} on {current['host']} (pid {current['pid']})"
        gone = current["host"] == host and not _process_alive(int(current["pid"]))
    except (ObjectMissing, ValueError, KeyError, TypeError, RecursionError):
        return None
    return owner if clock() - created < stale_after and not gone else None


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return pid > 0


def _fresh_shared_holders(
    store: Store, stale_after: timedelta, clock: Callable[[], datetime], host: str
) -> list[str]:
    """The holders of fresh shared locks; stale ones (a backup that crashed) are removed."""
    holders = []
    for name in list(store.list(SHARED_PREFIX)):
        owner = _fresh_holder(store, name, stale_after, clock, host)
        if owner:
            holders.append(owner)
        else:
            log.warning("removing a stale or unreadable shared lock %s", name)
            with suppress(ObjectMissing):
                store.delete(name)
    return holders


def _take_over_if_stale(
    store: Store, body: bytes, stale_after: timedelta, clock: Callable[[], datetime]
) -> None:
    try:
        current = json.loads(store.get(LOCK_NAME))
        alive = _last_sign_of_life(current)
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
    except (ValueError, KeyError, TypeError, RecursionError):
        created, owner = clock() - stale_after, "an unreadable lock"
        alive = created
    age = clock() - alive
    if age < stale_after:
        raise RepositoryLocked(
            f"the repository is locked by {owner} since {iso(created)[:19]}Z; "
            f"try again later (a lock not refreshed for {stale_after} is taken over)"
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
    shared: bool = False,
) -> Iterator[None]:
    """``exclusive_lock`` (or ``shared_lock``), retried for up to ``retry_for`` while another
    holder keeps it out (restic's ``--retry-lock``): nightly jobs of many hosts meet at the same
    minute."""
    take = shared_lock if shared else exclusive_lock
    deadline = time.monotonic() + retry_for.total_seconds()
    delay = 1.0
    with ExitStack() as stack:
        while True:
            try:
                stack.enter_context(take(store, purpose, host))
                break
            except RepositoryLocked as locked:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                log.info("%s; retrying in %.0f s", locked, min(delay, remaining))
                sleep(min(delay, remaining))
                delay = min(delay * 2, 30.0)
        yield
