"""The heartbeat of a held lock: a beat rewrites nothing but the refresh time, a beat that fails
is said and tried again, a lock taken over or removed while held is said and left alone, and the
heartbeat never keeps a process alive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

import drtool
from drtool.errors import StorageError
from drtool.lock import LOCK_NAME, STALE_AFTER, Heartbeat, exclusive_lock
from drtool.store.local import LocalStore
from tests.support.locks import NOON, Clock, holder, wait_for

HELD = {
    "purpose": "prune",
    "host": "web-1",
    "pid": 12,
    "created": "2025-01-07T12:00:00.000000Z",
    "refreshed": "2025-01-07T12:00:00.000000Z",
}


def mine() -> dict:
    """The lock exclusive_lock writes at NOON in this process (what the tests' beats start from;
    a beat at NOON rewrites the same). The pid is asked at each call: mutmut forks the process
    that imported this module."""
    return {**HELD, "pid": os.getpid()}


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "repo")


def test_a_beat_rewrites_the_refresh_time_and_nothing_else(store: LocalStore) -> None:
    body = json.dumps(HELD).encode()
    store.put_new(LOCK_NAME, body)
    clock = Clock(NOON + timedelta(minutes=5))
    heartbeat = Heartbeat(store, LOCK_NAME, body, STALE_AFTER, clock)  # never started
    heartbeat.beat()
    assert holder(store) == {**HELD, "refreshed": "2025-01-07T12:05:00.000000Z"}
    clock.moment += timedelta(minutes=5)
    heartbeat.beat()  # the lock it wrote last is still its own
    assert holder(store) == {**HELD, "refreshed": "2025-01-07T12:10:00.000000Z"}
    assert not heartbeat.lost


class FailingOnce(LocalStore):
    """A store whose first rewrite of the lock fails (a timeout, a 503)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.failed = False

    def put(self, name: str, chunks, retain_until=None) -> int:  # type: ignore[no-untyped-def]
        if not self.failed:
            self.failed = True
            raise StorageError(f"cannot access {name} in the repository: timed out")
        return super().put(name, chunks, retain_until)


def said(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, str]]:
    """What was logged: (thread, level, message)."""
    return [(r.threadName, r.levelname, r.getMessage()) for r in caplog.records]


def heartbeats() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == f"heartbeat {LOCK_NAME}"]


def until(
    condition: Callable[[], object], caplog: pytest.LogCaptureFixture, said_before: int = 0
) -> None:
    """Wait for ``condition``, or for the heartbeat to say something more or to stop: a broken
    heartbeat fails the test at once, not at the wait's bound."""
    wait_for(lambda: condition() or len(caplog.records) > said_before or not heartbeats())


def test_the_heartbeat_thread_refreshes_the_lock(
    store: LocalStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(NOON)
    with exclusive_lock(store, "prune", "web-1", clock=clock, refresh_every=timedelta(0)):
        clock.moment = NOON + timedelta(hours=3)
        until(lambda: holder(store) != mine(), caplog)
        assert said(caplog) == []
        assert holder(store) == {**mine(), "refreshed": "2025-01-07T15:00:00.000000Z"}
    assert not store.contains(LOCK_NAME)


def test_a_failed_beat_is_said_and_the_next_one_refreshes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FailingOnce(tmp_path / "repo")
    clock = Clock(NOON)
    with exclusive_lock(store, "prune", "web-1", clock=clock, refresh_every=timedelta(0)):
        clock.moment = NOON + timedelta(hours=3)
        failed = (
            f"heartbeat {LOCK_NAME}",
            "WARNING",
            f"could not refresh the lock {LOCK_NAME}: "
            f"cannot access {LOCK_NAME} in the repository: timed out",
        )
        until(lambda: False, caplog)
        assert said(caplog) == [failed]
        until(lambda: holder(store) != mine(), caplog, said_before=1)
        assert said(caplog) == [failed]
        assert holder(store) == {**mine(), "refreshed": "2025-01-07T15:00:00.000000Z"}
    assert not store.contains(LOCK_NAME)


THIEF = b'{"purpose": "forget", "host": "web-2", "pid": 1}'


class LostAtNextBeat(LocalStore):
    """A store where, once ``armed``, the lock is taken over (``THIEF`` written) or removed
    right before the next read of it: the heartbeat's, as it never races the test's own write."""

    def __init__(self, path: Path, taken: bool) -> None:
        super().__init__(path)
        self.taken, self.armed = taken, False

    def get(self, name: str) -> bytes:
        if self.armed and name == LOCK_NAME:
            self.armed = False
            if self.taken:
                self.put(name, [THIEF])
            else:
                self.delete(name)
        return super().get(name)


@pytest.mark.parametrize("taken", [True, False], ids=["taken over", "removed"])
def test_a_lock_lost_while_held_is_said_and_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, taken: bool
) -> None:
    store = LostAtNextBeat(tmp_path / "repo", taken)
    with exclusive_lock(store, "prune", "web-1", clock=Clock(NOON), refresh_every=timedelta(0)):
        store.armed = True
        until(lambda: False, caplog)
        assert said(caplog) == [
            (
                f"heartbeat {LOCK_NAME}",
                "ERROR",
                f"the lock {LOCK_NAME} was taken over or removed while held",
            )
        ]
    if taken:
        assert store.get(LOCK_NAME) == THIEF, "the new holder's lock is left alone"
    else:
        assert not store.contains(LOCK_NAME), "the lock is not written again"


def test_the_heartbeat_is_a_daemon_thread_that_stops_with_the_lock(store: LocalStore) -> None:
    with exclusive_lock(store, "prune", "web-1", refresh_every=timedelta(0)):
        assert [thread.daemon for thread in heartbeats()] == [True]
    assert heartbeats() == []


def test_a_process_that_ends_holding_a_lock_is_not_kept_alive(tmp_path: Path) -> None:
    """Why the heartbeat is a daemon thread: a program that returns without leaving the lock's
    ``with`` still ends, instead of beating every five minutes for ever."""
    code = (
        "import sys\n"
        "from drtool.lock import exclusive_lock\n"
        "from drtool.store.local import LocalStore\n"
        "held = exclusive_lock(LocalStore(sys.argv[1]), 'prune', 'web-1')\n"
        "held.__enter__()\n"
        "print('holding')\n"
    )
    source = Path(drtool.__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "repo")],
        env={**os.environ, "PYTHONPATH": str(source)},
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "holding\n", "")


class TakenOverMidBeat(LocalStore):
    """A store where, once ``armed``, another holder takes the lock over right after the
    heartbeat has read it, before it writes it again."""

    armed = False

    def get(self, name: str) -> bytes:
        data = super().get(name)
        if self.armed and name == LOCK_NAME:
            self.armed = False
            self.put(name, [THIEF])
        return data


@pytest.mark.xfail(
    strict=True,
    reason="hole: a beat reads the lock, then rewrites it unconditionally; a takeover between "
    "the two is overwritten (it needs a conditional rewrite, If-Match on the read version, which "
    "radosgw 16.2 refuses on a versioned bucket: tests/integration/test_lock_races.py; and, on a "
    "local store, a takeover that deletes only the lock it judged stale)",
)
def test_a_takeover_between_a_beats_read_and_its_write_is_not_overwritten(tmp_path: Path) -> None:
    store = TakenOverMidBeat(tmp_path / "repo")
    body = json.dumps(HELD).encode()
    store.put_new(LOCK_NAME, body)
    heartbeat = Heartbeat(store, LOCK_NAME, body, STALE_AFTER, Clock(NOON))
    store.armed = True
    heartbeat.beat()
    assert store.get(LOCK_NAME) == THIEF
