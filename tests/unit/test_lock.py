"""The exclusive lock on a local repository, with a fixed clock: who holds it is said, a stale
one is taken over, it is released whatever happens inside. (Raced for real on radosgw in
tests/integration/test_lock_races.py.)"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from drtool.errors import RepositoryLocked
from drtool.lock import (
    LOCK_NAME,
    SHARED_PREFIX,
    STALE_AFTER,
    Heartbeat,
    exclusive_lock,
    shared_lock,
)
from drtool.store.local import LocalStore
from tests.support.locks import NOON, Clock, at, holder


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "repo")


def test_the_lock_says_who_holds_it_and_is_released(store: LocalStore) -> None:
    assert timedelta(hours=1) == STALE_AFTER
    with exclusive_lock(store, "prune", "web-1", clock=at(NOON)):
        assert holder(store) == {
            "purpose": "prune",
            "host": "web-1",
            "pid": os.getpid(),
            "created": "2025-01-07T12:00:00.000000Z",
            "refreshed": "2025-01-07T12:00:00.000000Z",
        }
        later = at(NOON + STALE_AFTER - timedelta(microseconds=1))
        with (
            pytest.raises(RepositoryLocked) as refused,
            exclusive_lock(store, "forget", "web-2", clock=later),
        ):
            pass
        assert str(refused.value) == (
            f"the repository is locked by prune on web-1 (pid {os.getpid()}) since "
            "2025-01-07T12:00:00Z; try again later (a lock not refreshed for 1:00:00 is taken over)"
        )
        assert holder(store)["host"] == "web-1", "the refused writer left the lock alone"
    assert not store.contains(LOCK_NAME)


def test_the_lock_is_released_when_the_work_fails(store: LocalStore) -> None:
    with pytest.raises(ZeroDivisionError), exclusive_lock(store, "prune", "web-1"):
        1 / 0  # noqa: B018
    assert not store.contains(LOCK_NAME)


@pytest.mark.parametrize("age", [STALE_AFTER, STALE_AFTER + timedelta(days=3)])
def test_a_stale_lock_is_taken_over(
    store: LocalStore, age: timedelta, caplog: pytest.LogCaptureFixture
) -> None:
    with exclusive_lock(store, "prune", "crashed-1", clock=at(NOON)):
        with exclusive_lock(store, "forget", "web-2", clock=at(NOON + age)):
            assert holder(store)["host"] == "web-2"
            assert holder(store)["created"] == (NOON + age).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert not store.contains(LOCK_NAME)
    assert (
        f"taking over a stale lock held by prune on crashed-1 (pid {os.getpid()}) for {age}"
        in caplog.messages
    )


def test_a_shorter_staleness_is_honoured(store: LocalStore) -> None:
    with exclusive_lock(store, "prune", "web-1", clock=at(NOON)):
        soon = at(NOON + timedelta(minutes=5))
        with exclusive_lock(store, "forget", "web-2", stale_after=timedelta(minutes=5), clock=soon):
            assert holder(store)["host"] == "web-2"


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"created": "yesterday"}', b"[]"])
def test_an_unreadable_lock_is_taken_over(store: LocalStore, body: bytes) -> None:
    store.put_new(LOCK_NAME, body)
    with exclusive_lock(store, "prune", "web-1", clock=at(NOON)):
        assert holder(store)["host"] == "web-1"


class Racing(LocalStore):
    """A local store where another writer acts at the worst moment: ``vanish`` — the holder
    leaves between our refused write and our read; ``steal`` — another writer puts its lock
    right before our second write."""

    def __init__(self, path: Path, vanish: bool = False, steal: bool = False) -> None:
        super().__init__(path)
        self.vanish, self.steal, self.writes = vanish, steal, 0

    def get(self, name: str) -> bytes:
        if self.vanish:
            self.delete(name)
        return super().get(name)

    def put_new(self, name: str, data: bytes) -> None:
        self.writes += 1
        if self.steal and self.writes == 2:
            super().put_new(name, b'{"purpose": "forget", "host": "thief", "pid": 2}')
        super().put_new(name, data)


def test_a_holder_that_leaves_mid_check_lets_us_in_without_deleting(tmp_path: Path) -> None:
    store = Racing(tmp_path / "repo", vanish=True)
    LocalStore(store.path).put_new(LOCK_NAME, b'{"purpose": "prune"}')
    store.vanish = True
    with exclusive_lock(store, "forget", "web-2", clock=at(NOON)):
        store.vanish = False
        assert holder(store)["host"] == "web-2"


def test_a_writer_that_wins_the_second_try_keeps_the_lock(tmp_path: Path) -> None:
    store = Racing(tmp_path / "repo", vanish=True, steal=True)
    LocalStore(store.path).put_new(LOCK_NAME, b'{"purpose": "prune"}')
    with (
        pytest.raises(RepositoryLocked, match=r"^another process took the lock first; try again$"),
        exclusive_lock(store, "forget", "web-2", clock=at(NOON)),
    ):
        pass
    store.vanish = False
    assert holder(store)["host"] == "thief", "the winner's lock is left alone"


def test_a_stale_lock_taken_by_another_first_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Racing(tmp_path / "repo", steal=True)
    LocalStore(store.path).put_new(LOCK_NAME, b"garbage")
    with (
        pytest.raises(
            RepositoryLocked, match=r"^another process took the stale lock first; try again$"
        ),
        exclusive_lock(store, "forget", "web-2", clock=at(NOON)),
    ):
        pass
    assert holder(store)["host"] == "thief"
    assert "taking over a stale lock held by an unreadable lock for 1:00:00" in caplog.messages


def test_a_backup_and_a_prune_keep_each_other_out(store: LocalStore) -> None:
    """A backup's shared lock refuses the exclusive one, and the other way round; several
    backups share; every lock is gone afterwards."""
    running = r"backup on web-\d \(pid \d+\) is running"
    with (
        shared_lock(store, "backup", "web-1", clock=at(NOON)),
        shared_lock(store, "backup", "web-2", clock=at(NOON)),
        pytest.raises(RepositoryLocked, match=running),
        exclusive_lock(store, "prune", "admin", clock=at(NOON)),
    ):
        pytest.fail("the prune ran beside a backup")
    assert list(store.list("locks")) == []
    with exclusive_lock(store, "prune", "admin", clock=at(NOON)):
        with (
            pytest.raises(RepositoryLocked, match="locked by prune on admin"),
            shared_lock(store, "backup", "web-1", clock=at(NOON)),
        ):
            pytest.fail("the backup ran beside a prune")
        assert list(store.list(SHARED_PREFIX)) == []
    assert list(store.list("locks")) == []


def test_a_stale_shared_lock_is_removed_by_the_next_prune(store: LocalStore) -> None:
    """A backup killed mid-way leaves its shared lock: after an hour it keeps nothing out."""
    crashed = shared_lock(store, "backup", "web-1", clock=at(NOON - STALE_AFTER))
    crashed.__enter__()  # never left: the process died
    with exclusive_lock(store, "prune", "admin", clock=at(NOON)):
        assert list(store.list(SHARED_PREFIX)) == []


def test_a_refreshed_lock_is_never_taken_over_while_its_holder_works(store: LocalStore) -> None:
    clock = Clock(NOON)
    hours = timedelta(hours=5)  # no beat of its own: the test beats by hand
    with exclusive_lock(store, "prune", "web-1", clock=clock, refresh_every=hours):
        heartbeat = holder(store)
        for _ in range(4):  # a prune that works for hours, refreshing its lock
            clock.moment += STALE_AFTER - timedelta(minutes=1)
            beat(store, clock)
            with (
                pytest.raises(RepositoryLocked, match="since 2025-01-07T12:00:00Z"),
                exclusive_lock(store, "prune", "web-2", clock=clock),
            ):
                pass
        assert holder(store)["refreshed"] == "2025-01-07T15:56:00.000000Z"
        assert holder(store)["created"] == heartbeat["created"]
        clock.moment += STALE_AFTER  # the holder stopped beating (it hung, or crashed)
        with exclusive_lock(store, "prune", "web-2", clock=clock):
            assert holder(store)["host"] == "web-2", "a lock silent for an hour is taken over"


def beat(store: LocalStore, clock: Clock) -> None:
    """One heartbeat, as the holder's thread does it."""
    current = store.get(LOCK_NAME)
    Heartbeat(store, LOCK_NAME, current, STALE_AFTER, clock).beat()


def test_a_heartbeat_leaves_another_holders_lock_alone(store: LocalStore) -> None:
    clock = Clock(NOON)
    with exclusive_lock(store, "prune", "web-1", clock=clock, refresh_every=timedelta(hours=5)):
        mine = store.get(LOCK_NAME)
        store.put(LOCK_NAME, [b'{"purpose": "prune", "host": "web-2", "pid": 1}'])
        heartbeat = Heartbeat(store, LOCK_NAME, mine, STALE_AFTER, clock)
        heartbeat.beat()
        assert heartbeat.lost
        assert holder(store)["host"] == "web-2"
